/*
 * The local outbox of `rapport serve` (/dev/outbox): the partner's Teams cards rendered with the
 * task pane's Adaptive Cards renderer and host config (cards-host.js), and the mail to clients.
 *
 * A card's Action.Execute posts {outboxId, verb, data} to /dev/outbox/action, which runs the
 * bot's own verb handler as the partner the card went to and answers with the refreshed card,
 * shown in place (as Teams does). Work after the answer (the approved mail, the card's update to
 * "Sent") lands in the outbox; the page polls /dev/outbox.json?view=cards and shows it arriving.
 * Plain JavaScript, no framework; every text goes in through textContent or the card renderer.
 */
(function () {
  "use strict";

  var FEED = "/dev/outbox.json?view=cards";
  var ACTION = "/dev/outbox/action";
  var SLOW = 4000;          // ms between polls when nothing is happening
  var FAST = 800;           // ms between polls just after a card action...
  var FAST_FOR = 30000;     // ...for this long
  var fastUntil = 0;
  var timer = null;
  var partnerNodes = {};    // thread -> article
  var mailNodes = {};       // outbox id -> article
  var firstPaint = true;
  var dark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function when(iso) { return iso ? iso.slice(0, 16).replace("T", " ") + " UTC" : ""; }

  function status(text) { document.getElementById("status").textContent = text || ""; }

  // --- cards ---------------------------------------------------------------------------------

  function renderCard(article, cardJson) {
    var host = article.querySelector(".card-host");
    host.textContent = "";
    article._card = cardJson;
    var card = new AdaptiveCards.AdaptiveCard();
    card.hostConfig = RapportCards.hostConfig(!!(dark && dark.matches));
    card.onExecuteAction = function (action) { execute(article, action); };
    try {
      card.parse(cardJson);
      var rendered = card.render();
      if (rendered) host.appendChild(rendered);
    } catch (e) {
      host.appendChild(el("p", "notice error", "This card could not be rendered: " + e.message));
    }
  }

  function notice(article, text, isError) {
    var n = article.querySelector(".notice");
    if (!n) {
      n = el("p", "notice");
      n.setAttribute("role", "status");
      article.appendChild(n);
    }
    n.className = "notice" + (isError ? " error" : "");
    n.textContent = text || "";
    n.hidden = !text;
  }

  async function execute(article, action) {
    var type = action.getJsonTypeName ? action.getJsonTypeName() : "";
    if (type !== "Action.Execute") {
      notice(article, "Only Action.Execute buttons act here (" + type + ").", true);
      return;
    }
    article.classList.add("busy");
    article.setAttribute("aria-busy", "true");
    notice(article, "");
    try {
      var r = await fetch(ACTION, {
        method: "POST", headers: { "content-type": "application/json" }, cache: "no-store",
        body: JSON.stringify({ outboxId: article.dataset.outboxId, verb: action.verb, data: action.data || {} })
      });
      var body = await r.json().catch(function () { return null; });
      if (r.ok && body && body.card) {
        renderCard(article, body.card);
        article.dataset.acted = "1";
      } else if (r.status === 404 && !(body && body.error && body.error.message !== "no such route")) {
        notice(article, "Card buttons work only with RAPPORT_DEV_AUTH=1 (scripts/demo sets it).", true);
      } else {
        var msg = body && body.error && body.error.message ? body.error.message : "HTTP " + r.status;
        notice(article, msg, true);
      }
    } catch (e) {
      notice(article, "Rapport did not answer: " + e.message, true);
    } finally {
      article.classList.remove("busy");
      article.removeAttribute("aria-busy");
    }
    fastUntil = Date.now() + FAST_FOR;  // the mail and the card's update come after the answer
    schedule(FAST);
  }

  // --- deliveries ----------------------------------------------------------------------------

  function partnerArticle(v) {
    var a = el("article", "delivery partner");
    a.dataset.outboxId = v.id;
    a.dataset.thread = v.thread;
    var h = el("header");
    h.appendChild(el("span", "chip", v.channel === "actionable-mail" ? "Outlook actionable message" : "Teams"));
    h.appendChild(document.createTextNode(" to "));
    h.appendChild(el("b", "", (v.to || []).join(", ")));
    var t = el("time", "", when(v.at));
    t.setAttribute("datetime", v.at);
    h.appendChild(t);
    a.appendChild(h);
    a.appendChild(el("h3", "subject", v.subject));
    a.appendChild(el("div", "card-host"));
    if (v.updates) {
      a.appendChild(el("p", "updated", "Updated in place " + v.updates + (v.updates === 1 ? " time" : " times") +
                       " (Teams shows only the newest card)."));
    }
    if (v.card) renderCard(a, v.card);
    else a.querySelector(".card-host").appendChild(el("p", "muted", "(no card)"));
    return a;
  }

  function mailArticle(v) {
    var a = el("article", "delivery mail");
    a.dataset.outboxId = v.id;
    var dl = el("dl", "headers");
    function row(label, value, cls) {
      var d = el("div");
      d.appendChild(el("dt", "", label));
      d.appendChild(el("dd", cls || "", value));
      dl.appendChild(d);
    }
    row("From", v.from || v.fromOid);
    row("To", (v.to || []).join(", "));
    if (v.cc && v.cc.length) row("Cc", v.cc.join(", "));
    row("Subject", v.subject, "subject");
    row("Sent", when(v.at));
    a.appendChild(dl);
    a.appendChild(el("pre", "body", v.body));
    return a;
  }

  function flash(node) {
    if (firstPaint) return;
    node.classList.add("fresh");
    setTimeout(function () { node.classList.remove("fresh"); }, 2500);
  }

  // Keeps nodes that did not change (a card someone is typing in, or one refreshed in place by
  // an action's answer stays until a newer delivery for the same thread arrives).
  function sync(listId, views, nodes, keyOf, make, same) {
    var list = document.querySelector("#" + listId + " .list");
    var next = {};
    var ordered = views.map(function (v) {
      var key = keyOf(v);
      var node = nodes[key];
      if (!node || !same(node, v)) {
        node = make(v);
        flash(node);
      }
      next[key] = node;
      return node;
    });
    Object.keys(nodes).forEach(function (k) { if (!next[k] && nodes[k].parentNode) nodes[k].remove(); });
    ordered.forEach(function (node, i) {
      if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
    });
    while (list.children.length > ordered.length) list.lastChild.remove();
    if (!ordered.length) list.appendChild(el("p", "muted none", "None yet."));
    document.querySelector("#" + listId + " .count").textContent = String(ordered.length);
    return next;
  }

  function paint(feed) {
    if (firstPaint) {  // replace the server's first paint (text only) with the rendered cards
      document.querySelectorAll("#partner .list, #mail .list").forEach(function (l) { l.textContent = ""; });
    }
    partnerNodes = sync("partner", feed.partner || [], partnerNodes, function (v) { return v.thread; },
                        partnerArticle, function (n, v) { return n.dataset.outboxId === v.id; });
    mailNodes = sync("mail", feed.mail || [], mailNodes, function (v) { return v.id; }, mailArticle,
                     function () { return true; });
    document.getElementById("empty").hidden = !!((feed.partner || []).length || (feed.mail || []).length);
    firstPaint = false;
  }

  async function poll() {
    timer = null;
    try {
      var r = await fetch(FEED, { cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      paint(await r.json());
      status("Updated " + new Date().toLocaleTimeString());
    } catch (e) {
      status("Cannot reach Rapport (" + e.message + "); retrying");
    }
    schedule(Date.now() < fastUntil ? FAST : SLOW);
  }

  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }

  document.addEventListener("visibilitychange", function () { if (!document.hidden) schedule(0); });
  if (dark && dark.addEventListener) {
    dark.addEventListener("change", function () {
      Object.keys(partnerNodes).forEach(function (k) {
        var a = partnerNodes[k];
        if (a._card) renderCard(a, a._card);
      });
    });
  }
  poll();
})();
