/* Preview mode: the task pane in an ordinary browser, without Outlook and without a network.
 *
 * Used only when taskpane.js finds no Office host. It shows a PREVIEW banner, stands in for the
 * small part of Office.js the pane uses (mailbox.item.from, ItemChanged), lets you pick the
 * sender (and the signed-in partner) from the demo firm, and signs in with a local dev token from
 * /dev/addin/token - which exists only under `rapport serve --demo` with RAPPORT_DEV_AUTH=1 on
 * loopback. The token goes through exactly the same validation as an Entra token.
 */
(function () {
  "use strict";

  var token = null;
  var tokenFor = null;
  var handlers = [];
  var item = null;

  function makeItem(sender) {
    if (!sender) return null;
    var from = { emailAddress: sender.email, displayName: sender.name || sender.email };
    return { itemType: "message", from: from, sender: from, subject: "(preview email)" };
  }

  // The stand-in for the pieces of Office.js the pane uses. Nothing else is faked.
  function installOffice() {
    var mailbox = {
      get item() { return item; },
      addHandlerAsync: function (type, handler, callback) {
        if (type === "olkItemSelectedChanged") handlers.push(handler);
        if (callback) callback({ status: "succeeded" });
      }
    };
    window.Office = {
      isPreviewStandIn: true,
      onReady: function (cb) {
        var info = { host: "Outlook", platform: "Preview" };
        if (cb) cb(info);
        return Promise.resolve(info);
      },
      EventType: { ItemChanged: "olkItemSelectedChanged" },
      AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
      context: { mailbox: mailbox, officeTheme: null }
    };
  }

  function changeItem(sender) {
    item = makeItem(sender);
    handlers.forEach(function (h) { h({ type: "olkItemSelectedChanged" }); });
  }

  async function getJson(url) {
    var r = await fetch(url, { cache: "no-store" });
    var body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      var msg = body && body.error && body.error.message;
      var err = new Error(msg || ("HTTP " + r.status));
      err.status = r.status;
      throw err;
    }
    return body;
  }

  function option(value, label) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = label;  // text, never HTML
    return o;
  }

  async function fetchToken(upn) {
    var url = "/dev/addin/token" + (upn ? "?user=" + encodeURIComponent(upn) : "");
    var t = await getJson(url);
    token = t.token;
    tokenFor = t.upn;
    return t;
  }

  function setupFailed(message) {
    var main = document.getElementById("main");
    document.getElementById("state-loading").hidden = true;
    var box = document.getElementById("state-error");
    document.getElementById("error-title").textContent = "Preview is not available";
    document.getElementById("error-text").textContent = message;
    document.getElementById("error-ref").textContent = "";
    document.getElementById("retry-button").hidden = true;
    box.hidden = false;
    main.setAttribute("aria-busy", "false");
    document.body.setAttribute("data-state", "error");
  }

  async function install() {
    document.getElementById("preview-banner").hidden = false;
    document.body.classList.add("is-preview");
    installOffice();
    var q = new URLSearchParams(window.location.search);
    var senders, first;
    try {
      first = await fetchToken(q.get("user"));
      senders = (await getJson("/dev/addin/senders")).senders || [];
    } catch (e) {
      setupFailed("Start Rapport with `rapport serve --demo` and RAPPORT_DEV_AUTH=1, then open this page " +
                  "on this computer (http://127.0.0.1). (" + (e.message || "no answer") + ")");
      return false;
    }
    var viewer = document.getElementById("preview-viewer");
    (first.partners || [{ upn: first.upn, name: first.name }]).forEach(function (p) {
      viewer.appendChild(option(p.upn, p.name));
    });
    viewer.value = first.upn;
    viewer.addEventListener("change", async function () {
      try {
        await fetchToken(viewer.value);
      } catch (e) {
        token = null;
      }
      changeItem(item ? { email: item.from.emailAddress, name: item.from.displayName } : null);
    });
    var picker = document.getElementById("preview-sender");
    picker.appendChild(option("", "(no email open)"));
    senders.forEach(function (s) { picker.appendChild(option(s.email, s.name + " <" + s.email + ">")); });
    var wanted = q.get("sender");
    var start = wanted ? { email: wanted, name: wanted } : senders[0];
    if (start && !senders.some(function (s) { return s.email === start.email; })) {
      picker.appendChild(option(start.email, start.email));
    }
    picker.value = start ? start.email : "";
    item = makeItem(start);
    picker.addEventListener("change", function () {
      var s = senders.filter(function (x) { return x.email === picker.value; })[0] ||
              (picker.value ? { email: picker.value, name: picker.value } : null);
      changeItem(s);
    });
    return true;
  }

  window.RapportPreview = {
    install: install,
    token: async function () {
      if (!token) await fetchToken(tokenFor);
      return token;
    },
    // For demos and tests: switch the open email as Outlook would.
    openEmail: function (email, name) {
      var picker = document.getElementById("preview-sender");
      picker.value = email;
      changeItem(email ? { email: email, name: name || email } : null);
    }
  };
})();
