"""Walls and the pipeline, as a property: a walled partner's view of the pipeline has no trace of the
walled company's enquiries (planted canaries searched in every output), and a visible one shows.

Outputs searched: "my pipeline" (stages.my_pipeline and the bot's lines), "mark <name> ..." look-up
(stages.find_by_name), the enquiry card as that person would get it (notify.card_for, with its
"also open for this person" line naming a second enquiry of the same person), the contact's history
(the owner's logged call and its note), and the answers to changing it, logging a call on it,
"called <email>" and merging it (the same "not_found", or the same words, as for none at all;
nothing written)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.pipeline import _called, pipeline_lines
from rapport.pipeline import calls, notify, stages
from rapport.records import (
    Account,
    Contact,
    Enquiry,
    Interaction,
    Owner,
    Person,
    Tenant,
    Wall,
    account_id,
    contact_id,
)
from rapport.store.base import Store
from rapport.store.scope import ScopedStore
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
            # The same person's second open enquiry (a duplicate to merge), newer and with its own canary.
            await store.put(Enquiry(id=f"eq_{k}b", tenantId=TID, accountId=account_id(domain),
                                    contactId=contact_id(email), ownerOid=owner, subject=f"Again AGAIN{k}zq",
                                    receivedAt=T0 + timedelta(hours=1)))
        await store.put(Wall(id="w1", tenantId=TID, accountIds=[account_id(f"co{walled_company}.example")],
                             screenedOids=[PARTNERS[i] for i in walled]))
        firm = await store.get_tenant(TID)

        def hidden_from(i: int, k: int) -> bool:
            return i in walled and k == walled_company

        # Each owner logs a call with their enquirer (a walled owner cannot: the enquiry does not exist
        # for them, and nothing is written).
        for k in range(3):
            got = await calls.log_call(store, TID, PARTNERS[owners[k]], f"eq_{k}", note=f"CALLNOTE{k}zq",
                                       now=T0 + timedelta(minutes=30))
            assert got.status == ("not_found" if hidden_from(owners[k], k) else "ok"), (owners, k)
        for i, oid in enumerate(PARTNERS):
            viewer = await store.get_person(TID, oid)
            out = [json.dumps([e.model_dump(mode="json") for e in await stages.my_pipeline(store, TID, oid)])]
            out += await pipeline_lines(store, TID, oid)
            for k in range(3):
                out.append(json.dumps([e.id for e in await stages.find_by_name(store, TID, oid, canaries[k])]))
                card = await notify.card_for(store, firm, await store.get(Enquiry, TID, f"eq_{k}"), viewer)
                out.append(json.dumps(card))
                history = await ScopedStore(store, TID, oid).interactions_for_contact(contact_id(f"x{k}@co{k}.example"))
                out.append(json.dumps([ix.model_dump(mode="json") for ix in history.items]))
                hidden = hidden_from(i, k)
                status = (await stages.change_stage(store, TID, oid, f"eq_{k}", "needs_analysis", now=T0)).status
                before = len(await store.find_all(Interaction, TID, key=f"ct:{contact_id(f'x{k}@co{k}.example')}"))
                call = (await calls.log_call(store, TID, oid, f"eq_{k}", now=T0 + timedelta(hours=2))).status
                said = await _called(store, TID, oid, f"x{k}@co{k}.example")
                after = len(await store.find_all(Interaction, TID, key=f"ct:{contact_id(f'x{k}@co{k}.example')}"))
                if hidden:
                    assert card is None and status == "not_found" and call == "not_found" and after == before
                    assert said == await _called(store, TID, oid, f"nobody{k}@co{k}.example")
                else:
                    assert said != await _called(store, TID, oid, f"nobody{k}@co{k}.example")
            text = "\n".join(out)
            for k in range(3):
                hidden = hidden_from(i, k)
                for canary in (canaries[k], f"AGAIN{k}zq"):
                    if hidden:
                        assert canary not in text, (i, k)
                    else:
                        assert canary in text, (i, k)  # the search can fail: visible ones do show
                # The owner's call shows wherever the enquiry does, unless the owner was walled (no call).
                assert (f"CALLNOTE{k}zq" in text) == (not hidden and not hidden_from(owners[k], k)), (i, k)
        # Merging: a walled viewer gets "not_found" and changes nothing; the owner (unless walled) merges.
        for k in range(3):
            for i, oid in enumerate(PARTNERS):
                got = await stages.merge_duplicate(store, TID, oid, f"eq_{k}b", f"eq_{k}")
                if hidden_from(i, k):
                    assert got.status == "not_found"
            merged = (await store.get(Enquiry, TID, f"eq_{k}b")).mergedInto
            assert merged == (None if hidden_from(owners[k], k) else f"eq_{k}"), (owners, walled, k)
    finally:
        await store.close()
