"""Enquiry intake: the classification on a generated mailbox, through the Graph stand-in and capture.

A partner's mailbox with a history (clients, vendors, foreign associates), then a day of new mail
with planted noise: newsletters (Outlook's Other pile, no-reply senders), auto-replies and
out-of-office notices, bounces, internal forwards of client mail, replies in old threads, mass
mail, mail from known clients, a foreign associate's new person, and real first mails from new
people (a few of them written as "Re:" or sent to an address list, which the conservative rule
misses on purpose). Precision and recall are printed; the thresholds asserted are stated below.
Also the pure rule on single messages (headers that only a single-message read returns).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from rapport.capture.sync import sync_mailbox
from rapport.pipeline.intake import classify, is_thread_start
from rapport.records import Account, Enquiry, Tenant, contact_id

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
MIN_PRECISION = 0.95  # a false enquiry pings a partner for hours: almost never
MIN_RECALL = 0.85  # a missed one can be logged by hand; the planted misses are the conservative cases


async def test_classification_on_a_generated_mailbox(capture_store, graph, graph_standin, graph_firm):
    rng = random.Random(16)
    firm = await graph_firm("t-intake", "firm.example", ["anna", "ben"])
    anna, ben = firm.partners
    box = anna.mailbox
    store = capture_store
    await store.put(Account.new(firm.id, "assoc.example", name="Associates", kind="foreign_associate"))
    clients = [f"c{i}@client{i % 7}.example" for i in range(30)]
    for i, c in enumerate(clients):  # history: known correspondents
        graph_standin.put_message(box, "inbox", sender=c, to=[anna.person.upn], subject=f"Matter {i}",
                                  at=T0 - timedelta(days=3 + i), conversation=f"old-{i}")
    graph_standin.put_message(box, "inbox", sender="partner@assoc.example", to=[anna.person.upn], subject="Filing",
                              at=T0 - timedelta(days=9))
    for p in firm.partners:
        await sync_mailbox(store, graph, firm.tenant, p.person, kinds=("messages",), now=T0 - timedelta(days=1))

    truth: set[str] = set()
    planted: dict[str, int] = {}

    def at() -> datetime:
        return T0 + timedelta(minutes=rng.randint(1, 600))

    def plant(kind: str, n: int, make) -> None:
        planted[kind] = n
        for k in range(n):
            make(k)

    def real(k):
        a = f"new{k}@prospect{k}.example"
        truth.add(contact_id(a))
        graph_standin.put_message(box, "inbox", sender=a, sender_name=f"New Person{k}", to=[anna.person.upn],
                                  subject=rng.choice(["Trade mark question", "Can you help with a filing?",
                                                      "Opposition against our mark", "Enquiry"]), at=at())

    def real_as_reply(k):  # a new person writing "Re:" (e.g. answering a newsletter): missed on purpose
        a = f"odd{k}@oddball{k}.example"
        truth.add(contact_id(a))
        graph_standin.put_message(box, "inbox", sender=a, to=[anna.person.upn], subject="Re: IP weekly", at=at(),
                                  reply=True)

    def real_to_the_mailbox(k):  # sent to the firm's enquiries mailbox (not captured): counted as a miss here
        a = f"shared{k}@viamailbox{k}.example"
        truth.add(contact_id(a))
        graph_standin.put_message(box, "inbox", sender=a, to=["info@firm.example", "list@firm.example"] + [
            f"x{j}@firm.example" for j in range(10)], subject="Enquiry", at=at())

    plant("new people writing to a partner", 40, real)
    plant("new people writing 'Re:'", 3, real_as_reply)
    plant("new people writing to a long list", 2, real_to_the_mailbox)
    plant("newsletters (Other)", 25, lambda k: graph_standin.put_message(
        box, "inbox", sender=f"editor@news{k}.example", to=[anna.person.upn], subject=f"Weekly digest {k}", at=at(),
        inference="other"))
    plant("no-reply notices", 15, lambda k: graph_standin.put_message(
        box, "inbox", sender=f"no-reply@service{k}.example", to=[anna.person.upn], subject="Your invoice", at=at()))
    plant("auto-replies", 20, lambda k: graph_standin.put_message(
        box, "inbox", sender=f"away{k}@elsewhere{k}.example", to=[anna.person.upn],
        subject=rng.choice(["Automatic reply: Matter", "Out of Office: Filing", "Abwesenheitsnotiz: Termin",
                            "Undeliverable: Renewal"]), at=at()))
    plant("bounces", 5, lambda k: graph_standin.put_message(
        box, "inbox", sender=f"mailer-daemon@mx{k}.example", to=[anna.person.upn], subject="Delivery failure", at=at()))
    plant("internal forwards", 15, lambda k: graph_standin.put_message(
        box, "inbox", sender=ben.person.upn, to=[anna.person.upn], subject=f"FW: {clients[k]} question", at=at()))
    plant("replies in old threads from new people cc'd", 10, lambda k: graph_standin.put_message(
        box, "inbox", sender=f"cc{k}@client{k % 7}.example", to=[anna.person.upn], subject=f"RE: Matter {k}",
        at=at(), reply=True, conversation=f"old-{k}"))
    plant("known clients writing again", 30, lambda k: graph_standin.put_message(
        box, "inbox", sender=clients[k], to=[anna.person.upn], subject="New matter", at=at()))
    plant("a foreign associate's new person", 5, lambda k: graph_standin.put_message(
        box, "inbox", sender=f"junior{k}@assoc.example", to=[anna.person.upn], subject="Instruction", at=at()))
    plant("mass mail to many", 5, lambda k: graph_standin.put_message(
        box, "inbox", sender=f"events{k}@conference{k}.example", to=[f"p{j}@firm.example" for j in range(20)],
        subject="Join us at INTA", at=at()))
    plant("old mail from new people (outside the window)", 5, lambda k: graph_standin.put_message(
        box, "inbox", sender=f"late{k}@slow{k}.example", to=[anna.person.upn], subject="Question",
        at=T0 - timedelta(days=5)))

    await sync_mailbox(store, graph, firm.tenant, anna.person, kinds=("messages",), now=T0 + timedelta(hours=11))
    found = {e.contactId for e in await store.find_all(Enquiry, firm.id)}
    tp = len(found & truth)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(truth)
    print(f"\nintake on a generated mailbox: {sum(planted.values())} new mails "
          f"({', '.join(f'{n} {k}' for k, n in planted.items())})")
    print(f"enquiries opened {len(found)}, true {len(truth)}: precision {precision:.3f} (>= {MIN_PRECISION}), "
          f"recall {recall:.3f} (>= {MIN_RECALL})")
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL
    # Each enquiry says why, in words.
    assert all(e.reason.startswith("new sender") for e in await store.find_all(Enquiry, firm.id))


FIRM = Tenant(id="t", tenantId="t", name="Firm", domains=["firm.example"])


def msg(**kw):
    base = {"id": "m1", "from": {"emailAddress": {"address": "a@b.example", "name": "A B"}},
            "toRecipients": [{"emailAddress": {"address": "anna@firm.example"}}], "subject": "Hello"}
    base.update(kw)
    return base


def test_the_rule_reads_headers_when_a_caller_has_them_and_explains_itself():
    assert classify(msg(), FIRM, "anna@firm.example").why == "first thread"
    for headers, why in (
        ([{"name": "List-Unsubscribe", "value": "<mailto:u@b.example>"}], "mailing list"),
        ([{"name": "Auto-Submitted", "value": "auto-replied"}], "automatic reply or notice"),
        ([{"name": "Precedence", "value": "bulk"}], "bulk mail"),
        ([{"name": "X-Autoreply", "value": "yes"}], "automatic reply or notice"),
    ):
        v = classify(msg(internetMessageHeaders=headers), FIRM, "anna@firm.example")
        assert not v.enquiry and v.why == why
    assert classify(msg(internetMessageHeaders=[{"name": "Auto-Submitted", "value": "no"}]), FIRM,
                    "anna@firm.example").enquiry
    assert classify(msg(isDraft=True), FIRM, "anna@firm.example").why == "not a received mail"
    assert classify(msg(**{"from": {"emailAddress": {"address": "x@firm.example"}}}), FIRM,
                    "anna@firm.example").why == "from inside the firm"
    assert classify(msg(**{"from": None}), FIRM, "anna@firm.example").why == "no sender"
    assert classify("junk", FIRM, "anna@firm.example").enquiry is False  # type: ignore[arg-type]


def test_conversation_index_tells_a_thread_start_from_a_reply():
    import base64

    assert is_thread_start({"conversationIndex": base64.b64encode(b"x" * 22).decode()}) is True
    assert is_thread_start({"conversationIndex": base64.b64encode(b"x" * 27).decode()}) is False
    assert is_thread_start({"conversationIndex": "%%%"}) is None and is_thread_start({}) is None
    # The index wins over the subject: a "RE:" that starts a thread is still a thread start.
    start = base64.b64encode(b"x" * 22).decode()
    assert classify(msg(subject="RE: hello", conversationIndex=start), FIRM, "anna@firm.example").enquiry
