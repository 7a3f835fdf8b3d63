"""The Outlook add-in surface: the task pane's API handlers and web/ (the task pane itself).

Every api/addin route is wrapped by `auth.authenticated` (tests/test_entra_tokens.py fails on one
that is not); preview.py holds the local preview's dev routes, behind rapport.identity.dev's guard.
May import rapport (never bot, function_app or local).
"""
