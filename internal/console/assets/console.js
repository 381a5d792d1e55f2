// psmtap web console (docs/console.md). Plain script, no framework.
//
// Everything from the network is data: it goes into the page with
// textContent or as attribute values, never as HTML. Terminal bytes go to
// xterm.js or asciinema-player, which draw them inside the page.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let token = null; // the API token: in this page's memory only, asked once
  let info = { mode: "live", recordings: false };
  const rows = new Map(); // session id -> entry
  let selected = null; // session id shown in the detail pane
  let liveAbort = null; // the live stream being read
  let term = null;
  let player = null;
  let alertCount = 0;

  // --- the API ---------------------------------------------------------

  class Unauthorized extends Error {}

  async function api(path, opts) {
    const headers = {};
    if (token) headers["Authorization"] = "Bearer " + token;
    const res = await fetch(path, Object.assign({ headers, cache: "no-store", credentials: "omit" }, opts || {}));
    if (res.status === 401) throw new Unauthorized();
    return res;
  }

  async function getJSON(path) {
    const res = await api(path);
    if (!res.ok) {
      let msg = res.status + "";
      try { msg += ": " + (await res.json()).error; } catch (e) { /* not JSON */ }
      throw new Error(path + ": " + msg);
    }
    return res.json();
  }

  // lines reads a streamed body line by line (a live asciicast, or SSE):
  // fetch() with a ReadableStream, since EventSource cannot send a token.
  async function lines(res, onLine) {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        onLine(l.endsWith("\r") ? l.slice(0, -1) : l);
      }
    }
    if (buf) onLine(buf);
  }

  function status(text) { $("status").textContent = text; }

  // --- formatting ----------------------------------------------------------

  function when(s) {
    if (!s) return "";
    const d = new Date(s);
    if (isNaN(d)) return "";
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function duration(e) {
    const ms = new Date(e.last) - new Date(e.start);
    if (!(ms >= 0)) return "";
    let s = Math.round(ms / 1000);
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return (h ? h + "h" : "") + (h || m ? String(m).padStart(h ? 2 : 1, "0") + "m" : "") + String(s).padStart(h || m ? 2 : 1, "0") + "s";
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  // --- the session list ----------------------------------------------------

  function renderSessions() {
    const tbody = $("sessions").tBodies[0];
    const list = Array.from(rows.values()).sort((a, b) =>
      (a.open === b.open ? 0 : a.open ? -1 : 1) || (new Date(b.start) - new Date(a.start)) || (a.id < b.id ? -1 : 1));
    const frag = document.createDocumentFragment();
    for (const e of list) {
      const tr = document.createElement("tr");
      tr.dataset.id = e.id;
      if (e.id === selected) tr.className = "sel";
      cell(tr, e.open ? (info.mode === "live" ? "open" : "unfinished") : "ended", e.open ? "open" : "");
      cell(tr, e.user || "", "user");
      cell(tr, e.client, "client");
      cell(tr, e.server, "server");
      cell(tr, e.protocol, "protocol");
      cell(tr, e.login || "", e.login === "failure" ? "failure" : "");
      cell(tr, e.kind || "", "kind");
      cell(tr, when(e.start), "start");
      cell(tr, duration(e), "duration");
      cell(tr, e.alerts || 0, "alerts" + (e.alerts ? " some" : ""));
      tr.addEventListener("click", () => select(e.id));
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
    $("nosessions").hidden = list.length > 0;
  }

  async function loadSessions() {
    if (info.mode === "archive") {
      const q = new URLSearchParams();
      for (const el of $("searchform").elements) {
        if (el.name && el.value.trim()) q.set(el.name, el.value.trim());
      }
      const list = await getJSON("/api/v1/sessions?" + q.toString());
      rows.clear();
      for (const e of list.sessions) rows.set(e.id, e);
      $("total").textContent = list.total > list.sessions.length
        ? list.sessions.length + " of " + list.total + " shown" : list.total + " sessions";
    } else {
      const list = await getJSON("/api/v1/sessions?state=all");
      rows.clear();
      for (const e of list.sessions) rows.set(e.id, e);
    }
    renderSessions();
  }

  // --- alerts ---------------------------------------------------------------

  function addAlert(a, atEnd) {
    const li = document.createElement("li");
    const level = a.psm && a.psm.alert && a.psm.alert.level;
    if (typeof level === "string") li.className = level.replace(/[^a-z]/g, "");
    const w = document.createElement("span");
    w.className = "when";
    w.textContent = when(a["@timestamp"]) + (level ? " · " + level : "");
    li.appendChild(w);
    li.appendChild(document.createTextNode((a.message || (a.rule && a.rule.name) || "alert") + ""));
    const ids = a.psm && a.psm.session_id;
    const id = Array.isArray(ids) ? ids[0] : ids;
    if (typeof id === "string" && id) li.addEventListener("click", () => select(id));
    const ol = $("alerts");
    if (atEnd) ol.appendChild(li); else ol.insertBefore(li, ol.firstChild);
    while (ol.children.length > 500) ol.removeChild(ol.lastChild);
    $("noalerts").hidden = true;
    alertCount++;
  }

  async function loadAlerts() {
    const res = await getJSON("/api/v1/alerts");
    $("alerts").replaceChildren();
    for (const a of res.alerts) addAlert(a, true);
    $("noalerts").hidden = res.alerts.length > 0;
  }

  // --- Server-Sent Events (live sensor) --------------------------------------

  async function followEvents() {
    for (;;) {
      try {
        const res = await api("/api/v1/events");
        if (!res.ok) throw new Error("events: " + res.status);
        status("live");
        let ev = "message";
        let data = "";
        await lines(res, (l) => {
          if (l === "") {
            if (data) onSSE(ev, data);
            ev = "message"; data = "";
          } else if (l.startsWith("event:")) ev = l.slice(6).trim();
          else if (l.startsWith("data:")) data += l.slice(5).replace(/^ /, "");
        });
      } catch (e) {
        if (e instanceof Unauthorized) return askToken();
      }
      status("reconnecting…");
      await new Promise((r) => setTimeout(r, 2000));
      loadSessions().catch(() => {});
    }
  }

  let refreshTimer = null;
  function refreshSoon(id) {
    if (refreshTimer) return;
    refreshTimer = setTimeout(async () => {
      refreshTimer = null;
      try { await loadSessions(); if (selected) showFacts(await getJSON("/api/v1/sessions/" + encodeURIComponent(selected))); } catch (e) { /* next time */ }
    }, 500);
  }

  function onSSE(kind, data) {
    let doc;
    try { doc = JSON.parse(data); } catch (e) { return; }
    if (kind === "session" && doc && typeof doc.id === "string") {
      rows.set(doc.id, doc);
      renderSessions();
      if (doc.id === selected) showFacts(doc);
    } else if (kind === "alert") {
      addAlert(doc, false);
      refreshSoon();
    } else if (kind === "event") {
      refreshSoon();
    }
  }

  // --- the detail pane --------------------------------------------------------

  function fact(dl, k, v) {
    if (v == null || v === "") return;
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = String(v);
    dl.append(dt, dd);
  }

  function showFacts(e) {
    const r = e.record || {};
    const psm = r.psm || {};
    $("dtitle").textContent = (e.protocol || "") + " " + (e.user || "?") + "@" + (e.server || "") + " from " + (e.client || "");
    $("dstate").textContent = e.open ? "open" : "ended";
    const dl = $("facts");
    dl.replaceChildren();
    fact(dl, "session", e.id);
    fact(dl, "start", when(e.start));
    fact(dl, "last", when(e.last));
    fact(dl, "login", e.login);
    fact(dl, "kind", e.kind);
    fact(dl, "alerts", e.alerts);
    fact(dl, "sensor", r.observer && r.observer.hostname);
    fact(dl, "recording", psm.recording && psm.recording.path);
    const cmds = Array.isArray(psm.commands) ? psm.commands : [];
    const ol = $("commands");
    ol.replaceChildren();
    for (const c of cmds.slice(0, 2000)) {
      const li = document.createElement("li");
      li.textContent = String(c);
      ol.appendChild(li);
    }
    const live = info.mode === "live" && e.open;
    $("watch").hidden = !live;
    $("replay").hidden = !(info.recordings && !e.open && psm.recording && psm.recording.path);
    $("speedbox").hidden = $("replay").hidden;
  }

  async function select(id) {
    stopViewers();
    selected = id;
    for (const tr of $("sessions").tBodies[0].rows) tr.className = tr.dataset.id === id ? "sel" : "";
    $("detail").hidden = false;
    try {
      const e = await getJSON("/api/v1/sessions/" + encodeURIComponent(id));
      if (selected !== id) return;
      showFacts(e);
      if (info.mode === "live" && e.open) watch(id);
    } catch (err) {
      if (err instanceof Unauthorized) return askToken();
      $("dstate").textContent = err.message;
    }
  }

  function stopViewers() {
    if (liveAbort) { liveAbort.abort(); liveAbort = null; }
    if (term) { term.dispose(); term = null; }
    if (player) { player.dispose(); player = null; }
    $("term").hidden = true; $("term").replaceChildren();
    $("player").hidden = true; $("player").replaceChildren();
  }

  // newTerminal makes a read-only xterm.js. OSC sequences that would set the
  // title, colours, hyperlinks or the clipboard are swallowed (a handler that
  // says "handled" and does nothing); nothing typed or answered by the
  // emulator goes anywhere (no onData listener, stdin disabled).
  function newTerminal(cols, rows) {
    const t = new Terminal({ cols, rows, disableStdin: true, convertEol: false, scrollback: 2000,
      cursorBlink: false, allowProposedApi: false, fontSize: 14, lineHeight: 1.15 });
    for (const n of [0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 46, 50, 51, 52, 104, 105, 110, 111, 112, 117, 118, 119, 133, 633, 777, 1337]) {
      t.parser.registerOscHandler(n, () => true);
    }
    t.open($("term"));
    return t;
  }

  async function watch(id) {
    stopViewers();
    const ctl = new AbortController();
    liveAbort = ctl;
    $("term").hidden = false;
    try {
      const res = await api("/api/v1/sessions/" + encodeURIComponent(id) + "/live", { signal: ctl.signal });
      if (!res.ok) throw new Error("live: " + res.status);
      let first = true;
      await lines(res, (l) => {
        if (!l) return;
        let v;
        try { v = JSON.parse(l); } catch (e) { return; }
        if (first) {
          first = false;
          const cols = Math.min(Math.max(v.width | 0, 20), 400), rws = Math.min(Math.max(v.height | 0, 5), 200);
          term = newTerminal(cols, rws);
          return;
        }
        if (term && Array.isArray(v) && v[1] === "o" && typeof v[2] === "string") term.write(v[2]);
      });
      if (selected === id) $("dstate").textContent = "ended";
    } catch (e) {
      if (e instanceof Unauthorized) return askToken();
      if (e.name !== "AbortError") $("dstate").textContent = e.message;
    }
  }

  async function replay(id) {
    stopViewers();
    $("dstate").textContent = "loading the recording…";
    try {
      const res = await api("/api/v1/recordings/" + encodeURIComponent(id));
      if (!res.ok) {
        let msg = res.status + "";
        try { msg += ": " + (await res.json()).error; } catch (e) { /* not JSON */ }
        throw new Error("recording: " + msg);
      }
      const cast = await res.text();
      if (selected !== id) return;
      $("player").hidden = false;
      player = AsciinemaPlayer.create({ data: cast }, $("player"), {
        speed: parseFloat($("speed").value) || 1, idleTimeLimit: 2, autoPlay: true, fit: "width",
        controls: true, preload: true,
      });
      $("dstate").textContent = "recording";
    } catch (e) {
      if (e instanceof Unauthorized) return askToken();
      $("dstate").textContent = e.message;
    }
  }

  // --- start ---------------------------------------------------------------------

  let asked = false;
  function askToken() {
    if (asked) { status("the token was refused"); }
    $("app").hidden = true;
    $("login").hidden = false;
    $("token").focus();
    status("token needed");
  }

  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token").value.trim() || null;
    $("token").value = "";
    asked = true;
    $("login").hidden = true;
    start();
  });
  $("searchform").addEventListener("submit", (ev) => { ev.preventDefault(); loadSessions().catch((e) => status(e.message)); });
  $("close").addEventListener("click", () => { stopViewers(); selected = null; $("detail").hidden = true; renderSessions(); });
  $("watch").addEventListener("click", () => selected && watch(selected));
  $("replay").addEventListener("click", () => selected && replay(selected));
  $("speed").addEventListener("change", () => { if (selected && player) replay(selected); });

  async function start() {
    try {
      info = await getJSON("/api/v1/console");
      $("mode").textContent = info.mode === "archive" ? "recorded sessions" : "live sensor";
      $("app").hidden = false;
      $("search").hidden = info.mode !== "archive";
      await loadSessions();
      if (info.mode === "archive") {
        status("");
        await loadAlerts();
      } else {
        followEvents();
        // durations and sessions the events did not mention
        setInterval(() => loadSessions().catch(() => {}), 5000);
      }
      // #session=ID opens a session; #session=ID&replay=1 also plays its recording
      const h = new URLSearchParams(location.hash.slice(1));
      const want = h.get("session");
      if (want) {
        await select(want);
        if (h.get("replay") && !$("replay").hidden) replay(want);
      }
    } catch (e) {
      if (e instanceof Unauthorized) return askToken();
      status(e.message);
    }
  }
  start();
})();
