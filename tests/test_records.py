"""Records: deterministic ids, and the two serialisations the stores use say the same thing."""

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from rapport.records import (
    Account,
    Contact,
    Draft,
    Interaction,
    Meeting,
    Owner,
    Tenant,
    WorkItem,
    account_id,
    contact_id,
)

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def test_ids_are_deterministic_from_the_source():
    assert contact_id("Jane.Doe@Acme.example ") == contact_id("jane.doe@acme.example")
    assert account_id("ACME.example") == account_id("acme.example")
    assert Interaction.id_for("graph-mail", "u:1") == Interaction.id_for("graph-mail", "u:1")
    assert Interaction.id_for("graph-mail", "u:1") != Interaction.id_for("graph-mail", "u:2")


@given(subject=st.text(max_size=60), name=st.text(max_size=30))
def test_to_json_is_to_doc_for_any_text(subject, name):
    records = [
        Interaction(id="ix_1", tenantId="t", channel="email", at=NOW, subject=subject, ownerOid="o",
                    contactIds=[contact_id("a@b.example")]),
        Contact.new("t", "a@b.example", name=name, owners=[Owner(oid="o", name=name, since=NOW)], lastSeen=NOW),
        Meeting(id="mt_1", tenantId="t", eventId="e", organizerOid="o", subject=subject, start=NOW, end=NOW),
        Draft(id="dr_1", tenantId="t", ownerOid="o", subject=subject, body=name, to=["a@b.example"]),
        Account.new("t", "b.example", name=name),
        Tenant(id="t", tenantId="t", name=name),
        WorkItem(id="wi_1", tenantId="t", kind="k", key=subject),
    ]
    for r in records:
        r.etag = "not-part-of-the-document"
        assert json.loads(r.to_json()) == r.to_doc()
