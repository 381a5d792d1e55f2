package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/psmtap/psmtap/internal/vethtest"
)

// cdp is a minimal client of Chromium's DevTools protocol over one page's
// WebSocket: a command, then its answer (events in between are skipped).
type cdp struct {
	ws *websocket.Conn
	id int
}

func (c *cdp) call(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	c.id++
	if err := websocket.JSON.Send(c.ws, map[string]any{"id": c.id, "method": method, "params": params}); err != nil {
		t.Fatalf("devtools %s: %v", method, err)
	}
	c.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var m struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := websocket.JSON.Receive(c.ws, &m); err != nil {
			t.Fatalf("devtools %s: %v", method, err)
		}
		if m.ID != c.id {
			continue
		}
		if m.Error != nil {
			t.Fatalf("devtools %s: %s", method, m.Error.Message)
		}
		return m.Result
	}
}

// eval runs JavaScript in the page and returns its value (JSON).
func (c *cdp) eval(t *testing.T, expr string) json.RawMessage {
	t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	json.Unmarshal(c.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}), &r)
	if r.ExceptionDetails != nil {
		t.Fatalf("%s: %v", expr, r.ExceptionDetails)
	}
	return r.Result.Value
}

// waitFor polls a JavaScript condition until it is true (an exception, as
// while the page is still loading, is "not yet").
func (c *cdp) waitFor(t *testing.T, what, expr string, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		if string(c.eval(t, "(() => { try { return !!("+expr+") } catch (e) { return false } })()")) == "true" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v; the page says: %s", what, d, c.eval(t, "document.body.innerText.slice(0, 3000)"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cdp) screenshot(t *testing.T, path string) {
	var r struct {
		Data string `json:"data"`
	}
	json.Unmarshal(c.call(t, "Page.captureScreenshot", map[string]any{"format": "png"}), &r)
	b, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil || len(b) == 0 {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// chromium starts headless Chromium and connects to its first page; it skips
// the test when there is none (.ci/run installs it).
func chromium(t *testing.T) *cdp { return chromiumIn(t, "") }

// chromiumIn starts it in a network namespace (ns, or this one when "").
func chromiumIn(t *testing.T, ns string) *cdp {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("no chromium on this machine (apt-get install chromium): the console's browser test is skipped")
	}
	dial := func(network, addr string) (c net.Conn, err error) {
		if ns == "" {
			return net.Dial(network, addr)
		}
		err = vethtest.In(ns, func() error { c, err = net.Dial(network, addr); return err })
		return c, err
	}
	hc := &http.Client{Transport: &http.Transport{Dial: dial}}
	args := []string{bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--user-data-dir=" + t.TempDir(), "--window-size=1400,1000", "--remote-debugging-port=0",
		"--remote-allow-origins=http://127.0.0.1", "about:blank"}
	if ns != "" {
		args = append([]string{"netns", "exec", ns}, args...)
		bin = "ip"
	} else {
		args = args[1:]
	}
	cmd := exec.Command(bin, args...)
	// Its own process group: chromium's helpers (renderer, zygote) go with
	// it, and nothing writes into the profile while the test removes it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	re := regexp.MustCompile(`DevTools listening on ws://([^/]+)/`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var hostPort string
	select {
	case hostPort = <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not start its DevTools endpoint")
	}
	var targets []struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	for i := 0; ; i++ {
		res, err := hc.Get("http://" + hostPort + "/json/list")
		if err == nil {
			json.NewDecoder(res.Body).Decode(&targets)
			res.Body.Close()
		}
		if len(targets) > 0 || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			cfg, err := websocket.NewConfig(tg.WS, "http://127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			conn, err := dial("tcp", cfg.Location.Host)
			if err != nil {
				t.Fatal(err)
			}
			ws, err := websocket.NewClient(cfg, conn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ws.Close() })
			c := &cdp{ws: ws}
			c.call(t, "Page.enable", nil)
			c.call(t, "Runtime.enable", nil)
			return c
		}
	}
	t.Fatal("chromium has no page")
	return nil
}

// startServe runs psmtap serve and returns its URL.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Dir = repoRoot
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	re := regexp.MustCompile(`msg="console listening" addr=(\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-found:
		return "http://" + a
	case <-time.After(20 * time.Second):
		t.Fatal("psmtap serve did not start")
	}
	return ""
}

// TestConsoleBrowser opens the console of psmtap serve in headless Chromium
// over what psmtap read -w --recordings made of pcaps/telnet-login.pcap
// (alice: a failed login, then id, whoami, exit): the session list shows
// alice's Telnet session and its alerts, the session's commands, and the
// recording replayed by asciinema-player shows whoami and its answer. Then
// a session with a user name and command made of HTML is added: the page
// shows them as text and runs nothing.
//
// PSMTAP_CONSOLE_SHOTS=DIR (e.g. ../../docs) saves the screenshots of
// docs/console.md there.
func TestConsoleBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser: not with -short")
	}
	c := chromium(t)
	dir := t.TempDir()
	w, rec := filepath.Join(dir, "out"), filepath.Join(dir, "rec")
	os.MkdirAll(rec, 0o755)
	pcaps := []string{"pcaps/telnet-login.pcap"}
	shots := os.Getenv("PSMTAP_CONSOLE_SHOTS")
	if shots != "" { // a fuller list for the pictures
		more, _ := filepath.Glob(filepath.Join(repoRoot, "pcaps", "*.pcap"))
		for _, m := range more {
			if rel, _ := filepath.Rel(repoRoot, m); rel != pcaps[0] {
				pcaps = append(pcaps, rel)
			}
		}
	}
	if r := run(t, append([]string{"read", "-w", w, "--recordings", rec, "--rules", "builtin"}, pcaps...)...); r.code != 0 {
		t.Fatalf("read: %d %s", r.code, r.stderr)
	}
	base := startServe(t, "--records", w, "--recordings", rec, "--reload", "500ms")

	c.call(t, "Page.navigate", map[string]any{"url": base + "/"})
	c.waitFor(t, "alice's Telnet session listed",
		`Array.from(document.querySelectorAll("#sessions tbody tr")).some(tr => tr.querySelector(".user").textContent === "alice" && tr.querySelector(".protocol").textContent === "telnet" && tr.querySelector(".alerts").textContent !== "0")`,
		20*time.Second)
	c.waitFor(t, "the alerts feed", `document.querySelector("#alerts").textContent.includes("Cleartext administration protocol")`, 10*time.Second)
	const id = "yhsc25kJHic1dFR23CUt" // pcaps/golden/telnet-login.pcap.ndjson
	if shots != "" {
		c.screenshot(t, filepath.Join(shots, "console-sessions.png"))
	}
	c.eval(t, `document.querySelector('#sessions tr[data-id="`+id+`"]').click()`)
	c.waitFor(t, "the commands of the session", `Array.from(document.querySelectorAll("#commands li")).map(l => l.textContent).join(",") === "id,whoami,exit"`, 10*time.Second)
	c.waitFor(t, "a replay button", `!document.querySelector("#replay").hidden`, 5*time.Second)
	c.eval(t, `document.querySelector("#speed").value = "4"; document.querySelector("#replay").click()`)
	c.waitFor(t, "the player showing whoami and its answer",
		`document.querySelector("#player").textContent.includes("whoami") && /alice@psm-srv:~\$ whoami\s*alice/.test(document.querySelector("#player").innerText)`,
		30*time.Second)
	if shots != "" {
		c.eval(t, `document.querySelector("#detail").scrollIntoView()`)
		time.Sleep(500 * time.Millisecond)
		c.screenshot(t, filepath.Join(shots, "console-replay.png"))
	}

	// Hostile data: a user name and a command that are HTML.
	const hostile = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`
	doc, _ := json.Marshal(map[string]any{"@timestamp": "2026-12-01T00:00:00Z",
		"event":  map[string]any{"dataset": "psmtap.session", "id": "hostile1", "type": []string{"end"}, "start": "2026-12-01T00:00:00Z"},
		"source": map[string]any{"ip": "192.0.2.66", "port": 1}, "destination": map[string]any{"ip": "192.0.2.20", "port": 23},
		"network": map[string]any{"protocol": "telnet"}, "user": map[string]any{"name": hostile},
		"psm": map[string]any{"session_id": "hostile1", "commands": []string{hostile}}})
	alert, _ := json.Marshal(map[string]any{"@timestamp": "2026-12-01T00:00:01Z", "event": map[string]any{"dataset": "psmtap.alert", "id": "h-alert"},
		"message": hostile, "psm": map[string]any{"session_id": "hostile1", "alert": map[string]any{"level": `"><b>x`}}})
	os.WriteFile(filepath.Join(w, "zz-hostile.ndjson"), []byte(fmt.Sprintf("%s\n%s\n", doc, alert)), 0o644)
	time.Sleep(1500 * time.Millisecond) // serve --reload 500ms
	c.call(t, "Page.navigate", map[string]any{"url": base + "/?again#session=hostile1"})
	c.waitFor(t, "the hostile session listed", `document.querySelector('#sessions tr[data-id="hostile1"]')`, 20*time.Second)
	c.waitFor(t, "its commands", `document.querySelectorAll("#commands li").length === 1`, 10*time.Second)
	c.waitFor(t, "its alert", `document.querySelector("#alerts").textContent.includes("__pwned")`, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	var got struct {
		User, Command, Alert string
		Pwned                any
		Imgs, Scripts, Bolds int
	}
	json.Unmarshal(c.eval(t, `({user: document.querySelector('#sessions tr[data-id="hostile1"] .user').textContent,
		command: document.querySelector("#commands li").textContent,
		alert: document.querySelector("#alerts li").textContent,
		pwned: window.__pwned === undefined ? null : window.__pwned,
		imgs: document.querySelectorAll("main img").length, scripts: document.querySelectorAll("main script").length,
		bolds: document.querySelectorAll("#alerts b").length})`), &got)
	if got.User != hostile || got.Command != hostile || !strings.Contains(got.Alert, hostile) || got.Pwned != nil || got.Imgs+got.Scripts+got.Bolds != 0 {
		t.Errorf("hostile session: %+v", got)
	}
}

// TestConsoleLiveBrowser: the console of psmtap live --listen (with a
// token) in headless Chromium, both in a network namespace, while
// pcaps/telnet-login.pcap is replayed onto the capture veth as someone
// typing: the page asks for the token, the session appears open, and its
// live terminal (xterm.js) shows the typed command and its answer.
//
// Needs root, ip netns and chromium; about 10 s.
func TestConsoleLiveBrowser(t *testing.T) {
	needNetns(t, "starts a browser")
	pair := vethtest.New(t)
	c := chromiumIn(t, pair.Cap)
	frames, err := vethtest.Sessions(repoRoot+"/pcaps/telnet-login.pcap", 1, 42000)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("console-test-token\n"), 0o600)
	// Terminate enabled, injecting back into the capture veth: the console
	// offers the button. The replayed session is frames, not a connection,
	// so the resets end nothing here; the real effect of a terminate is
	// TestRespondTerminateNetns's and TestRespondLoopNetns's.
	cmd := exec.Command("ip", "netns", "exec", pair.Cap, binary, "live", "-i", pair.CapIf, "--bpf", "tcp",
		"--listen", "127.0.0.1:0", "--api-token-file", tokenFile, "--observer", "console-test",
		"--enable-response", "terminate", "--inject-interface", pair.CapIf)
	cmd.Stdout = io.Discard
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addrRE := regexp.MustCompile(`msg="api listening" addr=(\S+)`)
	addrc, capturing := make(chan string, 1), make(chan struct{})
	asked := make(chan string, 4) // sessions psmtap logged a terminate of
	askedRE := regexp.MustCompile(`msg="terminate asked through the API" session=(\S+)`)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
			if m := askedRE.FindStringSubmatch(sc.Text()); m != nil {
				asked <- m[1]
			}
			if strings.Contains(sc.Text(), "capturing") {
				close(capturing)
			}
		}
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a
	case <-time.After(15 * time.Second):
		t.Fatal("psmtap live did not start its API")
	}
	select {
	case <-capturing:
	case <-time.After(15 * time.Second):
		t.Fatal("psmtap live did not start capturing")
	}
	time.Sleep(300 * time.Millisecond)

	c.call(t, "Page.navigate", map[string]any{"url": base + "/"})
	c.waitFor(t, "the token asked for", `!document.querySelector("#login").hidden`, 15*time.Second)
	c.eval(t, `document.querySelector("#token").value = "console-test-token"; document.querySelector("#login").requestSubmit()`)
	c.waitFor(t, "the console open", `!document.querySelector("#app").hidden && document.querySelector("#status").textContent === "live"`, 10*time.Second)

	rp, err := vethtest.NewReplayer(pair.Src, pair.SrcIf)
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	done := make(chan error, 1)
	go func() { _, err := rp.Replay(context.Background(), frames, 25); done <- err }()

	c.waitFor(t, "the open Telnet session listed", `Array.from(document.querySelectorAll("#sessions tbody tr")).some(tr => tr.querySelector(".protocol").textContent === "telnet" && tr.querySelector(".open"))`, 15*time.Second)
	c.eval(t, `Array.from(document.querySelectorAll("#sessions tbody tr")).find(tr => tr.querySelector(".open")).click()`)
	c.waitFor(t, "the live terminal showing whoami and its answer",
		`document.querySelector("#term .xterm-rows") && /alice@psm-srv:~\$ whoami\s*alice/.test(document.querySelector("#term .xterm-rows").innerText)`,
		30*time.Second)
	if shots := os.Getenv("PSMTAP_CONSOLE_SHOTS"); shots != "" {
		c.screenshot(t, filepath.Join(shots, "console-live.png"))
	}
	// End the session from the console: the button asks first; Cancel sends
	// nothing, "End it" posts the terminate.
	c.waitFor(t, "the End session button", `!document.querySelector("#terminate").hidden && document.querySelector("#tconfirm").hidden`, 5*time.Second)
	c.eval(t, `document.querySelector("#terminate").click()`)
	c.waitFor(t, "the confirmation", `!document.querySelector("#tconfirm").hidden`, 5*time.Second)
	c.eval(t, `document.querySelector("#tno").click()`)
	c.waitFor(t, "the confirmation gone", `document.querySelector("#tconfirm").hidden`, 5*time.Second)
	select {
	case id := <-asked:
		t.Fatalf("Cancel asked to end session %s", id)
	case <-time.After(300 * time.Millisecond):
	}
	var sel string
	json.Unmarshal(c.eval(t, `document.querySelector("#sessions tbody tr.sel").dataset.id`), &sel)
	c.eval(t, `document.querySelector("#terminate").click(); document.querySelector("#tyes").click()`)
	c.waitFor(t, "the termination asked", `document.querySelector("#tresult").textContent.startsWith("termination asked")`, 5*time.Second)
	select {
	case id := <-asked:
		if id != sel || sel == "" {
			t.Fatalf("asked to end %s, the page showed %q", id, sel)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("psmtap did not log the console's terminate")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "alice's session ended", `Array.from(document.querySelectorAll("#sessions tbody tr")).some(tr => tr.querySelector(".user").textContent === "alice" && !tr.querySelector(".open"))`, 20*time.Second)
}
