"""`rapport contact forget EMAIL`: one outside person erased, and kept from being captured again.

- Through the Graph stand-in: mail and meetings with the person are captured, the person is
  forgotten, then mail keeps arriving (a delta sync, then a full resync after the delta link
  expires): nothing of them comes back, while the people they wrote with stay.
- Property (hypothesis, canaries): after forget, no output carries the person's address or name:
  the sidebar, the brief (HTTP and rapport.briefs.build), the bot's answers and card refreshes,
  and the firm's export; and the sidebar asked about their address answers exactly as for an
  address never seen. The same outputs did carry them before (the test can fail).
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from local.commands.firmdata import forget_command
from rapport import briefs
from rapport.capture import sync
from rapport.firmdata import Refused
from rapport.firmdata.forget import forget_contact
from rapport.firmdata.portability import export_tenant
from rapport.records import (
    FAMILIES,
    Account,
    Attendee,
    AuditEvent,
    Contact,
    Draft,
    Enquiry,
    Interaction,
    Meeting,
    Owner,
    Person,
    Signal,
    Suppression,
    Tenant,
    account_id,
    contact_id,
    utcnow,
)
from rapport.settings import load_settings
from rapport.store import ScopedStore, Store
from rapport.store.sqlite import SqliteBackend
from tests.test_visibility_properties import FIRM_DOMAIN, PARTNERS, TEAMS, TENANT, VIEWER, surfaces  # noqa: F401

NOW = datetime.now(UTC).replace(microsecond=0)
JANE, JANE_NAME = "jane.roe@client.test", "Jane Roe"
BOB = "bob.smith@client.test"


async def everything(store: Store, tenant_id: str) -> str:
    """Every stored document of the firm, as text."""
    out = []
    for family in FAMILIES:
        after = None
        while True:
            page = await store.scan(tenant_id, family, after=after)
            out += page.items
            if page.cursor is None:
                break
            after = page.cursor
    return "\n".join(out)


def carries_jane(text: str) -> bool:
    t = text.lower()
    return "jane" in t or "roe" in t.replace("roes", "")


async def test_forget_removes_and_suppresses_through_the_graph_standin(capture_store, graph, graph_standin, graph_firm):
    firm = await graph_firm("t-a", "firm-a.test", ["ann"])
    mb = firm.partners[0].mailbox
    graph_standin.put_message(mb, "inbox", sender=JANE, sender_name=JANE_NAME, to=[mb.upn], subject="Jane Roe: filing",
                              at=NOW - timedelta(days=2))
    graph_standin.put_message(mb, "inbox", sender=BOB, sender_name="Bob Smith", to=[mb.upn], cc=[JANE],
                              subject="our mark, with Jane Roe", at=NOW - timedelta(days=1))
    graph_standin.put_message(mb, "sentitems", sender=mb.upn, to=[BOB], subject="hello Bob", at=NOW - timedelta(hours=5))
    alone = graph_standin.put_event(mb, subject="call", start=NOW + timedelta(days=1), attendees=[JANE])
    graph_standin.put_event(mb, subject="Bob and Jane Roe", start=NOW + timedelta(days=2), attendees=[JANE, BOB])
    await sync.sync_tenant(capture_store, graph, "t-a")
    assert (await capture_store.contact_by_email("t-a", JANE)).name == JANE_NAME
    await capture_store.put_many([
        Draft(id="dr-jane", tenantId="t-a", ownerOid=mb.oid, to=[JANE], subject="Following up", body="Dear Jane Roe"),
        Draft(id="dr-bob", tenantId="t-a", ownerOid=mb.oid, to=[BOB], subject="Following up",
              body="Dear Bob, as Jane Roe said"),
        Signal(id="sg-jane", tenantId="t-a", contactId=contact_id(JANE), summary="Jane Roe moved"),
    ])
    assert carries_jane(await everything(capture_store, "t-a"))

    report = await forget_contact(capture_store, "t-a", JANE)
    assert report.counts["contacts deleted"] == 1 and report.counts["drafts deleted"] == 1
    assert report.counts["interactions deleted"] == 2 and report.counts["interactions scrubbed"] == 2
    assert report.counts["meetings deleted"] == 1 and report.counts["meetings scrubbed"] == 1
    text = await everything(capture_store, "t-a")
    assert not carries_jane(text), [line for line in text.splitlines() if carries_jane(line)]
    # The others stay: Bob, his mail (scrubbed of Jane), the draft to him.
    assert (await capture_store.contact_by_email("t-a", BOB)).name == "Bob Smith"
    bobs = (await capture_store.interactions_for_contact("t-a", contact_id(BOB))).items
    assert sorted(i.subject for i in bobs) == ["Bob and [removed]", "hello Bob", "our mark, with [removed]"]
    assert (await capture_store.get(Draft, "t-a", "dr-bob")).body == "Dear Bob, as [removed] said"
    (audit,) = [a for a in await capture_store.find_all(AuditEvent, "t-a") if a.action == "contact.forgotten"]
    assert audit.targetId == Suppression.id_for("t-a", JANE) and not carries_jane(audit.model_dump_json())

    # Mail keeps coming: a delta sync, then a full resync (expired delta link) re-reads everything.
    graph_standin.put_message(mb, "inbox", sender=JANE, sender_name=JANE_NAME, to=[mb.upn], subject="Jane again")
    graph_standin.put_message(mb, "inbox", sender="JANE.ROE@Client.Test", to=[mb.upn, BOB], subject="to both")
    graph_standin.put_event(mb, subject="moved", start=NOW + timedelta(days=1, hours=2), attendees=[JANE],
                            event_id=alone["id"])
    await sync.sync_tenant(capture_store, graph, "t-a")
    assert not carries_jane(await everything(capture_store, "t-a"))
    graph_standin.expire_delta(mb)
    await sync.sync_tenant(capture_store, graph, "t-a")
    text = await everything(capture_store, "t-a")
    assert not carries_jane(text), [line for line in text.splitlines() if carries_jane(line)]
    assert await capture_store.contact_by_email("t-a", JANE) is None
    subjects = sorted(i.subject for i in (await capture_store.interactions_for_contact("t-a", contact_id(BOB))).items)
    # The mail to Bob as well is kept, without Jane: mail an erased person took part in is captured
    # without its subject (it may name them), and the mail with Bob alone as it was.
    assert subjects == ["", "", "", "hello Bob"]


async def test_forget_command_refuses_bad_input(tmp_path, capsys):
    settings = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "f.db")})
    store = await Store(SqliteBackend(settings.sqlite_path)).open()
    try:
        await store.put_tenant(Tenant(id="t-a", tenantId="t-a", name="A", domains=["firm-a.test"]))
        await store.put(Person(id="oid-1", tenantId="t-a", oid="oid-1", upn="ann@elsewhere.test", name="Ann"))
        await store.put(Contact.new("t-a", JANE, name=JANE_NAME))
    finally:
        await store.close()
    assert await forget_command(settings, "t-a", "not an address") == 2
    assert await forget_command(settings, "t-a", "partner@firm-a.test") == 2  # the firm's own
    assert await forget_command(settings, "t-a", "ann@elsewhere.test") == 2  # a member of the firm
    assert await forget_command(settings, "t-unknown", JANE) == 2
    assert "firm's own" in capsys.readouterr().err
    assert await forget_command(settings, "t-a", JANE.upper()) == 0
    assert "contacts deleted 1" in capsys.readouterr().out
    with pytest.raises(Refused):
        await forget_contact(Store(None), "_rapport-system", JANE)  # never a system partition


# --- property: after forget, no output carries the person ------------------------------------------

_examples = itertools.count()
people = st.fixed_dictionaries({
    "mails": st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=4),  # (with Q too, name in subject)
    "meeting_with_q": st.booleans(),
    "drafts": st.lists(st.sampled_from(["to_p", "to_q_mentions_p", "to_q"]), max_size=3),
    "signal": st.booleans(),
    "enquiry": st.booleans(),
})


def world(w: dict, ex: int) -> tuple[list, dict]:
    now = utcnow()
    domain = f"client-ex{ex}.test"
    acct = account_id(domain)
    p_email, p_name = f"zeta{ex}.canary@{domain}", f"Zeta{ex} Canaryperson"
    q_email, q_name = f"quinn{ex}@{domain}", f"Quinn{ex} Keeper"
    p, q = contact_id(p_email), contact_id(q_email)
    firm = [Owner(oid=VIEWER, name="Ada Partner", visibility="firm")]
    recs: list = [
        Tenant(id=TENANT, tenantId=TENANT, name="Firm A", domains=[FIRM_DOMAIN]),
        *[Person(id=o, tenantId=TENANT, oid=o, upn=f"u{n}@{FIRM_DOMAIN}", name=f"Partner {n}", team=TEAMS[o])
          for n, o in enumerate(PARTNERS)],
        Account.new(TENANT, domain, name=f"Client {ex}", kind="client"),
        Contact.new(TENANT, p_email, name=p_name, title="Head of IP", accountId=acct, owners=firm,
                    lastSeen=now - timedelta(days=1)),
        Contact.new(TENANT, q_email, name=q_name, title="Counsel", accountId=acct, owners=firm,
                    lastSeen=now - timedelta(days=1)),
    ]
    for k, (with_q, named) in enumerate(w["mails"]):
        recs.append(Interaction(
            id=f"ix-f{ex}-{k}", tenantId=TENANT, channel="email", at=now - timedelta(days=1 + k), ownerOid=VIEWER,
            subject=f"About {p_name}" if named else f"Mark {k}", contactIds=[p, q] if with_q else [p],
            accountIds=[acct], participants=[p_email, q_email] if with_q else [p_email]))
    attendees = [Attendee(email=p_email, name=p_name)] + ([Attendee(email=q_email, name=q_name)]
                                                          if w["meeting_with_q"] else [])
    coming = Meeting(id=Meeting.id_for(VIEWER, f"fg{ex}"), tenantId=TENANT, eventId=f"fg{ex}", organizerOid=VIEWER,
                     subject=f"Call with {p_name}", start=now + timedelta(hours=3), end=now + timedelta(hours=4),
                     attendees=attendees, contactIds=[a for a, ok in ((p, True), (q, w["meeting_with_q"])) if ok],
                     accountIds=[acct])
    recs.append(coming)
    for k, kind in enumerate(w["drafts"]):
        recs.append(Draft(id=f"dr-f{ex}-{k}", tenantId=TENANT, ownerOid=VIEWER, accountIds=[acct],
                          to=[p_email] if kind == "to_p" else [q_email], subject="Following up",
                          body=f"Dear {q_name}, as {p_name} said" if kind == "to_q_mentions_p" else "Dear all"))
    if w["signal"]:
        recs.append(Signal(id=f"sg-f{ex}", tenantId=TENANT, contactId=p, accountIds=[acct],
                           summary=f"{p_name} now writes from {domain}", fromValue=f"zeta{ex}@old.test",
                           toValue=p_email, at=now - timedelta(days=2)))
    if w["enquiry"]:
        recs.append(Enquiry(id=f"enq-f{ex}", tenantId=TENANT, accountId=acct, contactId=p, ownerOid=VIEWER,
                            subject=f"Enquiry from {p_name}", receivedAt=now - timedelta(days=1)))
    return recs, {"p": (p_email, p_name), "q": (q_email, q_name), "domain": domain, "coming": coming,
                  "drafts": len(w["drafts"]), "ex": ex}


async def outputs(s, store: Store, h: dict, out_dir: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    auth = {"Authorization": f"Bearer {s.dev_token()}"}
    for who in ("p", "q"):
        async with s.http.get(s.host.base_url + "/api/addin/context", params={"email": h[who][0]}, headers=auth) as r:
            assert r.status == 200, await r.text()
            out[f"sidebar {who}"] = await r.text()
    async with s.http.get(s.host.base_url + "/api/addin/brief", params={"eventId": h["coming"].eventId},
                          headers=auth) as r:
        out["brief http"] = await r.text()
    out["briefs.build"] = repr(await briefs.build(ScopedStore(store, TENANT, VIEWER), h["coming"].id, utcnow()))
    sent = len(s.bot.connector.sent)
    for text in (f"brief Client {h['ex']}", f"brief {h['domain']}", "my follow-ups"):
        resp = await s.bot.post(s.bot.activity(text=text))
        assert resp.status_code in (200, 201, 202)
    answers = []
    for verb, data in [("followup.refresh", {"draftId": f"dr-f{h['ex']}-{k}", "version": 1}) for k in range(h["drafts"])]:
        resp = await s.bot.post(s.bot.activity(kind="invoke", name="adaptiveCard/action", text=None, value={
            "action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}))
        answers.append(resp.get_body().decode())
    out["bot"] = json.dumps([x.activity for x in s.bot.connector.sent[sent:]]) + " ".join(answers)
    await export_tenant(store, TENANT, out_dir)
    out["export"] = "\n".join(p.read_text() for p in sorted(out_dir.iterdir()))
    return out


@given(w=people)
@hsettings(max_examples=6, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
async def test_after_forget_no_output_carries_the_person(surfaces, tmp_path, w):  # noqa: F811
    ex = next(_examples)
    store = surfaces.bot.store
    recs, h = world(w, ex)
    await store.put_many(recs)
    (p_email, p_name), (_, q_name) = h["p"], h["q"]
    canaries = [p_email, p_name, p_email.split("@")[0], p_name.split()[1]]

    def leaks(text: str) -> list[str]:
        return [c for c in canaries if c.lower() in text.lower()]

    before = await outputs(surfaces, store, h, tmp_path / f"before-{ex}")
    assert leaks(before["sidebar p"]) and leaks(before["brief http"]) and leaks(before["export"])  # it can fail
    await forget_contact(store, TENANT, p_email)
    after = await outputs(surfaces, store, h, tmp_path / f"after-{ex}")
    for where, text in after.items():
        if where != "sidebar p":
            assert not leaks(text), (where, leaks(text))
    # Asked about their address, the sidebar answers as for an address it never saw (but the asked address).
    nobody = f"nobody{ex}@{h['domain']}"
    async with surfaces.http.get(surfaces.host.base_url + "/api/addin/context", params={"email": nobody},
                                 headers={"Authorization": f"Bearer {surfaces.dev_token()}"}) as r:
        unknown = await r.text()
    def same(text: str, address: str) -> str:  # the asked address and the answer's own clock aside
        return re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "T", text.replace(address, "X"))

    assert same(after["sidebar p"], p_email) == same(unknown, nobody)
    # The other person stays.
    assert q_name in after["sidebar q"] and q_name in after["export"]
