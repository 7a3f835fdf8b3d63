"""The admin HTTP API (/api/admin/*): the firm's scripts and systems feeding and running Rapport.

Every handler is `async def handler(request, caller) -> Answer`; the wrapper that proves the
caller carries Rapport's admin app role for the tenant and audits the call is admin/auth.py.
"""
