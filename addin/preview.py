"""Preview helpers for the task pane outside Outlook (`rapport serve --demo`, RAPPORT_DEV_AUTH=1).

Two routes, both inert unless dev auth is on AND this process declared a loopback bind (which
Azure never does, see rapport.devauth) AND the request's Host is loopback (so a web page using DNS
rebinding cannot reach them). Otherwise they answer 404 as if they did not exist.
- GET /dev/addin/token[?user=UPN]: a dev token for a partner of the demo firm (default: first).
- GET /dev/addin/senders: senders to pick from in preview, from the demo firm's records.
The token still goes through the same validation as an Entra token on every API call.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from rapport import runtime
from rapport.identity.membership import is_member, partners
from rapport.records import Contact, Signal
from rapport.web import Answer, ApiError, Request

MAX_SENDERS = 40


def _enabled(request: Request) -> bool:
    from rapport import devauth

    if not runtime.settings().dev_auth or not devauth.bound_to_loopback():
        return False
    host = request.header("host") or urlsplit(request.path).netloc
    hostname = urlsplit(f"//{host}").hostname
    return devauth.is_loopback(hostname)


async def _demo_tenant():
    store = await runtime.store()
    try:
        from rapport.demo import DEMO_TENANT_ID

        tenant = await store.get_tenant(DEMO_TENANT_ID)
    except ImportError:
        tenants = await store.list_tenants()
        tenant = tenants[0] if len(tenants) == 1 else None
    if tenant is None:
        raise ApiError(404, "the demo firm is not seeded; start with: rapport serve --demo")
    return store, tenant


async def dev_token(request: Request) -> Answer:
    if not _enabled(request):
        raise ApiError(404, "no such route")
    from rapport.devauth import mint_dev_token

    store, tenant = await _demo_tenant()
    upn = request.params.get("user") or (tenant.partners[0] if tenant.partners else "")
    person = await store.person_by_upn(tenant.tenantId, upn[:254]) if upn else None
    if person is None or not is_member(person, tenant.tenantId):
        raise ApiError(404, "no such person in the demo firm")
    token = mint_dev_token(runtime.settings(), tenant.tenantId, person.oid, name=person.name, upn=person.upn,
                           lifetime=3600)
    people = await store.people(tenant.tenantId)
    return Answer(200, {"token": token, "name": person.name, "upn": person.upn,
                        "partners": [{"upn": p.upn, "name": p.name} for p in partners(tenant, people)]})


async def dev_senders(request: Request) -> Answer:
    if not _enabled(request):
        raise ApiError(404, "no such route")
    store, tenant = await _demo_tenant()
    tid = tenant.tenantId
    contacts = (await store.find(Contact, tid, limit=1000)).items
    moved = {s.contactId for s in (await store.find(Signal, tid, limit=50)).items}
    # A useful mix: anyone who moved firms, anyone kept private, then one contact per account.
    picked: dict[str, Contact] = {}
    for c in contacts:
        if c.id in moved or any(o.visibility != "firm" for o in c.owners):
            picked[c.email] = c
    per_account: dict[str, Contact] = {}
    for c in sorted(contacts, key=lambda c: c.email):
        if c.accountId and c.accountId not in per_account:
            per_account[c.accountId] = c
    for c in per_account.values():
        if len(picked) >= MAX_SENDERS:
            break
        picked.setdefault(c.email, c)
    senders = sorted(({"email": c.email, "name": c.name or c.email} for c in picked.values()),
                     key=lambda s: s["name"].lower())
    extra = []
    known_domain = next((c.email.rpartition("@")[2] for c in per_account.values()), None)
    if known_domain:
        extra.append({"email": f"new.person@{known_domain}", "name": f"Someone new at {known_domain}"})
    extra.append({"email": "stranger@unknown-startup.example", "name": "A stranger (unknown domain)"})
    if len(tenant.partners) > 1:
        extra.append({"email": tenant.partners[1], "name": "A colleague (internal mail)"})
    return Answer(200, {"tenant": tenant.name, "senders": senders + extra})
