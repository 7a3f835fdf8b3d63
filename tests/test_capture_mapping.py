"""The capture mapping (rapport.capture.mapping): pure functions from Graph JSON to records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rapport.capture import (
    Captured,
    account_name_from_domain,
    better_name,
    clean_name,
    counsel_moves,
    excerpt_of,
    is_free_mail,
    is_internal,
    map_event,
    map_message,
    merge_contact,
    name_rank,
    parse_graph_time,
)
from rapport.records import (
    Contact,
    Interaction,
    Meeting,
    Owner,
    Person,
    Tenant,
    TenantSettings,
    account_id,
    contact_id,
)

TID = "11111111-2222-3333-4444-555555555555"
FIRM = Tenant(id=TID, tenantId=TID, name="Firm", domains=["firm.example", "firm-ip.example"])
OWNER = Person(id="oid-1", tenantId=TID, oid="oid-1", upn="ann.lee@firm.example", name="Ann Lee")


def addr(address: str, name: str = "") -> dict:
    return {"emailAddress": {"name": name, "address": address}}


def message(mid: str = "AAMk1", *, frm: dict | None = None, to: list | None = None, cc: list | None = None,
            subject: str = "Renewal reminder", received: str = "2026-03-02T09:15:00Z", **extra) -> dict:
    frm = frm or addr("jane.doe@acme.example", "Jane Doe")
    return {
        "id": mid, "subject": subject, "from": frm, "sender": frm,
        "toRecipients": to if to is not None else [addr(OWNER.upn, OWNER.name)], "ccRecipients": cc or [],
        "receivedDateTime": received, "sentDateTime": received.replace("15:00", "14:58"),
        "internetMessageId": f"<{mid}@acme.example>", "conversationId": "conv-1",
        "bodyPreview": "Please renew the NORVALE mark. Secret fee: 12,000", **extra,
    }


def event(eid: str = "AAMkEv1", *, organizer: dict | None = None, attendees: list | None = None, **extra) -> dict:
    return {
        "id": eid, "iCalUId": f"ical-{eid}", "subject": "Portfolio review",
        "start": {"dateTime": "2026-11-25T10:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-25T11:00:00.0000000", "timeZone": "UTC"},
        "organizer": organizer or addr(OWNER.upn, OWNER.name),
        "attendees": attendees if attendees is not None else [
            {**addr("jane.doe@acme.example", "Jane Doe"), "type": "required", "status": {"response": "accepted"}},
            {**addr("bob@gmail.com", "Bob Smith"), "type": "optional", "status": {"response": "none"}},
            {**addr("sam@firm.example", "Sam Colleague"), "type": "required", "status": {"response": "accepted"}},
        ],
        "isOnlineMeeting": True, "isCancelled": False, "seriesMasterId": None, "type": "singleInstance",
        "webLink": "https://outlook.example/ev1", "bodyPreview": "Agenda: fees", **extra,
    }


def only(c: Captured) -> Interaction:
    assert len(c.interactions) == 1
    return c.interactions[0]


# --- domains ---------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["gmail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "yahoo.com",
                                    "yahoo.co.jp", "icloud.com", "gmx.de", "gmx.net", "web.de", "proton.me",
                                    "qq.com", "163.com", "GMAIL.COM"])
def test_free_mail_domains(domain: str) -> None:
    assert is_free_mail(domain)


@pytest.mark.parametrize("domain", ["acme.example", "yahoo-japan-partners.example", "mygmail.example", "firm.example"])
def test_company_domains_are_not_free_mail(domain: str) -> None:
    assert not is_free_mail(domain)


def test_internal_domains_include_subdomains_only() -> None:
    assert is_internal("firm.example", FIRM)
    assert is_internal("FIRM-IP.example", FIRM)
    assert is_internal("uk.firm.example", FIRM)
    assert not is_internal("notfirm.example", FIRM)
    assert not is_internal("firm.example.evil", FIRM)


def test_free_mail_sender_is_a_contact_but_never_an_account() -> None:
    c = map_message(message(frm=addr("Bob@Gmail.com", "Bob Smith")), firm=FIRM, owner=OWNER, folder="inbox")
    assert [x.email for x in c.contacts] == ["bob@gmail.com"]
    assert c.contacts[0].accountId is None
    assert c.accounts == []
    assert only(c).accountIds == [] and only(c).contactIds == [contact_id("bob@gmail.com")]


def test_company_sender_becomes_contact_and_account() -> None:
    c = map_message(message(), firm=FIRM, owner=OWNER, folder="inbox")
    assert [a.domain for a in c.accounts] == ["acme.example"]
    assert c.accounts[0].id == account_id("acme.example") and c.accounts[0].kind == "prospect"
    assert c.contacts[0].accountId == account_id("acme.example")
    assert c.contacts[0].owners[0].oid == OWNER.oid and c.contacts[0].owners[0].visibility == "firm"


def test_internal_people_are_never_contacts() -> None:
    m = message(frm=addr("sam@firm.example", "Sam"), to=[addr(OWNER.upn), addr("kim@uk.firm-ip.example")])
    c = map_message(m, firm=FIRM, owner=OWNER, folder="inbox")
    assert c.contacts == [] and c.accounts == []
    ix = only(c)
    assert ix.direction == "internal" and ix.contactIds == []
    assert set(ix.participants) == {"sam@firm.example", OWNER.upn, "kim@uk.firm-ip.example"}


# --- direction and ids -------------------------------------------------------------------------


def test_direction_inbound_outbound() -> None:
    inbound = only(map_message(message(), firm=FIRM, owner=OWNER, folder="inbox"))
    assert inbound.direction == "inbound"
    sent = message(frm=addr(OWNER.upn, OWNER.name), to=[addr("jane.doe@acme.example", "Jane Doe")])
    assert only(map_message(sent, firm=FIRM, owner=OWNER, folder="sentitems")).direction == "outbound"
    # The owner's own mail found in the Inbox (e.g. a copy to self with an external cc) is outbound too.
    assert only(map_message(sent, firm=FIRM, owner=OWNER, folder="inbox")).direction == "outbound"


def test_sent_items_use_sent_time_and_inbox_received_time() -> None:
    m = message(received="2026-03-02T09:15:00Z")
    assert only(map_message(m, firm=FIRM, owner=OWNER, folder="inbox")).at == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    assert only(map_message(m, firm=FIRM, owner=OWNER, folder="sentitems")).at == datetime(2026, 3, 2, 9, 14, 58,
                                                                                         tzinfo=UTC)


def test_interaction_id_is_deterministic_per_mailbox() -> None:
    a = only(map_message(message("X1"), firm=FIRM, owner=OWNER, folder="inbox"))
    b = only(map_message(message("X1", subject="changed"), firm=FIRM, owner=OWNER, folder="inbox"))
    assert a.id == b.id == Interaction.id_for("graph-mail", f"{OWNER.oid}:X1")
    other = Person(id="oid-2", tenantId=TID, oid="oid-2", upn="bo@firm.example", name="Bo")
    assert only(map_message(message("X1"), firm=FIRM, owner=other, folder="inbox")).id != a.id
    assert only(map_message(message("X2"), firm=FIRM, owner=OWNER, folder="inbox")).id != a.id


def test_metadata_only_by_default() -> None:
    m = message(body={"contentType": "html", "content": "<p>the whole body</p>"})
    ix = only(map_message(m, firm=FIRM, owner=OWNER, folder="inbox"))
    assert ix.excerpt is None and ix.text is None
    dumped = str(ix.to_doc())
    assert "Secret fee" not in dumped and "whole body" not in dumped
    ev = only(map_event(event(), firm=FIRM, owner=OWNER))
    assert ev.excerpt is None and "Agenda" not in str(ev.to_doc())


def test_excerpt_when_the_firm_turns_it_on() -> None:
    firm = FIRM.model_copy(update={"settings": TenantSettings(captureExcerpts=True)})
    hostile = "<div>Hello\u200b <b>there</b>\u202e</div><script>evil()</script>&amp; " + "x" * 500
    ix = only(map_message(message(bodyPreview=hostile), firm=firm, owner=OWNER, folder="inbox"))
    assert ix.excerpt is not None
    assert ix.excerpt.startswith("Hello there & x")
    assert "\u200b" not in ix.excerpt and "\u202e" not in ix.excerpt and "<" not in ix.excerpt
    assert "evil" not in ix.excerpt
    assert len(ix.excerpt) <= 200


def test_excerpt_of_handles_empty_and_html_only() -> None:
    assert excerpt_of(None) is None and excerpt_of("") is None
    assert excerpt_of("<p> </p>\u200d") is None
    assert excerpt_of("a\u2066b\u2069c\u00ad") == "abc"


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("", "Jane Doe", "Jane Doe"),
    ("jane.doe@acme.example", "Jane Doe", "Jane Doe"),
    ("Jane Doe", "jane.doe@acme.example", "Jane Doe"),
    ("Jane Doe", "", "Jane Doe"),
    ("J. Doe", "Jane Doe", "Jane Doe"),
    ("Jane Doe", "J. Doe", "Jane Doe"),
    ("Jane", "Jane Doe", "Jane Doe"),
    ("Jane Doe", "Jane", "Jane Doe"),
    ("JANE DOE", "Jane Doe", "Jane Doe"),
    ("Jane Doe", "jane doe", "Jane Doe"),
    ("jane.doe", "Jane", "Jane"),
    ("Doe, Jane", "", "Jane Doe"),
    ("Jane Doe", "Jane Elizabeth Doe", "Jane Elizabeth Doe"),
])
def test_name_improves_never_degrades(old: str, new: str, expected: str) -> None:
    assert better_name(old, new, "jane.doe@acme.example") == expected


@given(st.lists(st.sampled_from(["", "jane.doe@acme.example", "jane.doe", "Jane", "J. Doe", "Jane Doe", "JANE DOE",
                                 "Doe, Jane", "Jane E. Doe", "Dr Jane Doe", "jane doe"]), min_size=1, max_size=8),
       st.randoms())
def test_best_name_does_not_depend_on_order(names: list[str], rnd) -> None:
    def fold(seq: list[str]) -> str:
        out = ""
        for n in seq:
            out = better_name(out, n, "jane.doe@acme.example")
        return out

    shuffled = list(names)
    rnd.shuffle(shuffled)
    a, b = fold(names), fold(shuffled)
    assert a == b
    # ... and never worse than any name seen
    assert all(name_rank(a, "jane.doe@acme.example") >= name_rank(clean_name(n), "jane.doe@acme.example")
               for n in names)


def test_clean_name_strips_quotes_and_invisible_characters() -> None:
    assert clean_name(' "Jane\u200b  Doe" ') == "Jane Doe"
    assert clean_name("Doe, Jane") == "Jane Doe"
    assert clean_name(None) == ""


def test_display_name_of_one_message_takes_the_best_form_seen() -> None:
    m = message(frm=addr("jane.doe@acme.example", "jane.doe@acme.example"),
                cc=[addr("jane.doe@acme.example", "Jane Doe")])
    c = map_message(m, firm=FIRM, owner=OWNER, folder="inbox")
    assert [x.name for x in c.contacts] == ["Jane Doe"]


def test_account_name_from_domain() -> None:
    assert account_name_from_domain("kestrel-bio.co.uk") == "Kestrel Bio"
    assert account_name_from_domain("acme.example") == "Acme"
    assert account_name_from_domain("mail.norvale.com") == "Norvale"


# --- odd input -------------------------------------------------------------------------------


def test_unkeyable_addresses_are_ignored_and_bad_items_skipped() -> None:
    m = message(to=[addr("/O=EXCHANGELABS/OU=EXCHANGE ADMINISTRATIVE GROUP/CN=RECIPIENTS/CN=X"), addr(""),
                    {"emailAddress": None}, "junk", addr(OWNER.upn)])
    c = map_message(m, firm=FIRM, owner=OWNER, folder="inbox")
    assert [x.email for x in c.contacts] == ["jane.doe@acme.example"]
    assert map_message({"subject": "no id"}, firm=FIRM, owner=OWNER, folder="inbox").skipped
    assert map_message({"id": "x", "receivedDateTime": "garbage"}, firm=FIRM, owner=OWNER, folder="inbox").skipped
    assert map_event({"id": "e", "start": {}}, firm=FIRM, owner=OWNER).skipped


def test_graph_times() -> None:
    assert parse_graph_time("2026-03-02T09:15:00Z") == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    assert parse_graph_time({"dateTime": "2026-03-02T09:15:00.1234567", "timeZone": "UTC"}) == datetime(
        2026, 3, 2, 9, 15, 0, 123456, tzinfo=UTC)
    assert parse_graph_time({"dateTime": "2026-07-02T09:15:00.0000000", "timeZone": "W. Europe Standard Time"}) == \
        datetime(2026, 7, 2, 7, 15, tzinfo=UTC)
    assert parse_graph_time({"dateTime": "2026-01-02T09:15:00", "timeZone": "Europe/London"}) == \
        datetime(2026, 1, 2, 9, 15, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_graph_time(None)


# --- removed items ---------------------------------------------------------------------------


def test_removed_message_is_left_as_history() -> None:
    c = map_message({"id": "AAMk1", "@removed": {"reason": "deleted"}}, firm=FIRM, owner=OWNER, folder="inbox")
    assert c.removed and c.interactions == [] and c.dropped_interaction_ids == [] and c.cancelled_meeting_ids == []


def test_removed_event_cancels_its_meeting_and_drops_its_interaction() -> None:
    c = map_event({"id": "AAMkEv1", "@removed": {"reason": "deleted"}}, firm=FIRM, owner=OWNER)
    assert c.removed
    assert c.cancelled_meeting_ids == [Meeting.id_for(OWNER.oid, "AAMkEv1")]
    assert c.dropped_interaction_ids == [Interaction.id_for("graph-event", f"{OWNER.oid}:AAMkEv1")]


def test_cancelled_event_is_a_cancelled_meeting_without_interaction() -> None:
    c = map_event(event(isCancelled=True), firm=FIRM, owner=OWNER)
    assert c.interactions == [] and len(c.meetings) == 1 and c.meetings[0].isCancelled
    assert c.dropped_interaction_ids == [Interaction.id_for("graph-event", f"{OWNER.oid}:AAMkEv1")]


# --- meetings --------------------------------------------------------------------------------


def test_event_keeps_attendees_times_organizer_online_flag() -> None:
    c = map_event(event(), firm=FIRM, owner=OWNER)
    m = c.meetings[0]
    assert m.id == Meeting.id_for(OWNER.oid, "AAMkEv1") and m.eventId == "AAMkEv1"
    assert m.start == datetime(2026, 11, 25, 10, tzinfo=UTC) and m.end == datetime(2026, 11, 25, 11, tzinfo=UTC)
    assert m.organizerOid == OWNER.oid and m.organizerEmail == OWNER.upn
    assert m.isOnline and not m.isCancelled and m.webLink == "https://outlook.example/ev1"
    assert [(a.email, a.type, a.response) for a in m.attendees] == [
        ("jane.doe@acme.example", "required", "accepted"), ("bob@gmail.com", "optional", "none"),
        ("sam@firm.example", "required", "accepted")]
    assert m.contactIds == [contact_id("jane.doe@acme.example"), contact_id("bob@gmail.com")]
    assert m.accountIds == [account_id("acme.example")]
    ix = only(c)
    assert ix.channel == "meeting" and ix.direction == "outbound" and ix.at == m.start
    assert ix.id == Interaction.id_for("graph-event", f"{OWNER.oid}:AAMkEv1")


def test_event_organized_by_a_client_is_inbound_and_internal_only_is_internal() -> None:
    c = map_event(event(organizer=addr("jane.doe@acme.example", "Jane Doe"), attendees=[]), firm=FIRM, owner=OWNER)
    assert only(c).direction == "inbound" and c.meetings[0].organizerEmail == "jane.doe@acme.example"
    internal = map_event(event(attendees=[{**addr("sam@firm.example", "Sam"), "type": "required"}]), firm=FIRM,
                         owner=OWNER)
    assert only(internal).direction == "internal" and internal.meetings[0].contactIds == []


def test_series_master_is_skipped_occurrences_kept() -> None:
    assert map_event(event(type="seriesMaster"), firm=FIRM, owner=OWNER).skipped
    occ = map_event(event("occ1", type="occurrence", seriesMasterId="master1"), firm=FIRM, owner=OWNER)
    assert occ.meetings[0].seriesMasterId == "master1" and len(occ.interactions) == 1


# --- merging and counsel moves ---------------------------------------------------------------


def contact(email: str, name: str, first: datetime, *, owners: list[Owner] | None = None) -> Contact:
    domain = email.rpartition("@")[2]
    return Contact.new(TID, email, name=name, accountId=None if is_free_mail(domain) else account_id(domain),
                       owners=owners or [], firstSeen=first, lastSeen=first)


def test_merge_contact_keeps_owner_visibility_and_what_the_firm_set() -> None:
    t1, t2 = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    stored = contact("jane.doe@acme.example", "Jane Doe", t1,
                     owners=[Owner(oid=OWNER.oid, name="Ann Lee", visibility="private", since=t1, lastTouch=t1)])
    stored.title, stored.phone = "Head of IP", "+44 1"
    seen = contact("jane.doe@acme.example", "jane.doe@acme.example", t2,
                   owners=[Owner(oid=OWNER.oid, name="Ann Lee", since=t2, lastTouch=t2),
                           Owner(oid="oid-2", name="Bo", since=t2, lastTouch=t2)])
    merged = merge_contact(stored, seen)
    assert merged.name == "Jane Doe" and merged.title == "Head of IP" and merged.phone == "+44 1"
    assert merged.firstSeen == t1 and merged.lastSeen == t2
    owners = {o.oid: o for o in merged.owners}
    assert owners[OWNER.oid].visibility == "private" and owners[OWNER.oid].since == t1
    assert owners[OWNER.oid].lastTouch == t2
    assert owners["oid-2"].visibility == "firm"
    assert stored.owners[0].lastTouch == t1  # pure: the input is untouched


def test_merge_contact_caps_last_touch_at_now() -> None:
    past, future = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    stored = contact("a@acme.example", "A B", past, owners=[Owner(oid="o", name="O", lastTouch=past)])
    seen = contact("a@acme.example", "A B", future, owners=[Owner(oid="o", name="O", lastTouch=future)])
    merged = merge_contact(stored, seen, now=datetime(2026, 6, 1, tzinfo=UTC))
    assert merged.lastSeen == past and merged.owners[0].lastTouch == past


def test_counsel_move_signal() -> None:
    old = contact("jane.doe@oldco.example", "Jane Doe", datetime(2024, 1, 1, tzinfo=UTC))
    new = contact("jane.doe@newco.example", "Jane Doe", datetime(2026, 1, 1, tzinfo=UTC))
    sigs = counsel_moves([new, old])
    assert len(sigs) == 1
    s = sigs[0]
    assert s.kind == "counsel_move" and s.contactId == new.id
    assert s.fromValue == "jane.doe@oldco.example" and s.toValue == "jane.doe@newco.example"
    assert set(s.accountIds) == {account_id("oldco.example"), account_id("newco.example")}
    assert "newco.example" in s.summary
    # a function of the group alone: the same signal whatever order the contacts come in
    assert counsel_moves([old, new]) == sigs


def test_no_counsel_move_for_same_company_or_free_mail() -> None:
    t0, t1 = datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    a = contact("jane.doe@oldco.example", "Jane Doe", t0)
    same_co = contact("jdoe@oldco.example", "Jane Doe", t1)
    gmail = contact("jane.doe@gmail.com", "Jane Doe", t1)
    new = contact("jane.doe@newco.example", "Jane Doe", t1)
    assert counsel_moves([a, same_co]) == []
    assert counsel_moves([a, gmail]) == []
    assert counsel_moves([a]) == []
    assert len(counsel_moves([a, gmail, same_co, new])) == 1


def test_counsel_moves_chain() -> None:
    a = contact("jane.doe@one.example", "Jane Doe", datetime(2022, 1, 1, tzinfo=UTC))
    b = contact("jane.doe@two.example", "Jane Doe", datetime(2024, 1, 1, tzinfo=UTC))
    c = contact("jane.doe@three.example", "Jane Doe", datetime(2026, 1, 1, tzinfo=UTC))
    assert [(s.fromValue, s.toValue) for s in counsel_moves([c, a, b])] == [
        ("jane.doe@one.example", "jane.doe@two.example"), ("jane.doe@two.example", "jane.doe@three.example")]


def test_automated_senders_and_rooms_are_not_contacts() -> None:
    c = map_message(message(frm=addr("no-reply@acme.example", "ACME Portal"),
                            cc=[addr("notifications+tm@acme.example"), addr("noreply.filing@euipo.example")]),
                    firm=FIRM, owner=OWNER, folder="inbox")
    assert c.contacts == [] and c.accounts == []
    ix = only(c)  # still one interaction: the mail happened
    assert ix.contactIds == [] and "no-reply@acme.example" in ix.participants
    assert map_message(message(frm=addr("noreen@acme.example", "Noreen Ali")), firm=FIRM, owner=OWNER,
                       folder="inbox").contacts[0].email == "noreen@acme.example"
    room = {**addr("boardroom@hotel.example", "Boardroom 2"), "type": "resource", "status": {"response": "accepted"}}
    ev = map_event(event(attendees=[room]), firm=FIRM, owner=OWNER)
    assert ev.meetings[0].contactIds == [] and ev.meetings[0].attendees[0].type == "resource"


def test_subjects_are_cleaned_as_text_not_reordered_like_names() -> None:
    # "Doe, Jane" -> "Jane Doe" is for display names only; a subject keeps its words in order.
    ix = only(map_message(message("S1", subject="Invoice,\u200b  Acme\u202e"), firm=FIRM, owner=OWNER,
                          folder="inbox"))
    assert ix.subject == "Invoice, Acme"
    odd = map_message(message("S2", subject=None, frm=addr("raj@acme.example", 42)), firm=FIRM, owner=OWNER,
                      folder="inbox")
    assert odd.interactions[0].subject == "" and odd.sightings[0][2] == ""  # a non-text name is no name
