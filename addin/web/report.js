/* The report page: the managing partner's Monday report (charts, one row per partner, exceptions,
 * CSV downloads) and "My BD desk" for every partner. The same token as the task pane: Nested App
 * Authentication through MSAL.js in Outlook or Teams; outside them, on a local host with dev auth
 * (rapport serve --demo), a local dev token (?user=UPN picks who). Text goes in as text, never HTML.
 */
(function () {
  "use strict";

  var API = new URL("/api/addin/", window.location.href);
  var token = null;
  var charts = {};

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function setState(name, message) {
    document.body.setAttribute("data-state", name);
    document.getElementById("main").setAttribute("aria-busy", name === "loading" ? "true" : "false");
    var s = document.getElementById("status");
    s.textContent = message || "";
    s.hidden = !message;
    s.className = name === "error" ? "error" : "";
  }

  async function getToken() {
    if (token) return token;
    var cfg = await (await fetch(new URL("config.json", window.location.href), { cache: "no-cache" })).json();
    if (cfg.clientId && window.msal && msal.createNestablePublicClientApplication) {
      try {
        var app = await msal.createNestablePublicClientApplication({
          auth: { clientId: cfg.clientId, authority: "https://login.microsoftonline.com/common" } });
        var req = { scopes: [cfg.scope] };
        try { token = (await app.acquireTokenSilent(req)).accessToken; }
        catch (e) { token = (await app.acquireTokenPopup(req)).accessToken; }
        return token;
      } catch (e) { /* not in Outlook or Teams: the local dev token below, where it exists */ }
    }
    var user = new URLSearchParams(window.location.search).get("user");
    var r = await fetch("/dev/addin/token" + (user ? "?user=" + encodeURIComponent(user) : ""), { cache: "no-store" });
    if (!r.ok) throw new Error("Sign in through Outlook or Teams to see this page.");
    token = (await r.json()).token;
    return token;
  }

  async function call(path) {
    var t = await getToken();
    var r = await fetch(new URL(path, API), { headers: { Authorization: "Bearer " + t }, cache: "no-store" });
    if (!r.ok) {
      var body = null;
      try { body = await r.json(); } catch (e) { body = null; }
      var err = new Error((body && body.error && body.error.message) || ("HTTP " + r.status));
      err.status = r.status;
      throw err;
    }
    return (r.headers.get("content-type") || "").indexOf("text/csv") === 0 ? r.text() : r.json();
  }

  function list(id, items, show) {
    var ul = document.getElementById(id);
    ul.textContent = "";
    if (!items.length) { ul.appendChild(el("li", "Nothing.", "muted")); return; }
    items.forEach(function (x) { ul.appendChild(el("li", show(x))); });
  }

  function fmt(v) { return v === null || v === undefined ? "\u2013" : (Math.round(v * 10) / 10).toString(); }

  function chart(id, config) {
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false,
                                     plugins: { legend: { display: config.data.datasets.length > 1 } } },
                                   config.options || {});
    charts[id] = new Chart(document.getElementById(id), config);
  }

  async function download(metric) {
    var text = await call("metrics.csv?metric=" + encodeURIComponent(metric));
    var url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    var a = el("a");
    a.href = url;
    a.download = "rapport-" + metric + ".csv";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  var METRICS = [["all", "Everything"], ["approved_actions", "Approved actions"], ["time_to_followup", "Time to follow-up"],
                 ["meetings_without_followup", "Meetings without follow-up"], ["counsel_moves", "Counsel moves"],
                 ["new_relationships", "New relationships"], ["cold_relationships", "Going cold"],
                 ["enquiry_response", "Enquiry response"], ["pipeline", "Pipeline"]];

  function showFirm(r) {
    var weeks = r.weeks.map(function (w) { return w.slice(5); });
    document.getElementById("firm-week").textContent = "Twelve weeks to the week of " + (r.weeks[r.weeks.length - 1] || "");
    chart("chart-approved", { type: "bar", data: { labels: weeks, datasets: [
      { label: "Approved BD actions", data: r.trend.map(function (t) { return t.approved; }), backgroundColor: "#0f6cbd" }] } });
    chart("chart-followup", { type: "line", data: { labels: weeks, datasets: [
      { label: "Median", data: r.trend.map(function (t) { return t.followupMedian; }), borderColor: "#0f6cbd", backgroundColor: "#0f6cbd" },
      { label: "90th percentile", data: r.trend.map(function (t) { return t.followupP90; }), borderColor: "#c43e1c", backgroundColor: "#c43e1c" }] } });
    var stages = Object.keys(r.pipeline).sort();
    chart("chart-pipeline", { type: "bar", data: { labels: stages, datasets: [
      { label: "Open", data: stages.map(function (s) { return r.pipeline[s]; }), backgroundColor: "#107c10" }] },
      options: { indexAxis: "y" } });
    list("exceptions", r.exceptions, function (x) { return x; });
    var tbody = document.querySelector("#partners tbody");
    tbody.textContent = "";
    r.partners.forEach(function (p) {
      var tr = el("tr", null, p.left ? "left" : "");
      tr.appendChild(el("td", p.name + (p.left ? " (left)" : "")));
      [p.approved, p.approvedPrior4, fmt(p.followupMedian), fmt(p.followupP90), p.withoutFollowup, p.cold,
       p.newRelationships, p.counselSurfaced + " (" + p.counselContacted30 + ")",
       p.enquiries + " (" + p.enquiriesOnTime + ")"].forEach(function (v) { tr.appendChild(el("td", v, "n")); });
      tbody.appendChild(tr);
    });
    var o = r.origination.enquiries;
    document.getElementById("origination").textContent = o.total
      ? "New enquiries: " + o.total + "; the three busiest partners hold " + Math.round(o.top3 * 100) +
        "% (concentration index " + o.hhi + ", where 1 is one partner and 1/n an even spread)."
      : "No new enquiries in these weeks.";
    var ul = document.getElementById("downloads");
    ul.textContent = "";
    METRICS.forEach(function (m) {
      var li = el("li");
      var b = el("button", m[1] + " (CSV)");
      b.type = "button";
      b.addEventListener("click", function () { download(m[0]); });
      li.appendChild(b);
      ul.appendChild(li);
    });
    document.getElementById("firm").hidden = false;
  }

  function showDesk(d) {
    list("desk-pending", d.pending, function (x) { return x.subject + " \u00b7 " + x.when; });
    list("desk-meetings", d.meetings, function (x) {
      return x.subject + " \u00b7 " + x.when + " \u00b7 brief " + x.brief + " \u00b7 follow-up " + x.followUp; });
    list("desk-enquiries", d.enquiries, function (x) { return x.subject + " \u00b7 " + x.stage + " \u00b7 " + x.received; });
    list("desk-cold", d.cold, function (x) { return x.name + " \u00b7 last touch " + x.since; });
    document.getElementById("my-csv").onclick = function () { download("all"); };
    document.getElementById("desk").hidden = false;
  }

  async function start() {
    try {
      var desk = await call("desk");
      showDesk(desk);
      if (desk.firmReport) showFirm(await call("report"));
      setState("ready", "");
    } catch (e) {
      setState("error", e.message || "Rapport could not load this page.");
    }
  }

  window.RapportReport = { charts: charts };
  start();
})();
