"""Walls and the pipeline, as a property: a walled partner's view of the pipeline has no trace of the
walled company's enquiries (planted canaries searched in every output), and a visible one shows.

Outputs searched: "my pipeline" (stages.my_pipeline and the bot's lines), "mark <name> ..." look-up
(stages.find_by_name), the enquiry card as that person would get it (notify.card_for), and the
answer to changing it (the same "not_found" as a bad id)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.pipeline import pipeline_lines
from rapport.pipeline import notify, stages
from rapport.records import Account, Contact, Enquiry, Owner, Person, Tenant, Wall, account_id, contact_id
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend

TID = "t-vis"
PARTNERS = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(3)]
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(owners=st.lists(st.integers(0, 2), min_size=3, max_size=3), walled=st.lists(st.integers(0, 2), max_size=3),
       walled_company=st.integers(0, 2))
def test_walled_enquiries_leave_no_trace(tmp_path_factory, owners, walled, walled_company):
    import asyncio

    asyncio.run(_check(tmp_path_factory.mktemp("v"), owners, set(walled), walled_company))


async def _check(path, owners, walled, walled_company):
    store = await Store(SqliteBackend(str(path / "v.db"))).open()
    try:
        await store.put_tenant(Tenant(id=TID, tenantId=TID, name="F", domains=["firm.example"]))
        for i, oid in enumerate(PARTNERS):
            await store.put(Person(id=oid, tenantId=TID, oid=oid, upn=f"p{i}@firm.example", name=f"Partner {i}"))
        canaries = {}
        for k in range(3):
            domain = f"co{k}.example"
            email = f"x{k}@{domain}"
            owner = PARTNERS[owners[k]]
            await store.put(Account.new(TID, domain, name=f"Company{k}"))
            await store.put(Contact.new(TID, email, name=f"Person{k}", accountId=account_id(domain),
                                        owners=[Owner(oid=owner, name="o")]))
            canaries[k] = f"CANARY{k}zq"
            await store.put(Enquiry(id=f"eq_{k}", tenantId=TID, accountId=account_id(domain), contactId=contact_id(email),
                                    ownerOid=owner, subject=f"About {canaries[k]}", receivedAt=T0))
        await store.put(Wall(id="w1", tenantId=TID, accountIds=[account_id(f"co{walled_company}.example")],
                             screenedOids=[PARTNERS[i] for i in walled]))
        firm = await store.get_tenant(TID)
        for i, oid in enumerate(PARTNERS):
            viewer = await store.get_person(TID, oid)
            out = [json.dumps([e.model_dump(mode="json") for e in await stages.my_pipeline(store, TID, oid)])]
            out += await pipeline_lines(store, TID, oid)
            for k in range(3):
                out.append(json.dumps([e.id for e in await stages.find_by_name(store, TID, oid, canaries[k])]))
                card = await notify.card_for(store, firm, await store.get(Enquiry, TID, f"eq_{k}"), viewer)
                out.append(json.dumps(card))
                hidden = i in walled and k == walled_company
                status = (await stages.change_stage(store, TID, oid, f"eq_{k}", "needs_analysis", now=T0)).status
                if hidden:
                    assert card is None and status == "not_found"
            text = "\n".join(out)
            for k in range(3):
                hidden = i in walled and k == walled_company
                if hidden:
                    assert canaries[k] not in text, (i, k)
                else:
                    assert canaries[k] in text, (i, k)  # the search can fail: visible ones do show
    finally:
        await store.close()
