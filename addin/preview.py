"""Preview helpers for the task pane outside Outlook (`rapport serve --demo`, RAPPORT_DEV_AUTH=1).

Two routes, both absent (404, as if they did not exist) unless rapport.identity.dev.dev_route_open
holds: dev auth on AND this process declared a loopback bind (Azure never does) AND the request's
Host is loopback (so a web page using DNS rebinding cannot reach them).
- GET /dev/addin/token[?user=UPN]: a dev token for a partner of the demo firm (default: first).
- GET /dev/addin/senders: senders to pick from in preview, from the demo firm's records.
The token still goes through the same validation as an Entra token on every API call.

"The demo firm" is the tenant the local host names (rapport.identity.dev.preview_tenant: local/host.py
names its demo firm), else the only onboarded tenant.
"""

from __future__ import annotations

from rapport import runtime
from rapport.identity.dev import dev_only, mint_dev_token, only_tenant, preview_tenant
from rapport.identity.membership import is_member, partners
from rapport.records import Contact, Signal
from rapport.web import Answer, ApiError, Request

MAX_SENDERS = 40


async def _demo_tenant():
    store = await runtime.store()
    named = preview_tenant()
    tenant = await store.get_tenant(named) if named else await only_tenant(store)
    if tenant is None:
        raise ApiError(404, "the demo firm is not seeded; start with: rapport serve --demo")
    return store, tenant


@dev_only
async def dev_token(request: Request) -> Answer:
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


@dev_only
async def dev_senders(request: Request) -> Answer:
    store, tenant = await _demo_tenant()
    tid = tenant.tenantId
    contacts = (await store.find(Contact, tid, limit=1000)).items
    moved = {s.contactId for s in (await store.find(Signal, tid, limit=50)).items}
    # A useful mix: anyone with a signal (a move, a new title, a bounce), anyone kept private, then one
    # contact per account.
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
