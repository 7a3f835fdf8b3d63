"""The admin HTTP API (/api/admin/*): the firm's scripts call it with a token carrying Rapport's admin
app role for their tenant. Handlers are `async def handler(request, caller) -> Answer`, wrapped by
admin.auth.admin_only where routed (function_app.py)."""
