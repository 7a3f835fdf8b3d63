"""Merging what capture saw into what the store holds, and the counsel moves a name group implies.
Pure: records in, records out (no store, no clock but the `now` a caller passes).

Imports: rapport.records and rapport.capture.names only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rapport.capture.names import better_name
from rapport.records import Contact, Meeting, Owner, Signal, person_name_key, stable_id


def earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def latest(a: datetime | None, b: datetime | None, cap: datetime | None = None) -> datetime | None:
    if cap is not None:  # a meeting next week is no "last touch" yet
        a = None if a is not None and a > cap else a
        b = None if b is not None and b > cap else b
    return b if a is None else a if b is None else max(a, b)


def merge_contact(current: Contact, seen: Contact, now: datetime | None = None) -> Contact:
    """`current` updated with what capture saw in `seen` (same id). Pure; never loses data:
    names only improve, times only widen, owners accumulate (an existing owner keeps its visibility),
    title/phone and an account someone set are left alone."""
    out = current.model_copy()
    out.owners = [o.model_copy() for o in current.owners]  # the only mutable part we change
    out.name = better_name(current.name, seen.name, current.email)
    if out.accountId is None and seen.accountId is not None:
        out.accountId = seen.accountId
    out.firstSeen = earliest(current.firstSeen, seen.firstSeen)
    out.lastSeen = latest(current.lastSeen, seen.lastSeen, now)
    owners = {o.oid: o for o in out.owners}
    for o in seen.owners:
        mine = owners.get(o.oid)
        if mine is None:
            owners[o.oid] = Owner(oid=o.oid, name=o.name, visibility=o.visibility, since=o.since,
                                  lastTouch=latest(None, o.lastTouch, now))
        else:
            mine.since = earliest(mine.since, o.since)
            mine.lastTouch = latest(mine.lastTouch, o.lastTouch, now)
            mine.name = mine.name or o.name
    out.owners = sorted(owners.values(), key=lambda o: o.oid)
    return out


def same_contact(a: Contact, b: Contact) -> bool:
    return a.model_dump(exclude={"etag"}) == b.model_dump(exclude={"etag"})


def merge_meeting(current: Meeting, seen: Meeting) -> Meeting:
    """Graph is the truth for what Graph says; what Rapport added (briefs sent) is kept."""
    out = seen.model_copy(deep=True)
    out.briefsSent = dict(current.briefsSent)
    return out


def counsel_moves(group: Iterable[Contact]) -> list[Signal]:
    """The counsel-move signals a group of contacts sharing one full display name implies.

    Ordered by when each address was first seen, every address at a company account is a move away
    from the latest earlier address at a different company account. A function of the group alone
    (ingest re-evaluates a group whenever a member changes and removes signals it no longer implies),
    so the signals end up the same whatever order the mail arrived in.
    """
    members = sorted((c for c in group if c.accountId and c.firstSeen), key=lambda c: (c.firstSeen, c.id))
    out: list[Signal] = []
    # One pass: `last` is the latest member so far, `last_other` the latest one at another account
    # than `last`'s; so the latest earlier member at an account other than `to`'s is one of them.
    last: Contact | None = None
    last_other: Contact | None = None
    for to in members:
        frm = None
        if last is not None:
            frm = last if last.accountId != to.accountId else last_other
            if last.accountId != to.accountId:
                last_other = last
        last = to
        if frm is None:
            continue
        old_domain, new_domain = frm.email.rpartition("@")[2], to.email.rpartition("@")[2]
        out.append(Signal(
            id=stable_id("sg", "counsel_move", frm.id, to.id), tenantId=to.tenantId, kind="counsel_move",
            contactId=to.id, accountIds=[a for a in (to.accountId, frm.accountId) if a],
            summary=f"{to.name} now writes from {new_domain} (previously {old_domain})",
            fromValue=frm.email, toValue=to.email, at=to.firstSeen,
        ))
    return out


def moves_changed(before: Contact | None, after: Contact) -> tuple[str, ...]:
    """The name keys whose counsel-move groups a contact write affects (none if nothing relevant moved)."""
    new_key = person_name_key(after.name)
    if before is None:
        return (new_key,) if new_key else ()
    old_key = person_name_key(before.name)
    if (old_key, before.firstSeen, before.accountId) == (new_key, after.firstSeen, after.accountId):
        return ()
    return tuple(k for k in {old_key, new_key} if k)
