package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/sensor"
	"github.com/psmtap/psmtap/internal/term"
	"github.com/psmtap/psmtap/internal/vethtest"
)

// TestLiveAPINetns is issue 13's end-to-end test: the real psmtap live
// captures on a veth in a network namespace with --listen 127.0.0.1:0 and a
// token, while pcaps/telnet-login.pcap (alice: a failed login, then id,
// whoami typed as whoamu DEL i, exit) is replayed into the other end at
// 40 ms a frame, as someone typing. While it runs: the session is listed,
// psmtap watch --latest draws it and exits when it ends, /api/v1/events
// delivers the login and command events, 50 more viewers follow the live
// stream (half of them never reading) without a packet dropped, and a
// request without the token gets 401. The keystroke-echo-to-viewer latency
// is measured (docs/PERFORMANCE.md, "Live view"). Outputs are unchanged:
// no --events, so stdout has the session record and no event.
//
// Needs root and ip netns; about 15 s.
func TestLiveAPINetns(t *testing.T) {
	needNetns(t, "about 15 s")
	pair := vethtest.New(t)
	frames, err := vethtest.Sessions(repoRoot+"/pcaps/telnet-login.pcap", 1, 41000)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("test-token-"+strconv.Itoa(os.Getpid())+"\n"), 0o600)
	token := "test-token-" + strconv.Itoa(os.Getpid())

	cmd := exec.Command("ip", "netns", "exec", pair.Cap, binary, "live", "-i", pair.CapIf, "--bpf", "tcp",
		"--stats-every", "1s", "--observer", "netns-test", "--listen", "127.0.0.1:0", "--api-token-file", tokenFile)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	lp := startLive(t, cmd)
	var addr string
	addrRE := regexp.MustCompile(`msg="api listening" addr=(\S+)`)
	for _, l := range lp.lines() {
		if m := addrRE.FindStringSubmatch(l); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no api address logged:\n%s", lp.logs())
	}
	base := "http://" + addr

	// The API listens in the capture namespace: dial there.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, a string) (c net.Conn, err error) {
		err = vethtest.In(pair.Cap, func() error { c, err = (&net.Dialer{}).DialContext(ctx, network, a); return err })
		return c, err
	}, MaxIdleConnsPerHost: 100}}
	get := func(path, tok string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		return hc.Do(req)
	}

	// 401 without the token (or with a wrong one).
	for _, tok := range []string{"", "nope"} {
		resp, err := get(sensor.PathSessions, tok)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("token %q: %s, want 401", tok, resp.Status)
		}
	}

	// Events from the start.
	var evMu sync.Mutex
	var sse []map[string]any
	sseResp, err := get(sensor.PathEvents, token)
	if err != nil || sseResp.StatusCode != 200 {
		t.Fatalf("events: %v %v", err, sseResp)
	}
	sseDone := make(chan struct{})
	go func() {
		defer close(sseDone)
		sc := bufio.NewScanner(sseResp.Body)
		var kind string
		for sc.Scan() {
			l := sc.Text()
			if k, ok := strings.CutPrefix(l, "event: "); ok {
				kind = k
			}
			if d, ok := strings.CutPrefix(l, "data: "); ok && kind == "event" {
				var m map[string]any
				json.Unmarshal([]byte(d), &m)
				evMu.Lock()
				sse = append(sse, m)
				evMu.Unlock()
			}
		}
	}()

	// Replay in the background, at 40 ms a frame.
	rp, err := vethtest.NewReplayer(pair.Src, pair.SrcIf)
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	replayed := make(chan error, 1)
	go func() {
		_, err := rp.Replay(context.Background(), frames, 25)
		replayed <- err
	}()

	// The session is listed while it runs.
	var sess *sensor.Entry
	deadline := time.Now().Add(5 * time.Second)
	for sess == nil && time.Now().Before(deadline) {
		resp, err := get(sensor.PathSessions, token)
		if err != nil {
			t.Fatal(err)
		}
		var l sensor.SessionList
		json.NewDecoder(resp.Body).Decode(&l)
		resp.Body.Close()
		if len(l.Sessions) > 0 {
			sess = l.Sessions[0]
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if sess == nil || !sess.Open || sess.Protocol != "telnet" || !strings.HasSuffix(sess.Server, ":23") {
		t.Fatalf("no open telnet session listed while the replay runs: %+v\n%s", sess, lp.logs())
	}

	// psmtap watch --latest, the way an operator runs it.
	watch := exec.Command("ip", "netns", "exec", pair.Cap, binary, "watch", "--sensor", base, "--token-file", tokenFile, "--latest")
	var watchOut, watchErr bytes.Buffer
	watch.Stdout, watch.Stderr = &watchOut, &watchErr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	watchExit := make(chan error, 1)
	go func() { watchExit <- watch.Wait() }()

	// 50 viewers more: half read (one of them measures), half never read.
	type timed struct {
		at   time.Time
		ev   sensor.CastEvent
		hdr  sensor.CastHeader
		join time.Time
	}
	var lat []timed
	var viewers sync.WaitGroup
	var bodies []io.Closer
	cl := &sensor.Client{Base: base, Token: token, HTTP: hc}
	for i := 0; i < 50; i++ {
		if i%2 == 1 {
			resp, err := get(sensor.PathSessions+"/"+sess.ID+"/live", token)
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, resp.Body) // never read
			continue
		}
		viewers.Add(1)
		measure := i == 0
		go func() {
			defer viewers.Done()
			var hdr sensor.CastHeader
			join := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			err := cl.Live(ctx, sess.ID, func(h sensor.CastHeader) { hdr = h }, func(e sensor.CastEvent) error {
				if measure {
					lat = append(lat, timed{time.Now(), e, hdr, join})
				}
				return nil
			})
			if err != nil {
				t.Errorf("viewer: %v", err)
			}
		}()
	}

	if err := <-replayed; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-watchExit:
		if err != nil {
			t.Errorf("watch: %v\n%s", err, watchErr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("psmtap watch did not exit when the session ended\n%s", watchErr.String())
	}
	viewers.Wait()
	for _, b := range bodies {
		b.Close()
	}

	// watch drew the session: as the screen shows it, the prompt then id
	// and whoami (typed whoamu, DEL, i), and nothing that drives the
	// terminal beyond drawing (the session's OSC window titles are gone).
	var scr term.Screen
	scr.Write(watchOut.Bytes())
	screen := scr.Text()
	for _, want := range []string{"alice@psm-srv:~$ id\n", "uid=2001(alice)", "alice@psm-srv:~$ whoami\n", "alice\n", "logout"} {
		if !strings.Contains(screen, want) {
			t.Errorf("watch did not show %q:\n%s", want, screen)
		}
	}
	if bytes.Contains(watchOut.Bytes(), []byte("\x1b]")) || bytes.Contains(watchOut.Bytes(), []byte("Wonderland")) {
		t.Errorf("watch passed an OSC or a password: %q", watchOut.String())
	}
	if !strings.Contains(watchErr.String(), "the session ended") {
		t.Errorf("watch stderr: %s", watchErr.String())
	}

	// Metrics while it runs.
	resp, err := get(sensor.PathMetrics, token)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"psmtap_packets_total ", "psmtap_capture_kernel_dropped_total 0\n", "psmtap_queue_depth ", "psmtap_live_sessions_total 1\n"} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("metrics lack %q:\n%s", want, mb)
		}
	}

	lp.stop(t, 20*time.Second)
	<-sseDone

	// Events: the failed and the good login, and the three commands.
	evMu.Lock()
	var got []string
	for _, m := range sse {
		ev, _ := m["event"].(map[string]any)
		switch ev["action"] {
		case "login":
			got = append(got, "login:"+fmt.Sprint(ev["outcome"]))
		case "command":
			p, _ := m["process"].(map[string]any)
			got = append(got, "command:"+fmt.Sprint(p["command_line"]))
		}
	}
	evMu.Unlock()
	if strings.Join(got, " ") != "login:failure login:success command:id command:whoami command:exit" {
		t.Errorf("events: %v", got)
	}

	// Outputs unchanged: the record, no events (no --events).
	recs := records(t, stdout.String())
	if len(recs) != 1 || recs[0]["event"].(map[string]any)["dataset"] != "psmtap.session" {
		t.Errorf("stdout: %s", stdout.String())
	}
	var counters map[string]string
	for _, l := range lp.lines() {
		if strings.Contains(l, "msg=counters") {
			counters = logFields(l)
		}
	}
	if counters["kernel_dropped"] != "0" || counters["received"] != strconv.Itoa(len(frames)) {
		t.Errorf("with 51 viewers: %v (sent %d)", counters, len(frames))
	}

	// Latency: from the packet's capture time (header psm_start_ns + the
	// event's time) to the viewer, for output captured after it joined.
	var all, echo []time.Duration
	for i, x := range lat {
		if x.ev.Code != "o" {
			continue
		}
		captured := time.Unix(0, x.hdr.StartNS+int64(x.ev.Time*1e9))
		if captured.Before(x.join) {
			continue // history sent on joining
		}
		d := x.at.Sub(captured)
		all = append(all, d)
		if len([]rune(x.ev.Data)) == 1 && i > 0 && lat[i-1].ev.Code == "i" {
			echo = append(echo, d) // the echo of a key
		}
	}
	if len(echo) < 10 {
		t.Fatalf("only %d echoes measured of %d output events", len(echo), len(all))
	}
	p := func(ds []time.Duration, q float64) time.Duration {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[int(q*float64(len(s)-1))]
	}
	t.Logf("keystroke echo -> viewer: %d echoes, p50 %v, p99 %v, max %v; all output: %d events, p50 %v, p99 %v",
		len(echo), p(echo, 0.5), p(echo, 0.99), p(echo, 1), len(all), p(all, 0.5), p(all, 0.99))
	if p(echo, 0.99) > time.Second {
		t.Errorf("echo -> viewer p99 %v, want under 1 s", p(echo, 0.99))
	}
}
