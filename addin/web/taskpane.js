/* Rapport task pane: who the sender of the open email is to the firm.
 *
 * Plain JavaScript, no framework. Flow: find the host (Outlook, or preview in an ordinary
 * browser), get a token (Nested App Authentication through MSAL.js, falling back to Office SSO),
 * ask GET /api/addin/context for the sender, render the Adaptive Card it returns, and do it again
 * when the partner moves to another email (ItemChanged: the pane can be pinned).
 * Card text is rendered as text by the Adaptive Cards renderer (no markdown, no HTML).
 */
(function () {
  "use strict";

  var API = new URL("/api/addin/", window.location.href);
  var OFFICE_JS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js";

  var state = {
    preview: false,
    seq: 0,               // each lookup's number: a late answer for an older email is dropped
    controller: null,     // AbortController of the lookup in flight
    sender: null,         // {email, name} of the email on screen
    config: null,         // {clientId, scope} for NAA/SSO
    msal: null,           // the nestable MSAL client, once made
    noteKeys: {}          // typed note text -> client key, so a retried save stores one note
  };

  // --- states ------------------------------------------------------------------------------

  var STATES = ["loading", "empty", "signin", "error", "card"];

  function show(name) {
    STATES.forEach(function (s) {
      document.getElementById("state-" + s).hidden = s !== name;
    });
    var main = document.getElementById("main");
    main.setAttribute("aria-busy", name === "loading" ? "true" : "false");
    document.body.setAttribute("data-state", name);
  }

  function setText(id, text) {
    document.getElementById(id).textContent = text;  // always text, never HTML
  }

  function showLoading(sender) {
    setText("loading-text", sender && sender.name
      ? "Looking up " + sender.name + "\u2026"
      : "Looking this sender up\u2026");
    show("loading");
  }

  function showEmpty(text) {
    setText("empty-text", text || "Open an email and Rapport shows who the sender is to the firm.");
    show("empty");
    loadDesk();
  }

  // "My BD desk" under the empty state: what is waiting for the partner when nothing is selected.
  // A bonus: if it cannot load (signed out, offline), the empty state stands on its own.
  async function loadDesk() {
    var seq = state.seq;
    var host = document.getElementById("desk-host");
    host.textContent = "";
    host.setAttribute("data-desk", "loading");
    try {
      var data = await call("GET", "desk", undefined, null, false);
      if (seq !== state.seq || document.body.getAttribute("data-state") !== "empty") return;
      var card = new AdaptiveCards.AdaptiveCard();
      card.hostConfig = hostConfig(applyTheme());
      card.parse(data.card);
      var el = card.render();
      host.textContent = "";
      if (el) host.appendChild(el);
      host.setAttribute("data-desk", "shown");
    } catch (e) {
      host.setAttribute("data-desk", "unavailable");
    }
  }

  function showSignIn(text) {
    setText("signin-text", text || "Sign in with your firm account to see who this sender is to the firm.");
    show("signin");
  }

  function showError(title, text, ref) {
    setText("error-title", title);
    setText("error-text", text);
    setText("error-ref", ref ? "Reference for IT: " + ref : "");
    show("error");
  }

  function toast(text) {
    var t = document.getElementById("toast");
    t.textContent = text;
    t.hidden = !text;
  }

  // --- theme: Outlook's theme when it tells us, else the system's --------------------------

  function luminance(hex) {
    var m = /^#?([0-9a-f]{6})$/i.exec(hex || "");
    if (!m) return null;
    var n = parseInt(m[1], 16);
    return (0.2126 * ((n >> 16) & 255) + 0.7152 * ((n >> 8) & 255) + 0.0722 * (n & 255)) / 255;
  }

  function applyTheme() {
    var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    try {
      var theme = window.Office && Office.context && Office.context.officeTheme;
      var lum = theme && luminance(theme.bodyBackgroundColor);
      if (lum !== null && lum !== undefined) dark = lum < 0.5;
    } catch (e) { /* no Office theme: keep the system's */ }
    document.documentElement.setAttribute("data-theme", dark ? "dark" : "light");
    return dark;
  }

  // --- the card ----------------------------------------------------------------------------

  // The host config is shared with the local outbox's cards: cards-host.js.
  function hostConfig(dark) { return RapportCards.hostConfig(dark); }

  function renderCard(cardJson) {
    var card = new AdaptiveCards.AdaptiveCard();
    card.hostConfig = hostConfig(applyTheme());
    card.onExecuteAction = onExecute;
    card.parse(cardJson);
    var el = card.render();
    var host = document.getElementById("card-host");
    host.textContent = "";
    if (el) host.appendChild(el);
    show("card");
  }

  // No markdown processor (cards-host.js): text shows exactly as sent, nothing is parsed as HTML.

  // --- tokens ------------------------------------------------------------------------------

  function AuthNeeded(message) { this.message = message; }

  async function loadConfig() {
    if (state.config) return state.config;
    var r = await fetch(new URL("config.json", window.location.href), { cache: "no-cache" });
    if (!r.ok) throw new Error("config " + r.status);
    state.config = await r.json();
    return state.config;
  }

  async function naaToken(interactive) {
    var cfg = await loadConfig();
    if (!cfg.clientId || !window.msal || !msal.createNestablePublicClientApplication) return null;
    if (!state.msal) {
      state.msal = await msal.createNestablePublicClientApplication({
        auth: { clientId: cfg.clientId, authority: "https://login.microsoftonline.com/common" }
      });
    }
    var request = { scopes: [cfg.scope] };
    try {
      return (await state.msal.acquireTokenSilent(request)).accessToken;
    } catch (e) {
      if (!interactive) throw e;
      return (await state.msal.acquireTokenPopup(request)).accessToken;
    }
  }

  async function ssoToken(interactive) {
    if (!window.OfficeRuntime || !OfficeRuntime.auth) throw new AuthNeeded();
    return OfficeRuntime.auth.getAccessToken({ allowSignInPrompt: interactive, allowConsentPrompt: interactive,
                                              forMSGraphAccess: false });
  }

  async function getToken(interactive) {
    if (state.preview) return window.RapportPreview.token();
    try {
      var t = await naaToken(interactive);
      if (t) return t;
    } catch (e) { /* NAA unsupported or refused here: Office SSO next */ }
    try {
      return await ssoToken(interactive);
    } catch (e) {
      throw new AuthNeeded();
    }
  }

  // --- API calls ---------------------------------------------------------------------------

  function ApiFailure(status, message, ref) { this.status = status; this.message = message; this.ref = ref; }

  async function call(method, path, body, signal, interactive) {
    var token = await getToken(!!interactive);
    var init = { method: method, headers: { Authorization: "Bearer " + token, Accept: "application/json" },
                 signal: signal, cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    var r;
    try {
      r = await fetch(new URL(path, API), init);
    } catch (e) {
      if (e && e.name === "AbortError") throw e;
      throw new ApiFailure(0, "", "");
    }
    var data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      var err = (data && data.error) || {};
      throw new ApiFailure(r.status, err.message || "", err.correlationId || r.headers.get("x-correlation-id") || "");
    }
    return data;
  }

  function explain(e) {
    if (e instanceof AuthNeeded) {
      showSignIn();
      return;
    }
    if (e instanceof ApiFailure) {
      if (e.status === 401) {
        showSignIn("Rapport could not confirm your sign-in. Sign in again to continue.");
      } else if (e.status === 403) {
        showError("Rapport is not available to you", "Your firm has not turned Rapport on for your account. " +
                  "Ask your IT team if you think it should be.", e.ref);
      } else if (e.status === 0) {
        showError("Can't reach Rapport", "Check your connection, then try again.", "");
      } else if (e.status === 400) {
        showError("Rapport can't read this sender", e.message || "The sender's address could not be read.", e.ref);
      } else {
        showError("Rapport is having trouble", "The firm's records can't be reached right now. " +
                  "Try again in a moment.", e.ref);
      }
      return;
    }
    showError("Something went wrong", "Rapport could not load this sender. Try again in a moment.", "");
  }

  // --- the open email ----------------------------------------------------------------------

  function currentSender() {
    var item = Office.context.mailbox && Office.context.mailbox.item;
    if (!item) return null;
    var from = item.from || item.sender;
    // In compose mode `from` has getAsync instead of an address: there is no sender to show.
    if (!from || typeof from.emailAddress !== "string" || !from.emailAddress) return null;
    return { email: from.emailAddress, name: from.displayName || from.emailAddress };
  }

  // --- calendar items: the meeting brief ---------------------------------------------------

  // The open item's id: `itemId` when reading; in the organizer's (compose) form getItemIdAsync,
  // which fails while a new meeting is unsaved (then null: there is nothing to brief yet).
  function itemIdOf(item) {
    return new Promise(function (resolve) {
      if (item.itemId) { resolve(item.itemId); return; }
      if (!item.getItemIdAsync) { resolve(null); return; }
      try {
        item.getItemIdAsync(function (r) { resolve(r && r.status === "succeeded" ? r.value : null); });
      } catch (e) { resolve(null); }
    });
  }

  // The open appointment as {eventId, subject}, or null when the item is not a calendar item.
  // eventId is the REST (Graph) id, the one Rapport's calendar capture keys meetings by.
  async function currentAppointment() {
    if (state.preview) return state.previewMeeting || null;
    var mailbox = Office.context.mailbox;
    var item = mailbox && mailbox.item;
    if (!item || item.itemType !== "appointment") return null;
    var id = await itemIdOf(item);
    try {
      if (id && mailbox.convertToRestId && Office.MailboxEnums) {
        id = mailbox.convertToRestId(id, Office.MailboxEnums.RestVersion.v2_0);
      }
    } catch (e) { /* already a REST id */ }
    return { eventId: id, itemId: item.itemId || null, subject: typeof item.subject === "string" ? item.subject : "" };
  }

  async function refreshBrief(appt, interactive) {
    state.sender = null;
    var seq = ++state.seq;
    if (state.controller) state.controller.abort();
    toast("");
    if (!appt.eventId) {
      showEmpty("Save the meeting first, then Rapport shows its brief.");
      return;
    }
    var controller = window.AbortController ? new AbortController() : null;
    state.controller = controller;
    setText("loading-text", "Preparing the meeting brief\u2026");
    show("loading");
    try {
      var data = await call("GET", "brief?eventId=" + encodeURIComponent(appt.eventId), undefined,
                            controller && controller.signal, interactive);
      if (seq !== state.seq) return;
      document.body.setAttribute("data-status", "brief");
      renderCard(data.card);
    } catch (e) {
      if (seq !== state.seq || (e && e.name === "AbortError")) return;
      document.body.setAttribute("data-status", "");
      if (e instanceof ApiFailure && e.status === 404) {
        showEmpty("Rapport has no brief for this meeting: it is not in your synced calendar yet.");
        return;
      }
      explain(e);
    }
  }

  // Preview only: pick one of the signed-in partner's meetings, as opening it in Outlook would.
  async function setupPreviewMeetings() {
    var controls = document.querySelector("#preview-banner .preview-controls");
    if (!controls || document.getElementById("preview-meeting")) return;
    var label = document.createElement("label");
    label.setAttribute("for", "preview-meeting");
    label.textContent = "Meeting";
    var picker = document.createElement("select");
    picker.id = "preview-meeting";
    controls.appendChild(label);
    controls.appendChild(picker);
    picker.addEventListener("change", function () {
      var o = picker.options[picker.selectedIndex];
      state.previewMeeting = picker.value ? { eventId: picker.value, subject: o ? o.textContent : "" } : null;
      refresh(false);
    });
    await loadPreviewMeetings(new URLSearchParams(window.location.search).get("meeting"));
  }

  async function loadPreviewMeetings(wanted) {
    var picker = document.getElementById("preview-meeting");
    if (!picker) return;
    picker.textContent = "";
    var none = document.createElement("option");
    none.value = "";
    none.textContent = "(no meeting open)";
    picker.appendChild(none);
    var meetings = [];
    try { meetings = (await call("GET", "/dev/addin/meetings")).meetings || []; } catch (e) { meetings = []; }
    meetings.forEach(function (m) {
      var o = document.createElement("option");
      o.value = m.eventId;
      var when = new Date(m.start);
      // The brief's one date style ("Wed 2 Dec, 19:00"), in the browser's (the partner's) zone.
      o.textContent = when.toLocaleString("en-GB", { weekday: "short", day: "numeric", month: "short", hour: "2-digit",
                                                     minute: "2-digit", hour12: false }) + " \u00b7 " +
        (m.subject || "(no subject)") + (m.cancelled ? " (cancelled)" : m.external ? "" : " (internal)");
      picker.appendChild(o);  // text, never HTML
    });
    if (wanted) {
      picker.value = wanted;
      state.previewMeeting = picker.value ? { eventId: wanted, subject: "" } : null;
    } else {
      picker.value = "";
    }
  }

  async function refresh(interactive) {
    var appt = await currentAppointment();
    if (appt) return refreshBrief(appt, interactive);
    var sender = currentSender();
    state.sender = sender;
    var seq = ++state.seq;
    if (state.controller) state.controller.abort();
    toast("");
    if (!sender) {
      showEmpty();
      return;
    }
    var controller = window.AbortController ? new AbortController() : null;
    state.controller = controller;
    showLoading(sender);
    try {
      var data = await call("GET", "context?email=" + encodeURIComponent(sender.email), undefined,
                            controller && controller.signal, interactive);
      if (seq !== state.seq) return;  // the partner has moved on to another email
      document.body.setAttribute("data-status", data.status || "");
      renderCard(data.card);
    } catch (e) {
      if (seq !== state.seq || (e && e.name === "AbortError")) return;
      document.body.setAttribute("data-status", "");
      explain(e);
    }
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  }

  async function onExecute(action) {
    var verb = action.verb;
    var data = action.data || {};
    if (verb === "refresh" || verb === "refreshBrief") {
      refresh(false);
      return;
    }
    if (verb === "openInOutlook") {
      var mailbox = Office.context.mailbox;
      var item = mailbox && mailbox.item;
      if (!state.preview && item && item.itemId && mailbox.displayAppointmentForm) {
        mailbox.displayAppointmentForm(item.itemId);  // Outlook opens the meeting itself
      } else {
        toast("In Outlook, this opens the meeting in your calendar.");
      }
      return;
    }
    if (verb === "snoozeBrief") {
      toast("Snooze applies to the brief Rapport sends you before the meeting, in Teams or Outlook.");
      return;
    }
    if (verb === "addNote") {
      var text = (data.note || "").trim();
      if (!text) {
        toast("Write the note first, then choose Add note.");
        return;
      }
      var key = state.noteKeys[text] || (state.noteKeys[text] = newKey());
      toast("Saving the note\u2026");
      try {
        await call("POST", "notes", { email: data.email, text: text, clientKey: key });
        delete state.noteKeys[text];
        await refresh(false);
        toast("Note saved.");
      } catch (e) {
        if (e instanceof ApiFailure && (e.status === 413 || e.status === 400)) {
          toast(e.message || "The note could not be saved.");
        } else if (e instanceof ApiFailure && e.status >= 500) {
          toast("The note was not saved: Rapport is having trouble. Try again in a moment.");
        } else {
          explain(e);
        }
      }
      return;
    }
    if (verb === "logEnquiry" || verb === "enquiryStage" || verb === "enquiryCall" || verb === "enquiryMerge") {
      // The card's data names the enquiry; the server decides what the caller may do with it.
      var body = verb === "logEnquiry" ? { action: "log", email: data.email }
        : verb === "enquiryCall" ? { action: "call", enquiryId: data.enquiryId, note: (data.note || "").trim() }
        : verb === "enquiryMerge" ? { action: "merge", enquiryId: data.enquiryId, otherId: data.otherId }
        : { action: "stage", enquiryId: data.enquiryId, stage: data.stage };
      toast(verb === "logEnquiry" ? "Logging the enquiry\u2026" : verb === "enquiryCall" ? "Logging the call\u2026"
        : verb === "enquiryMerge" ? "Merging the enquiries\u2026" : "Moving the enquiry on\u2026");
      try {
        var done = await call("POST", "enquiry", body);
        await refresh(false);
        toast((done && done.message) || "Done.");
      } catch (e) {
        if (e instanceof ApiFailure && e.status >= 400 && e.status < 500) {
          toast(e.message || "The enquiry could not be changed.");
        } else {
          explain(e);
        }
      }
      return;
    }
    if (verb === "askIntro") {
      // From the sidebar (a reason typed in the card) or a brief (no box: the meeting is the reason).
      var reason = (data.introReason || "").trim() || (data.from === "brief" ? "Ahead of a meeting with them." : "");
      toast("Asking for an introduction\u2026");
      try {
        var asked = await call("POST", "intro", { email: data.email, reason: reason });
        toast(asked.folded ? "You already asked; your request is still open." :
              "Your request is on its way. You will hear back in Teams.");
      } catch (e) {
        if (e instanceof ApiFailure && (e.status === 409 || e.status === 404 || e.status === 400)) {
          toast(e.message || "The request could not be sent.");
        } else {
          explain(e);
        }
      }
      return;
    }
    if (verb === "setVisibility") {
      try {
        await call("POST", "visibility", { email: data.email, visibility: data.visibility });
        await refresh(false);
        toast(data.visibility === "private" ? "Only you see this relationship now." :
              data.visibility === "team" ? "Your team sees this relationship now." :
              "The whole firm sees this relationship now.");
      } catch (e) {
        if (e instanceof ApiFailure && (e.status === 403 || e.status === 404 || e.status === 400)) {
          toast(e.message || "Who sees this contact could not be changed.");
        } else {
          explain(e);
        }
      }
      return;
    }
    toast("This action is not available in the sidebar.");
  }

  // --- start -------------------------------------------------------------------------------

  function isOfficeHost() {
    var q = new URLSearchParams(window.location.search);
    if (q.get("preview") === "1") return false;
    if (q.get("office") === "1" || q.has("_host_Info")) return true;
    if (/_host_Info/i.test(window.name || "")) return true;
    try {
      if (window.parent !== window) return true;  // Outlook on the web hosts the pane in a frame
    } catch (e) { return true; }
    return !!(window.chrome && window.chrome.webview) || !!(window.external && "GetContext" in window.external);
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }

  async function start() {
    applyTheme();
    if (window.matchMedia) {
      var mq = window.matchMedia("(prefers-color-scheme: dark)");
      if (mq.addEventListener) mq.addEventListener("change", function () { if (state.sender) refresh(false); else applyTheme(); });
    }
    document.getElementById("retry-button").addEventListener("click", function () { refresh(false); });
    document.getElementById("signin-button").addEventListener("click", function () { refresh(true); });
    showLoading(null);
    if (isOfficeHost()) {
      try {
        await loadScript(OFFICE_JS);
        await Office.onReady();
      } catch (e) {
        showError("Can't start in Outlook", "Outlook's add-in library did not load. Check your connection, " +
                  "then reopen the pane.", "");
        return;
      }
    } else {
      state.preview = true;
      var ok = await window.RapportPreview.install();
      if (!ok) return;
      await setupPreviewMeetings();
    }
    var mailbox = Office.context.mailbox;
    if (mailbox && mailbox.addHandlerAsync) {
      mailbox.addHandlerAsync(Office.EventType.ItemChanged, function () {
        if (state.preview) {
          // Preview: another email (or partner) was picked: no meeting is open any more, and the
          // picker lists the (possibly new) partner's meetings.
          state.previewMeeting = null;
          loadPreviewMeetings(null);
        }
        refresh(false);
      });
    }
    if (Office.EventType.OfficeThemeChanged && Office.context.mailbox && Office.context.mailbox.addHandlerAsync) {
      try {
        Office.context.mailbox.addHandlerAsync(Office.EventType.OfficeThemeChanged, function () { refresh(false); });
      } catch (e) { /* not every Outlook raises theme changes */ }
    }
    await refresh(false);
  }

  window.RapportPane = { refresh: refresh };
  start();
})();
