"""The pure readers behind counsel moves from mail text: signatures (rapport.capture.signatures), non-delivery
reports (rapport.capture.bounces), and what two signature reads mean (rapport.capture.readers.judge).

Varied real-world signature shapes, read conservatively (no detection beats a false one); property tests:
any text is read without error or blow-up, a mail's body before its signature changes nothing, a link or
address planted in a signature never comes out as a title or company nor reaches the congratulations note,
and every report style names exactly its address (and a full mailbox none).
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from rapport.capture.bounces import authoritative, bounced_addresses, is_report
from rapport.capture.readers import judge
from rapport.capture.signatures import FACT_CHARS, SignatureFacts, company_key, parse_signature, same_company
from rapport.drafting.safety import links_in
from rapport.records import SignatureSeen, utcnow
from rapport.relationships.moves import congratulations
from tests.doubles.graph_server import ndr_text
from tests.test_outsider_text import assert_no_canary, hostile

PROPERTY = hsettings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

BODY = "Hi Ann,\n\nThanks for the draft. Comments attached; happy to discuss on Friday.\n\n"

SIGNATURES = [
    # (mail text after the body, name, expected (title, company) or None)
    ("Best regards,\nJane Doe\nGeneral Counsel\nAcme Ltd\nT: +44 20 7946 0000\nwww.acme.example",
     "Jane Doe", ("General Counsel", "Acme Ltd")),
    ("Kind regards\n\nJane Doe | Head of IP | Kestrel Therapeutics\nM: +44 7700 900123", "Jane Doe",
     ("Head of IP", "Kestrel Therapeutics")),
    ("Cheers,\nJane Doe\nGeneral Counsel at Newco\n", "Jane Doe", ("General Counsel", "Newco")),
    ("Regards\nDr. Jane A. Doe, LL.M.\nSenior Patent Attorney, Europe\n\n1 Main Street", "Jane Doe",
     ("Senior Patent Attorney, Europe", "")),
    ("Mit freundlichen Grüßen\n\nJürgen Müller\nLeiter Patente / Head of Patents\nBeispiel GmbH\nTel. +49 89 1234567",
     "Jürgen Müller", ("Head of Patents", "Beispiel GmbH")),
    ("Thanks,\nJANE DOE\nVP, Legal & IP\nAcme Pharmaceuticals Inc.\n", "Jane Doe", ("VP, Legal & IP", "Acme Pharmaceuticals Inc.")),
    ("Best,\nJane Doe\nHead of IP, Acme Ltd\n", "Jane Doe", ("Head of IP", "Acme Ltd")),
    ("Regards\nJane Doe\nGeneral Counsel\nAcme\n", "Jane Doe", ("General Counsel", "Acme")),  # `known` names Acme
    # Conservative: nothing read.
    ("Best,\nJane", "Jane Doe", None),  # a first name only
    ("Regards\nJane Doe\nLondon\n", "Jane Doe", None),  # a place is no company, no title here
    ("Regards\nJane Doe\n", "Jane Doe", None),
    ("Sent from my iPhone", "Jane Doe", None),
    ("I spoke with Jane Doe yesterday about\nthe Head of IP role at Oldco Ltd.", "Jane Doe", None),
    ("Regards\nJane Doe\nGeneral Counsel\n", "Jane", None),  # a one-word name finds nothing
    # A quoted mail below: its signature is someone else's old one.
    ("Thanks\n\n-----Original Message-----\nFrom: Jane Doe\nJane Doe\nGeneral Counsel\nOldco Ltd", "Jane Doe", None),
    ("On Mon, 3 Mar 2026 at 10:00, Jane Doe wrote:\n> Jane Doe\n> General Counsel\n> Oldco Ltd", "Jane Doe", None),
    # A title line with a link or address in it is a contact line: read as nothing.
    ("Regards\nJane Doe\nGeneral Counsel evil.example/login\nAcme Ltd", "Jane Doe", None),
    ("Regards\nJane Doe\nGeneral Counsel\nattacker@evil.example Ltd", "Jane Doe", ("General Counsel", "")),
    # A disclaimer under the signature is no part of it.
    ("Best regards,\nJane Doe\nHead of Trade Marks\nAcme Ltd\n\nThis email is confidential. If you are not the "
     "intended recipient, Acme Holdings Ltd asks you to delete it.", "Jane Doe", ("Head of Trade Marks", "Acme Ltd")),
]


@pytest.mark.parametrize(("tail", "name", "expected"), SIGNATURES)
def test_signature_shapes(tail: str, name: str, expected: tuple[str, str] | None) -> None:
    facts = parse_signature(BODY + tail, name, known=("Acme",))
    assert (None if facts is None else (facts.title, facts.company)) == expected


def test_not_a_str_or_an_empty_body_is_nothing() -> None:
    for text in (None, "", 3, b"Jane Doe\nGeneral Counsel"):
        assert parse_signature(text, "Jane Doe") is None  # type: ignore[arg-type]
    assert parse_signature("Jane Doe\nGeneral Counsel", None) is None  # type: ignore[arg-type]


def test_companies_and_titles_compare_as_people_mean_them() -> None:
    assert company_key("The Acme Group plc") == "acme group" and company_key("ACME Limited") == "acme"
    assert same_company("Acme Ltd", "ACME Limited") and same_company("Acme", "Acme Pharma UK")
    assert same_company("Smith & Co LLP", "Smith and Co") and same_company("", "Anything")
    assert not same_company("Oldco Ltd", "Newco Therapeutics")
    seen = SignatureSeen(title="Head of IP", company="Oldco Ltd", checkedAt=utcnow())
    assert judge(None, SignatureFacts("General Counsel", "Newco")) is None  # the first read: a baseline
    assert judge(seen, None) is None and judge(seen, SignatureFacts("", "")) is None
    assert judge(seen, SignatureFacts("General Counsel", "Newco Ltd")) == "move"
    assert judge(seen, SignatureFacts("General Counsel", "OLDCO LIMITED")) == "title"
    assert judge(seen, SignatureFacts("General Counsel", "")) == "title"  # no company read: the same address
    assert judge(seen, SignatureFacts("Head of IP, Europe", "Oldco")) is None  # a region is no new title
    assert judge(seen, SignatureFacts("", "Newco Ltd")) == "move"


_LOWER = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,.;:!?\n", max_size=400)


@given(body=_LOWER, sig=st.sampled_from([s for s in SIGNATURES if s[2] is not None]))
@PROPERTY
def test_property_the_body_before_the_signature_changes_nothing(body: str, sig: tuple) -> None:
    tail, name, _ = sig
    alone = parse_signature(BODY + tail, name, known=("Acme",))
    assert parse_signature(body + "\n\n" + BODY + tail, name, known=("Acme",)) == alone


@given(text=st.text(max_size=3000), name=st.sampled_from(["Jane Doe", "Zoë Müller", "O'Neil Smith", "A B"]))
@PROPERTY
def test_property_any_text_reads_without_error_and_facts_stay_short_plain_and_linkless(text: str, name: str) -> None:
    facts = parse_signature(text, name)
    for fact in (facts.title, facts.company) if facts else ():
        assert len(fact) <= FACT_CHARS and "\n" not in fact and not links_in(fact)


@given(planted=st.lists(hostile(), min_size=1, max_size=3), where=st.lists(st.integers(0, 3), min_size=3, max_size=3))
@PROPERTY
def test_property_a_link_or_address_in_a_signature_never_reaches_a_fact_or_the_note(planted, where) -> None:
    lines = ["Jane Doe", "General Counsel", "Newco Therapeutics", "T: +44 20 7946 0000"]
    for (link, _), at in zip(planted, where, strict=False):
        lines[at] = f"{lines[at]} {link}"
    facts = parse_signature(BODY + "Best regards,\n" + "\n".join(lines), "Jane Doe")
    canaries = [c for _, c in planted]
    title, company = (facts.title, facts.company) if facts else ("", "")
    subject, body = congratulations("Jane Doe", company, "Ann Partner")
    assert_no_canary(canaries, title, company, subject, body)


def test_long_and_hostile_text_is_read_fast() -> None:
    texts = ["Jane Doe\n" * 50_000, "a@" * 200_000, ("Regards\nJane Doe\n" + "General Counsel " * 20_000),
             ("x" * 100_000 + "\n") * 5, "On " + "x" * 500_000 + " wrote:"]
    for text in texts:
        started = time.perf_counter()
        parse_signature(text, "Jane Doe")
        bounced_addresses(text)
        assert time.perf_counter() - started < 1.0


# --- non-delivery reports ---------------------------------------------------------------------------

_ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}.example",
                     st.from_regex(r"[a-z][a-z0-9._-]{0,15}[a-z0-9]", fullmatch=True),
                     st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True))


@given(address=_ADDRESS, style=st.sampled_from(["exchange", "exchange-classic", "exim", "postfix"]))
@PROPERTY
def test_property_each_report_style_names_exactly_its_address(address: str, style: str) -> None:
    assert bounced_addresses(ndr_text(style, address)) == [address]


@given(address=_ADDRESS)
@PROPERTY
def test_property_a_full_mailbox_is_no_sign_of_a_move(address: str) -> None:
    assert bounced_addresses(ndr_text("exchange", address, reason="full")) == []


@given(text=st.text(max_size=2000))
@PROPERTY
def test_property_any_text_gives_only_addresses_it_holds(text: str) -> None:
    for address in bounced_addresses(text):
        assert address in text.lower() and "@" in address


def test_reports_are_told_by_their_metadata_and_only_their_mail_system_speaks_for_an_address() -> None:
    assert is_report("Undeliverable: Renewals", "postmaster@firm.example")
    assert is_report("Mail delivery failed: returning message to sender", "Mailer-Daemon@mx.oldco.example")
    assert is_report("Undeliverable: x", "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@firm.example")
    assert not is_report("Undeliverable: x", "jane@oldco.example")  # a person, not a mail system
    assert not is_report("RE: Undeliverable: x", "postmaster@firm.example")
    assert not is_report("Delivery delayed: x", "postmaster@firm.example")
    assert not is_report(None, "postmaster@firm.example")
    assert authoritative("postmaster@firm.example", "jane@oldco.example", ("firm.example",))
    assert authoritative("mailer-daemon@mx.oldco.example", "jane@oldco.example", ())
    assert not authoritative("mailer-daemon@oldco.example.evil.test", "jane@oldco.example", ("firm.example",))
    assert not authoritative("postmaster@evil.example", "jane@oldco.example", ("firm.example",))


def test_a_delay_or_a_block_is_no_bounce() -> None:
    assert bounced_addresses("Delivery has been delayed to jane@oldco.example. The server will retry.") == []
    assert bounced_addresses("Your message to jane@oldco.example couldn't be delivered. "
                             "550 5.7.1 blocked as spam; the user unknown to us") == []
    assert bounced_addresses("Your message to jane@oldco.example couldn't be delivered. "
                             "jane wasn't found at oldco.example.") == ["jane@oldco.example"]
