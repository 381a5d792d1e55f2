// psmtap web console (docs/console.md). Plain script, no framework.
//
// Everything from the network is data: it goes into the page with
// textContent or as attribute values, never as HTML. Terminal bytes go to
// xterm.js or asciinema-player, which draw them inside the page; screen
// recordings (VNC) are drawn on a canvas from their PNG pictures.
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
  let screen = null; // the screen recording being played
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
    $("terminate").hidden = !(live && info.terminate);
    $("tconfirm").hidden = true;
    $("replay").hidden = !(info.recordings && !e.open && psm.recording && psm.recording.path);
    $("speedbox").hidden = $("replay").hidden;
  }

  async function select(id) {
    stopViewers();
    selected = id;
    $("tresult").textContent = "";
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
    if (screen) { clearInterval(screen.timer); screen.dead = true; screen = null; }
    $("screen").hidden = true; $("stimeline").replaceChildren(); $("sbanner").hidden = true;
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

  // terminate asks the sensor to end the session (POST .../terminate); the
  // outcome comes later as the record's psm.response and a response event.
  async function terminate(id) {
    $("tconfirm").hidden = true;
    try {
      const res = await api("/api/v1/sessions/" + encodeURIComponent(id) + "/terminate", { method: "POST" });
      let msg = res.status + "";
      try { msg += ": " + (await res.json()).error; } catch (e) { /* not JSON */ }
      if (selected === id) $("tresult").textContent = res.status === 202 ? "termination asked: resets on their way" : "not ended: " + msg;
    } catch (e) {
      if (e instanceof Unauthorized) return askToken();
      $("tresult").textContent = e.message;
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
      if (cast.startsWith('{"version":1,"format":"psmtap-screen"')) {
        playScreen(parseScreen(cast));
        $("dstate").textContent = "screen recording";
        return;
      }
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

  // --- screen recordings (VNC) ------------------------------------------------
  // A screen recording (internal/screenrec, docs/recordings.md) is a header
  // line, then [seconds, code, data] events: "k" the whole screen (PNG),
  // "d" changed rectangles (PNG) and scrolled parts (copies), "s" a new size (black until the next key
  // frame), "i" keys typed, "c" a click, "x" the picture may be wrong from
  // here. Pictures are decoded by createImageBitmap from Blobs: no URL is
  // made, nothing is fetched. Text from the recording goes in as textContent.

  const MAX_SIDE = 16384, MAX_PIXELS = 8192 * 4352, MAX_LIST = 5000, MAX_KEYS = 500, IDLE = 2;

  function validSize(w, h) {
    return Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0 && w <= MAX_SIDE && h <= MAX_SIDE && w * h <= MAX_PIXELS;
  }

  function parseScreen(text) {
    const lines = text.split("\n");
    let hdr = null;
    try { hdr = JSON.parse(lines[0]); } catch (e) { /* below */ }
    if (!hdr || hdr.format !== "psmtap-screen" || hdr.version !== 1) throw new Error("not a screen recording");
    const ev = [];
    let last = 0, damaged = null;
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i];
      if (!l.trim()) continue;
      let v = null;
      try { v = JSON.parse(l); } catch (e) { /* below */ }
      if (!Array.isArray(v) || v.length !== 3 || typeof v[0] !== "number" || !(v[0] >= last) || typeof v[1] !== "string") {
        damaged = last; // cut short or damaged: play what came before
        break;
      }
      last = v[0];
      ev.push({ t: v[0], c: v[1], d: v[2] });
    }
    return { hdr, ev, end: last, damaged };
  }

  function clock(t) {
    const m = Math.floor(t / 60), s = t - m * 60;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
  }

  // visible shows control characters from the network as marks, not as
  // what they would do (new lines in the time line, escapes).
  function visible(t) {
    return t.replace(/[\x00-\x1f\x7f]/g, (c) => c === "\r" || c === "\n" ? "⏎" : c === "\t" ? "⇥"
      : c === "\x7f" ? "^?" : "^" + String.fromCharCode(c.charCodeAt(0) + 64));
  }

  function b64bytes(b64) {
    const bin = atob(b64);
    const u = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    return u;
  }

  function decodePNG(b64) {
    if (typeof b64 !== "string") return Promise.reject(new Error("no picture"));
    return createImageBitmap(new Blob([b64bytes(b64)], { type: "image/png" }),
      { premultiplyAlpha: "none", colorSpaceConversion: "none" });
  }

  function setSize(s, w, h) {
    const c = $("scanvas");
    s.ok = validSize(w, h);
    c.width = s.ok ? w : 1; c.height = s.ok ? h : 1; // also clears it
    s.ctx = c.getContext("2d");
    s.ctx.fillStyle = "#000";
    s.ctx.fillRect(0, 0, c.width, c.height);
  }

  async function applyEvent(s, e) {
    const d = e.d;
    if (e.c === "s") {
      setSize(s, d && d.width, d && d.height);
    } else if (e.c === "k" && s.ok) {
      const bm = await decodePNG(d && d.png);
      s.ctx.drawImage(bm, 0, 0);
      bm.close();
    } else if (e.c === "d" && s.ok && Array.isArray(d)) {
      // pictures decode in parallel, entries apply in order; an entry
      // without a picture copies a part of the screen (a scroll)
      const bms = await Promise.all(d.map((p) => p && p.png !== undefined ? decodePNG(p.png) : null));
      d.forEach((p, i) => {
        if (bms[i]) { s.ctx.drawImage(bms[i], p.x | 0, p.y | 0); bms[i].close(); }
        else if (p && p.w > 0 && p.h > 0) s.ctx.drawImage($("scanvas"), p.sx | 0, p.sy | 0, p.w | 0, p.h | 0, p.x | 0, p.y | 0, p.w | 0, p.h | 0);
      });
    }
  }

  // renderTo brings the canvas to time t: on from what it shows when t is
  // later and no key frame is between, else from the last key frame (or
  // size change) at or before t.
  async function renderTo(s, t) {
    const ev = s.rec.ev;
    let lo = 0, hi = ev.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (ev[m].t <= t) lo = m + 1; else hi = m; }
    const target = lo - 1;
    // the last key frame or size change at or before i, down to stop (-1: none)
    const base = (i, stop) => { for (; i > stop; i--) if (ev[i].c === "k" || ev[i].c === "s") return i; return -1; };
    let from = s.at + 1;
    if (target < s.at) from = base(target, -1);
    else { const b = base(target, s.at); if (b >= 0) from = b; }
    if (from < 0) { setSize(s, s.rec.hdr.width, s.rec.hdr.height); from = 0; }
    for (let i = from; i <= target; i++) {
      try { await applyEvent(s, ev[i]); } catch (err) { s.bad = ev[i].t; }
      if (s.dead) return;
    }
    s.at = target;
  }

  function seek(s, t) {
    s.want = Math.min(Math.max(t, 0), s.rec.end);
    if (!s.busy) pump(s);
  }

  async function pump(s) {
    s.busy = true;
    try {
      while (s.want !== null && !s.dead) {
        const t = s.want;
        s.want = null;
        await renderTo(s, t);
        s.t = t;
        screenUI(s);
      }
    } finally { s.busy = false; }
  }

  function screenUI(s) {
    const end = s.rec.end;
    $("sslider").value = String(end > 0 ? Math.round(s.t / end * 1000) : 1000);
    $("stime").textContent = clock(s.t) + " / " + clock(end);
    $("splay").textContent = s.playing ? "Pause" : "Play";
    const mark = s.mark;
    if (mark) $("sbanner").className = "banner" + (s.t >= mark.t ? " now" : "");
    for (const li of s.items) li.classList.toggle("past", li._t <= s.t);
    const box = $("screen");
    box.dataset.t = String(s.t);
    box.dataset.state = s.playing ? "playing" : (s.t >= end && s.want === null ? "ended" : "paused");
    if (s.bad != null) $("dstate").textContent = "a picture at " + clock(s.bad) + " could not be decoded";
  }

  function screenSpeed(s, speed) {
    s.from = s.t; s.t0 = performance.now(); s.speed = speed;
  }

  function screenPlay(s, on) {
    if (on && s.t >= s.rec.end) s.t = 0;
    s.playing = on;
    screenSpeed(s, s.speed);
    screenUI(s);
  }

  function playScreen(rec) {
    const s = { rec, at: -1, t: 0, want: null, busy: false, playing: true, speed: parseFloat($("speed").value) || 1,
      from: 0, t0: performance.now(), ok: false, ctx: null, items: [], mark: null, bad: null, dead: false, timer: 0 };
    screen = s;
    setSize(s, rec.hdr.width, rec.hdr.height);
    // the time line: keys, clicks, size changes and marks, as text
    const ol = $("stimeline");
    const frag = document.createDocumentFragment();
    // keys typed one after another are one item, up to a Return (a line
    // typed), anything else on the time line, or MAX_KEYS characters
    let keys = null;
    for (const e of rec.ev) {
      let what = null;
      if (e.c === "i" && typeof e.d === "string" && keys && keys.text.length < MAX_KEYS) {
        keys.text += e.d;
        keys.li.textContent = clock(keys.li._t) + "  keys  " + visible(keys.text);
        if (/(<Return>|<KP_Enter>|[\r\n])$/.test(keys.text)) keys = null;
        continue;
      }
      if (e.c === "i" && typeof e.d === "string") what = "keys  " + visible(e.d);
      else if (e.c === "c" && e.d) what = "click (" + (e.d.x | 0) + ", " + (e.d.y | 0) + ") buttons " + (e.d.buttons | 0);
      else if (e.c === "s" && e.d) what = "screen " + (e.d.width | 0) + "×" + (e.d.height | 0);
      else if (e.c === "x" && typeof e.d === "string") {
        what = "incomplete: " + visible(e.d);
        if (!s.mark) s.mark = { t: e.t, text: visible(e.d) };
      }
      if (what === null || s.items.length >= MAX_LIST) continue;
      const li = document.createElement("li");
      li.textContent = clock(e.t) + "  " + what;
      if (e.c === "x") li.className = "x";
      li._t = e.t;
      li.addEventListener("click", () => { screenPlay(s, false); seek(s, e.t); });
      s.items.push(li);
      frag.appendChild(li);
      keys = e.c === "i" && !/(<Return>|<KP_Enter>|[\r\n])$/.test(e.d) ? { li, text: e.d } : null;
    }
    ol.replaceChildren(frag);
    const b = $("sbanner");
    b.hidden = !(s.mark || rec.damaged !== null);
    if (s.mark) b.textContent = "Incomplete from " + clock(s.mark.t) + ": the picture may be wrong from there (" + s.mark.text + ").";
    else if (rec.damaged !== null) b.textContent = "The recording is damaged or cut short after " + clock(rec.damaged) + ".";
    $("screen").hidden = false;
    s.timer = setInterval(() => {
      if (!s.playing) return;
      let t = s.from + (performance.now() - s.t0) / 1000 * s.speed;
      // idle time is cut to IDLE seconds, as for terminal recordings
      const ev = rec.ev, last = s.at >= 0 ? ev[s.at].t : 0, next = s.at + 1 < ev.length ? ev[s.at + 1].t : rec.end;
      if (t < next && t - last > IDLE) { t = next; s.from = next; s.t0 = performance.now(); }
      if (t >= rec.end) { t = rec.end; s.playing = false; }
      seek(s, t);
    }, 50);
    seek(s, 0);
  }

  $("splay").addEventListener("click", () => { if (screen) screenPlay(screen, !screen.playing); });
  $("sslider").addEventListener("input", () => {
    if (!screen) return;
    const t = parseInt($("sslider").value, 10) / 1000 * screen.rec.end; // before the UI moves it
    screenPlay(screen, false);
    seek(screen, t);
  });

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
  // Ending a session is asked twice: the button, then "End it".
  $("terminate").addEventListener("click", () => { $("tconfirm").hidden = false; $("tyes").focus(); });
  $("tno").addEventListener("click", () => { $("tconfirm").hidden = true; });
  $("tyes").addEventListener("click", () => selected && terminate(selected));
  $("replay").addEventListener("click", () => selected && replay(selected));
  $("speed").addEventListener("change", () => {
    if (screen) { screenSpeed(screen, parseFloat($("speed").value) || 1); return; }
    if (selected && player) replay(selected);
  });

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
