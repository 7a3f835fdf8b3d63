""""My BD desk": what is waiting for one partner now, read through their own ScopedStore.

Pending drafts, this week's meetings with people outside the firm (brief sent? follow-up state?),
open enquiries they own, and relationships going cold (the ids the latest roll-up kept for them,
each read back through the ScopedStore, so a wall raised since hides it). A handful of reads,
none of them a scan: the report page and the task pane ask for it on every open (bench/metrics.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rapport import timezones
from rapport.cards.common import when
from rapport.metrics import definitions as d
from rapport.records import Contact, Draft, Enquiry, Meeting, Person, WeekStats, aware, iso
from rapport.store import ScopedStore, Store
from rapport.store.base import Read

OPEN_ENQUIRIES = 200  # read at most this many of the firm's open enquiries, newest first


async def desk(store: Store, tenant_id: str, person: Person, now: datetime) -> dict[str, Any]:
    now = aware(now)
    oid = person.oid
    zone = timezones.zone(person.timeZone)
    scoped = ScopedStore(store, tenant_id, oid)
    start, end = d.week_window(d.week_of(now, zone), zone)
    # One batch through the viewer's scope: walls and visibility decided there, hidden records dropped.
    pending, meetings, enquiries = await scoped.read_many([
        Read(Draft, key=f"owner-state:{oid}:drafted", limit=50),
        Read(Meeting, key=f"org:{oid}", since=iso(start - timedelta(days=1)), until=iso(end), limit=200),
        Read(Enquiry, key="pipeline:open", newest_first=True, limit=OPEN_ENQUIRIES),
    ])
    latest = (await store.find(WeekStats, tenant_id, key=f"partner:{oid}", newest_first=True, limit=1)).items
    meetings = [m for m in meetings if m.external and not m.isCancelled and start <= aware(m.start) < end]
    reads = [Read(Draft, key=f"meeting:{m.id}", limit=20) for m in meetings]
    reads += [Read(Contact, record_id=cid) for cid in (latest[0].coldIds if latest else [])]
    got = await scoped.read_many(reads) if reads else []
    followups, views = got[:len(meetings)], got[len(meetings):]
    mine_enquiries = [e for e in enquiries if e.ownerOid == oid]
    cold = []
    for view in views:
        cid = view.contact.id if view is not None and view.contact is not None else None
        if cid is not None:
            entry = next((o for o in view.contact.owners if o.oid == oid), None)
            if entry is not None:
                cold.append({"contactId": cid, "name": view.contact.name or view.contact.email,
                             "since": when(entry.lastTouch, now, zone) if entry.lastTouch else ""})
    week = []
    for m, drafts in zip(meetings, followups, strict=True):
        states = sorted({x.state for x in drafts if x.ownerOid == oid})
        week.append({"meetingId": m.id, "subject": m.subject or "(no subject)", "when": when(m.start, now, zone),
                     "brief": "sent" if oid in m.briefsSent else ("—" if aware(m.start) < now else "not yet"),
                     "followUp": ", ".join(states) if states else ("none" if aware(m.end) <= now else "after the meeting")})
    return {
        "pending": [{"draftId": x.id, "subject": x.subject or "(no subject)", "when": when(x.createdAt, now, zone)}
                    for x in sorted(pending, key=lambda x: x.createdAt)],
        "meetings": week,
        "enquiries": [{"subject": e.subject or "(no subject)", "stage": str(e.stage),
                       "received": when(e.receivedAt, now, zone)} for e in mine_enquiries],
        "cold": cold,
    }
