"""One rule for "is this address the firm's own": capture (rapport.capture.names.is_internal) and the
follow-up recipients (rapport.followups.drafting.recipients_for) give the same answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rapport.capture import is_internal
from rapport.followups.drafting import recipients_for
from rapport.records import Attendee, Meeting, Person, Tenant

CASES = [  # (address, the firm's domains, internal?)
    ("ann@firm.example", ["firm.example"], True),
    ("ann@mail.firm.example", ["firm.example"], True),  # a subdomain of the firm's
    ("ann@deep.mail.firm.example", ["firm.example"], True),
    ("ann@notfirm.example", ["firm.example"], False),  # a look-alike is not a subdomain
    ("ann@firm.example.evil", ["firm.example"], False),
    ("ann@firm.example", ["Firm.Example"], True),  # case is ignored
    ("ann@other.example", ["firm.example", "other.example"], True),
    ("ann@client.example", ["firm.example"], False),
    ("ann@example.com", ["firm.example.com"], False),  # the firm's parent domain is not the firm's
    # The one case where the two copies differed: a domain stored with stray spaces. Capture always
    # ignored them; the follow-up recipients did not (and would have drafted to a colleague).
    ("ann@firm.example", [" firm.example "], True),
]


def _meeting(address: str) -> Meeting:
    at = datetime(2026, 5, 4, 9, tzinfo=UTC)
    return Meeting(id="mt-1", tenantId="t1", eventId="e1", organizerOid="p1", organizerEmail="me@firm.example",
                   start=at, end=at, attendees=[Attendee(email=address, name="Ann")])


@pytest.mark.parametrize(("address", "domains", "internal"), CASES)
def test_capture_and_followup_recipients_agree_on_internal(address, domains, internal):
    firm = Tenant(id="t1", tenantId="t1", name="Firm", domains=domains)
    me = Person(id="p1", tenantId="t1", oid="p1", upn="me@firm.example", name="Me")
    assert is_internal(address.rpartition("@")[2], firm) is internal
    assert (recipients_for(_meeting(address), firm, me) == []) is internal
