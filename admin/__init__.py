"""The admin API surface (/api/admin/*): the firm's scripts and admins manage people, settings and
imports over HTTP with the same domain functions as the `rapport` CLI.

Every api/admin route is wrapped by `auth.admin_only` (tests/test_admin_auth.py fails on one that
is not). May import rapport (never bot, addin, function_app or local).
"""
