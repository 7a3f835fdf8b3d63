"""Putting an enquiry card in front of a person, once per (enquiry, event, person), after the answer.

A "pipeline-card" work item keyed (enquiry, kind, person) is the one way: capture and the timer
queue it, the drain delivers it through the Teams sender the host provides (bot/'s proactive
sender, runtime.services().teams_briefs, the same one briefs use) or, on the embedded default, the
local outbox. The card is built at delivery from the enquiry as that person may see it (the scoped
store): a person walled from the company gets nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rapport import runtime, timezones, work
from rapport.identity.membership import teams_user_id
from rapport.pipeline.cards import EnquiryFacts, enquiry_card
from rapport.pipeline.clock import due_at
from rapport.records import Enquiry, Person, Tenant, aware, utcnow
from rapport.store.base import Store
from rapport.store.scope import ScopedStore

log = logging.getLogger("rapport.pipeline")

CARD_WORK = "pipeline-card"


async def facts_for(store: Store, firm: Tenant, e: Enquiry, viewer_oid: str) -> EnquiryFacts | None:
    """What the card shows, read as the viewer sees it; None when the enquiry is hidden from them."""
    scope = ScopedStore(store, firm.id, viewer_oid)
    if await scope.get(Enquiry, e.id) is None:
        return None
    person, company = "", ""
    if e.contactId:
        view = await scope.contact(e.contactId)
        if view is not None:
            person = (view.contact.name if view.contact and view.contact.name else "") or view.email
    if e.accountId:
        acct = await scope.account(e.accountId)
        company = acct.name if acct else ""
    owner = await store.get_person(firm.id, e.ownerOid) if e.ownerOid else None
    responder = await store.get_person(firm.id, e.firstResponderOid) if e.firstResponderOid else None
    names = []
    for oid in e.knownBy:
        p = await store.get_person(firm.id, oid)
        if p is not None:
            names.append(p.name)
    also: list[tuple[str, str, Any]] = []
    if e.contactId and e.is_open:  # a duplicate to merge: the same person's other open enquiries
        others = await scope.find_all(Enquiry, f"ct:{e.contactId}:open")
        also = [(x.id, x.subject, x.receivedAt) for x in sorted(others, key=lambda x: (aware(x.receivedAt), x.id))
                if x.id != e.id and x.is_open]
    return EnquiryFacts(enquiry=e, person=person or "someone new", company=company,
                        owner_name=owner.name if owner else "", known_by=names,
                        due=due_at(firm.settings, e.receivedAt, firm.settings.responseHours),
                        responder_name=responder.name if responder else "", also_open=also)


async def card_for(store: Store, firm: Tenant, e: Enquiry, viewer: Person, *, kind: str = "status",
                   notice: str | None = None, now: datetime | None = None) -> dict[str, Any] | None:
    facts = await facts_for(store, firm, e, viewer.oid)
    if facts is None:
        return None
    return enquiry_card(facts, kind=kind, now=now or utcnow(), tz=timezones.zone(viewer.timeZone), notice=notice,
                        refresh_users=[teams_user_id(viewer, viewer.oid)])


async def queue(store: Store, tenant_id: str, enquiry_id: str, kind: str, person_oid: str, *, notice: str = "",
                stamp: str = "") -> None:
    """Queue one card (idempotent on enquiry, kind, person and `stamp`)."""
    await work.enqueue(store, tenant_id, CARD_WORK, *_card_item(enquiry_id, kind, person_oid, notice, stamp))


async def queue_many(store: Store, tenant_id: str, cards: list[tuple[str, str, str]]) -> None:
    """`queue` for several (enquiry id, kind, person) at once: one batch write (capture's intake)."""
    await work.enqueue_many(store, tenant_id, CARD_WORK, [_card_item(e, k, p, "", "") for e, k, p in cards])


def _card_item(enquiry_id: str, kind: str, person_oid: str, notice: str, stamp: str) -> tuple[str, dict[str, Any]]:
    return (f"{enquiry_id}:{kind}:{person_oid}:{stamp}",
            {"enquiryId": enquiry_id, "kind": kind, "person": person_oid, "notice": notice})


def _sender(settings: Any) -> Any:
    services = runtime.services()
    make = services.teams_briefs
    if make is None or not settings.bot_app_id:
        return None
    return services.once("teams_briefs", lambda: make(settings))


@work.handler(CARD_WORK)
async def _card_work(store: Store, item: Any) -> None:
    p = item.payload
    firm = await store.get_tenant(item.tenantId)
    e = await store.get(Enquiry, item.tenantId, str(p.get("enquiryId", "")))
    person = await store.get_person(item.tenantId, str(p.get("person", "")))
    if firm is None or e is None or person is None or not person.enabled:
        return
    kind = str(p.get("kind") or "status")
    card = await card_for(store, firm, e, person, kind=kind, notice=str(p.get("notice") or "") or None)
    if card is None:
        return  # walled or private for this person: nothing, as if there were no enquiry
    summary = card.get("fallbackText", "Enquiry")
    sender = _sender(runtime.settings())
    if sender is None:
        from rapport import local_outbox

        await local_outbox.deliver(store, item.tenantId, "teams", f"enquiry:{item.key}", to=[person.upn],
                                   subject=summary[:200], card=card)
        return
    if not person.conversationRef:
        log.info("no Teams conversation with this person yet (app not installed); enquiry card not sent",
                 extra={"tenant_id": item.tenantId})
        return
    await sender.send_card(item.tenantId, person, card, summary)


__all__ = ["CARD_WORK", "card_for", "facts_for", "queue", "queue_many"]
