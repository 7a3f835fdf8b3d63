"""/dev/outbox as the demo screen, over HTTP on function_app's real triggers (DevHost, 127.0.0.1):

the demo firm's follow-up cards are in the local outbox -> POST /dev/outbox/action approves one as
the partner it went to (the bot's own verb handler, bot/dev_outbox.py) -> the work drain sends
exactly one mail to the outbox -> the card's thread shows "Sent". The route exists only with
RAPPORT_DEV_AUTH=1 on a loopback bind and a loopback Host; forged ids and other tenants' items 404.
And once in Chromium: click "Approve and send", see the mail arrive and the card say Sent.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from local.demo import DEMO_TENANT_ID
from local.host import DevHost, _demo_warm_up
from rapport import local_outbox, runtime, work
from rapport.cards.brief import VERB_REFRESH_BRIEF, VERB_SNOOZE_BRIEF
from rapport.cards.followup import VERB_APPROVE
from rapport.records import Draft, OutboxItem
from rapport.settings import Settings, load_settings
from rapport.store import Store, make_store
from tests.plugins.browser import OTHER_TENANT, save_screenshot, wants_screenshot

DOCS = Path(__file__).resolve().parents[1] / "docs"
ACTION = "/dev/outbox/action"
FEED = "/dev/outbox.json?view=cards"


@pytest.fixture(scope="session")
def outbox_db_template(demo_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo firm (plus the other firm) after `rapport serve --demo`'s warm-up: the timers the
    demo runs at start (briefs, follow-ups, the drain), so the outbox holds their cards."""
    path = tmp_path_factory.mktemp("outbox-template") / "rapport.db"
    shutil.copyfile(demo_db_template, path)
    settings = load_settings({"RAPPORT_SQLITE_PATH": str(path)})

    async def warm_up() -> None:
        store = make_store(settings)
        await store.open()
        try:
            async with DevHost(settings, store=store) as host:
                await _demo_warm_up(host)  # exactly what `rapport serve --demo` runs at start
        finally:
            await store.close()

    asyncio.run(warm_up())
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@dataclass
class Demo:
    host: DevHost
    store: Store
    http: aiohttp.ClientSession

    def url(self, path: str) -> str:
        return self.host.base_url + path

    async def feed(self) -> dict[str, Any]:
        async with self.http.get(self.url(FEED)) as r:
            assert r.status == 200
            return await r.json()

    async def act(self, outbox_id: Any, verb: str, data: dict[str, Any], **kw: Any) -> tuple[int, Any]:
        body = {"outboxId": outbox_id, "verb": verb, "data": data, "inputs": {}}
        async with self.http.post(self.url(ACTION), json=body, **kw) as r:
            return r.status, await r.json()


async def _start(tmp_path: Path, template: Path, env: dict[str, str]) -> tuple[DevHost, Store]:
    db = tmp_path / "rapport.db"
    shutil.copyfile(template, db)
    settings: Settings = load_settings({"RAPPORT_SQLITE_PATH": str(db), **env})
    store = make_store(settings)
    await store.open()
    host = DevHost(settings, store=store)
    await host.start()
    return host, store


@pytest.fixture
async def demo(tmp_path: Path, outbox_db_template: Path) -> AsyncIterator[Demo]:
    host, store = await _start(tmp_path, outbox_db_template, {"RAPPORT_DEV_AUTH": "1"})
    try:
        async with aiohttp.ClientSession() as http:
            yield Demo(host, store, http)
        await settle()
    finally:
        await host.stop()  # the host's services end with it: its bind, its validator
        await store.close()


async def settle() -> None:
    """Wait for the drains the approval kicked (work after the answer) to finish: no sleeps."""
    while work.kicks():
        await asyncio.gather(*work.kicks(), return_exceptions=True)


def actions(card: Any) -> list[dict[str, Any]]:
    out, stack = [], [card]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute":
                out.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


def texts(card: Any) -> str:
    out, stack = [], [card]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            out.extend(str(node[k]) for k in ("text", "title") if isinstance(node.get(k), str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return " ".join(out)


def approve_action(card: Any) -> dict[str, Any]:
    return next(a for a in actions(card) if a.get("verb") == VERB_APPROVE)


async def followup_cards(d: Demo) -> list[dict[str, Any]]:
    cards = [v for v in (await d.feed())["partner"]
             if v["tenantId"] == DEMO_TENANT_ID and any(a.get("verb") == VERB_APPROVE for a in actions(v["card"]))]
    assert len(cards) >= 2, "the demo should have follow-up cards waiting"
    return cards


async def mails(store: Store) -> list[OutboxItem]:
    return [i for i in await store.find_all(OutboxItem, DEMO_TENANT_ID) if i.channel == "mail"]


# --- the gate ------------------------------------------------------------------------------------

async def test_the_route_is_404_without_dev_auth(tmp_path, outbox_db_template):
    host, store = await _start(tmp_path, outbox_db_template, {})
    try:
        async with aiohttp.ClientSession() as http:
            d = Demo(host, store, http)
            for path in ("/dev/outbox", FEED):  # neither the page nor its feed (issue 12, finding 7)...
                async with http.get(d.url(path)) as r:
                    assert r.status == 404 and (await r.json())["error"]["message"] == "no such route"
            card = next(i for i in await store.find_all(OutboxItem, DEMO_TENANT_ID)
                        if i.card and any(a.get("verb") == VERB_APPROVE for a in actions(i.card)))
            data = approve_action(card.card)["data"]
            status, body = await d.act(card.id, VERB_APPROVE, data)
            assert status == 404 and body["error"]["message"] == "no such route"  # ...nor its buttons
            assert await mails(store) == []
            draft = await store.get(Draft, DEMO_TENANT_ID, data["draftId"])
            assert draft.state == "drafted"
    finally:
        await host.stop()
        await store.close()


async def test_the_route_is_404_off_loopback_and_refuses_cross_site_posts(demo: Demo):
    card = (await followup_cards(demo))[0]
    data = approve_action(card["card"])["data"]
    port = urlsplit(demo.host.base_url).port
    status, _ = await demo.act(card["id"], VERB_APPROVE, data, headers={"Host": f"rapport.example:{port}"})
    assert status == 404  # a DNS-rebinding page reaches this host under another name
    status, _ = await demo.act(card["id"], VERB_APPROVE, data, headers={"Origin": "https://evil.example"})
    assert status == 403
    raw = json.dumps({"outboxId": card["id"], "verb": VERB_APPROVE, "data": data})
    async with demo.http.post(demo.url(ACTION), data=raw, headers={"content-type": "text/plain"}) as r:
        assert r.status == 415  # a plain form post needs no preflight: refused
    with runtime.override(bind_host=None):  # as on Azure, where no host declares a loopback bind
        status, _ = await demo.act(card["id"], VERB_APPROVE, data)
    assert status == 404
    assert await mails(demo.store) == []


# --- the loop ------------------------------------------------------------------------------------

async def test_approve_sends_exactly_one_mail_and_the_card_shows_sent(demo: Demo):
    card = (await followup_cards(demo))[0]
    data = approve_action(card["card"])["data"]
    draft = await demo.store.get(Draft, DEMO_TENANT_ID, data["draftId"])
    assert draft.state == "drafted" and card["to"] == [(await demo.store.get_person(DEMO_TENANT_ID,
                                                                                    draft.ownerOid)).upn]

    status, body = await demo.act(card["id"], VERB_APPROVE, data)
    assert status == 200, body
    assert "Approved" in texts(body["card"]) and body["outboxId"] == card["id"]
    status, again = await demo.act(card["id"], VERB_APPROVE, data)  # a double click
    assert status == 200 and VERB_APPROVE not in {a.get("verb") for a in actions(again["card"])}
    await settle()
    await work.drain(demo.store)  # a later timer pass finds nothing more to send

    sent = await mails(demo.store)
    assert len(sent) == 1
    assert sent[0].subject == draft.subject and sent[0].to == draft.to and sent[0].fromOid == draft.ownerOid
    stored = await demo.store.get(Draft, DEMO_TENANT_ID, draft.id)
    assert stored.state == "sent" and stored.approvedBy == draft.ownerOid  # acted as the card's partner

    feed = await demo.feed()
    assert [m["id"] for m in feed["mail"]] == [sent[0].id] and feed["mail"][0]["body"] == sent[0].body
    thread = next(v for v in feed["partner"] if v["thread"] == card["thread"])
    assert thread["id"] != card["id"] and thread["updates"] >= 1
    assert "Sent" in texts(thread["card"]) and VERB_APPROVE not in {a.get("verb") for a in actions(thread["card"])}
    others = [v for v in feed["partner"] if v["thread"] != card["thread"] and v["tenantId"] == DEMO_TENANT_ID]
    assert all("Sent" not in texts(v["card"]).split() for v in others)

    async with demo.http.get(demo.url("/dev/outbox")) as r:
        page = await r.text()
        assert r.status == 200 and "default-src 'none'" in r.headers["content-security-policy"]
    assert "Teams (to the partner)" in page and "Mail (to clients)" in page
    assert sent[0].to[0] in page and "/addin/cards-host.js" in page


async def test_brief_cards_act_through_the_same_route(demo: Demo):
    briefs = [v for v in (await demo.feed())["partner"]
              if v["channel"] == "teams" and any(a.get("verb") == VERB_REFRESH_BRIEF for a in actions(v["card"]))]
    assert briefs, "the demo warm-up should have sent meeting briefs"
    brief = briefs[0]
    snooze = next(a for a in actions(brief["card"]) if a.get("verb") == VERB_SNOOZE_BRIEF)
    status, body = await demo.act(brief["id"], VERB_SNOOZE_BRIEF, snooze["data"])
    assert status == 200 and ("Snoozed" in texts(body["card"]) or "no time left" in texts(body["card"]))
    status, body = await demo.act(brief["id"], VERB_REFRESH_BRIEF, {"meetingId": "mt_" + "0" * 32})
    assert status == 404  # a meeting this card is not about


# --- forged and foreign ids ----------------------------------------------------------------------

async def test_forged_ids_and_other_tenants_items_are_404(demo: Demo):
    first, second = (await followup_cards(demo))[:2]
    data = approve_action(first["card"])["data"]
    for forged in ("ob_" + "0" * 32, "ob_../x", None, 7, first["id"].upper()):
        status, body = await demo.act(forged, VERB_APPROVE, data)
        assert status == 404, forged
    # The draft of another card, through this card: refused before any handler runs.
    status, _ = await demo.act(second["id"], VERB_APPROVE, data)
    assert status == 404
    for bad in ({"version": data["version"]}, {**data, "draftId": [data["draftId"]]}):
        status, _ = await demo.act(first["id"], VERB_APPROVE, bad)
        assert status == 404, bad

    # An item delivered in another firm whose card names this firm's draft: the verb runs in the
    # item's tenant, as its recipient there, and finds no such draft.
    foreign, _ = await local_outbox.deliver(demo.store, OTHER_TENANT, "teams", "forged-card",
                                            to=["o@otherfirm.example"], subject="x", card=first["card"])
    status, body = await demo.act(foreign.id, VERB_APPROVE, data)
    assert status == 404 and body["error"]["message"] == followups_not_found()

    await settle()
    assert await mails(demo.store) == []
    assert (await demo.store.get(Draft, DEMO_TENANT_ID, data["draftId"])).state == "drafted"


def followups_not_found() -> str:
    from bot.followups import NOT_FOUND

    return NOT_FOUND


# --- in the browser --------------------------------------------------------------------------------

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


async def test_click_approve_and_send_in_the_browser(demo: Demo):
    from playwright.async_api import async_playwright, expect

    card = (await followup_cards(demo))[0]
    subject = (await demo.store.get(Draft, DEMO_TENANT_ID, approve_action(card["card"])["data"]["draftId"])).subject
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
            context.set_default_timeout(15_000)
            external: list[str] = []

            async def loopback_only(route) -> None:
                if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
                    await route.continue_()
                else:
                    external.append(route.request.url)
                    await route.abort()

            await context.route("**/*", loopback_only)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(demo.url("/dev/outbox"))

            article = page.locator(f'#partner article[data-thread="{card["thread"]}"]')
            button = article.get_by_role("button", name="Approve and send")
            await expect(button).to_be_visible()
            await expect(page.locator("#mail article")).to_have_count(0)
            await button.click()

            mail = page.locator("#mail article")
            await expect(mail).to_have_count(1)
            await expect(mail.locator(".subject")).to_have_text(subject)
            await expect(article.locator(".card-host")).to_contain_text("Sent")
            await expect(article.get_by_role("button", name="Approve and send")).to_have_count(0)
            await expect(page.locator("#mail .count")).to_have_text("1")
            assert errors == [] and external == []
            if wants_screenshot("outbox.png"):
                await page.emulate_media(reduced_motion="reduce")  # no fading highlight in the picture
                await page.evaluate("document.querySelectorAll('.fresh').forEach(n => n.classList.remove('fresh'))")
                save_screenshot("outbox.png", await page.screenshot())  # the first screen: the loop
        finally:
            await browser.close()
    await settle()
    assert len(await mails(demo.store)) == 1


async def test_introduction_cards_act_through_the_same_route(demo: Demo):
    from local.demo import DEMO_PARTNERS
    from rapport.records import Contact, Owner
    from rapport.relationships import intros

    owner, asker = DEMO_PARTNERS[0], DEMO_PARTNERS[2]  # different practice groups
    await demo.store.put(Contact.new(DEMO_TENANT_ID, "kept@private-client.example", name="Kim Kept",
                                     owners=[Owner(oid=owner[0], name=owner[2], visibility="private")]))
    out = await intros.ask(demo.store, DEMO_TENANT_ID, asker[0], "kept@private-client.example", "A filing in Japan")
    assert out.status == "ok"
    await settle()
    await work.drain(demo.store)
    [card] = [v for v in (await demo.feed())["partner"]
              if any(a.get("data", {}).get("requestId") == out.request.id for a in actions(v["card"]))]
    status, _ = await demo.act(card["id"], "intro.share", {"requestId": "ir_" + "0" * 32})
    assert status == 404  # a request this card is not about
    status, body = await demo.act(card["id"], "intro.share", {"requestId": out.request.id})
    assert status == 200 and "Introduction accepted" in texts(body["card"])
