package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/pcaptool"
	"github.com/psmtap/psmtap/internal/vethtest"
)

// TestLiveRuleLatencyNetns measures issue 12's live alert latency: from the
// packet that completes a command to the alert leaving psmtap. psmtap live
// --rules builtin --events captures on a veth in a network namespace (NDJSON
// on stdout: the test timestamps each line as it arrives on the pipe) while
// 5 000 other TCP connections are open and trickling (about 2 000 frames a
// second) and copies of pcaps/telnet-suspicious.pcap, each with its own
// client port, are replayed at the capture's own timing, a few hundred
// milliseconds apart. Its commands fire 16 or 17 shipped rules a copy (the
// off-hours login rule depends on the time of day: live events carry the
// capture time).
//
// Matching an alert to its packet: the alert's psm.alert.trigger_id is the
// event.id <session>-<sequence> of the event that fired it; a read of copy 0
// of the session (same frames) gives each sequence's @timestamp, the pcap
// time of the frame that completed it; the replayer knows when it sent that
// frame of each copy (the alert's source.port names the copy). Latency =
// arrival of the alert line - the wall time just before that frame was
// written. The live event's own @timestamp (the kernel's receive time) is
// checked against that send time, so a wrong match cannot go unnoticed.
//
// Needs root and ip netns; about 45 s. PSMTAP_LATENCY_LOG=1 logs every
// alert; PSMTAP_LATENCY_NICE sets psmtap's niceness (default -10);
// PSMTAP_LATENCY_BIN and PSMTAP_LATENCY_ARGS run another build or add flags.
func TestLiveRuleLatencyNetns(t *testing.T) {
	needNetns(t, "about 45 s")
	const (
		copies    = 20
		firstPort = 30000
		gap       = 300 * time.Millisecond // between the starts of two copies
		flows     = 5000                   // other connections, open throughout
		open      = 3 * time.Second        // to open them
		every     = 2500 * time.Millisecond
	)
	sessions, copy0, err := vethtest.SessionCopies(repoRoot+"/pcaps/telnet-suspicious.pcap", copies, firstPort)
	if err != nil {
		t.Fatal(err)
	}
	length := sessions[0][len(sessions[0])-1].At
	first := open + 500*time.Millisecond
	end := first + gap*copies + length + time.Second
	sched, err := vethtest.Background(flows, open, every, end, 1)
	if err != nil {
		t.Fatal(err)
	}
	background := len(sched)
	for i, s := range sessions {
		for _, x := range s {
			sched = append(sched, vethtest.Scheduled{At: first + gap*time.Duration(i) + x.At, Frame: x.Frame, Tag: i<<16 | x.Tag})
		}
	}
	vethtest.Sort(sched)
	pos := map[int]int{} // copy<<16 | frame -> index in sched
	for i, x := range sched {
		if x.Tag >= 0 {
			pos[x.Tag] = i
		}
	}

	// Which frame completes each event: read copy 0 offline.
	completes := completingFrames(t, copy0)

	pair := vethtest.New(t)
	// Niced as a sensor would be (as in TestLiveSlowClusterNetns);
	// PSMTAP_LATENCY_NICE=0 measures it at the priority of everything else.
	niceness := "-10"
	if v := os.Getenv("PSMTAP_LATENCY_NICE"); v != "" {
		niceness = v
	}
	// PSMTAP_LATENCY_BIN measures another psmtap build, PSMTAP_LATENCY_ARGS
	// adds flags (space-separated), for comparisons in docs/PERFORMANCE.md.
	bin := binary
	if v := os.Getenv("PSMTAP_LATENCY_BIN"); v != "" {
		bin = v
	}
	args := []string{"netns", "exec", pair.Cap, "nice", "-n", niceness, bin, "live", "-i", pair.CapIf,
		"--bpf", "tcp", "--stats-every", "1s", "--observer", "netns-test", "--rules", "builtin", "--events"}
	args = append(args, strings.Fields(os.Getenv("PSMTAP_LATENCY_ARGS"))...)
	cmd := exec.Command("ip", args...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	type line struct {
		at   time.Time
		text []byte
	}
	var lines []line
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			now := time.Now() // parsed later: this loop only reads
			lines = append(lines, line{now, append([]byte(nil), sc.Bytes()...)})
		}
	}()
	var mu sync.Mutex
	var logged []string
	started := make(chan struct{})
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			logged = append(logged, sc.Text())
			mu.Unlock()
			if strings.Contains(sc.Text(), "capturing") {
				once.Do(func() { close(started) })
			}
		}
	}()
	logs := func() string { mu.Lock(); defer mu.Unlock(); return strings.Join(logged, "\n") }
	select {
	case <-started:
	case <-errDone:
		t.Fatalf("psmtap exited early:\n%s", logs())
	case <-time.After(15 * time.Second):
		t.Fatalf("psmtap did not start:\n%s", logs())
	}
	time.Sleep(300 * time.Millisecond) // the handle is active once it logs "capturing"; a margin

	rp, err := vethtest.NewReplayer(pair.Src, pair.SrcIf)
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	sent, err := rp.ReplaySchedule(context.Background(), sched)
	if err != nil {
		t.Fatal(err)
	}
	last := len(sched) - 1
	late := sent[last].Sub(sent[0]) - (sched[last].At - sched[0].At)
	time.Sleep(2 * time.Second) // the last alerts; none is near the end of the replay

	cmd.Process.Signal(syscall.SIGINT)
	waitErr := make(chan error, 1)
	go func() { <-outDone; <-errDone; waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Errorf("psmtap exit: %v\n%s", err, logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("psmtap did not stop on SIGINT:\n%s", logs())
	}
	// ip netns exec and nice exec psmtap: the process waited for is psmtap.
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	var counters map[string]string
	maxOpen := 0 // flows in psmtap's table, from the counters logged every second
	for _, l := range logged {
		if strings.Contains(l, "msg=counters") {
			counters = logFields(l)
			n, _ := strconv.Atoi(counters["flows_open"])
			maxOpen = max(maxOpen, n)
		}
	}
	if counters == nil {
		t.Fatalf("no counters logged:\n%s", logs())
	}

	// Events by id (their kernel time), then alerts.
	type doc struct {
		Timestamp time.Time `json:"@timestamp"`
		Event     struct {
			ID, Kind, Dataset string
		}
		Source struct{ Port int }
		Rule   struct{ Name string }
		Psm    struct {
			Alert struct {
				TriggerID      string `json:"trigger_id"`
				TriggerDataset string `json:"trigger_dataset"`
			}
		}
	}
	events := map[string]time.Time{}
	var alerts []doc
	var arrived []time.Time
	for _, l := range lines {
		var d doc
		if err := json.Unmarshal(l.text, &d); err != nil {
			t.Fatalf("%v: %s", err, l.text)
		}
		switch {
		case d.Event.Dataset == "psmtap.activity":
			events[d.Event.ID] = d.Timestamp
		case d.Event.Kind == "alert":
			alerts = append(alerts, d)
			arrived = append(arrived, l.at)
		}
	}
	var lat, skew []time.Duration
	perCopy := map[int]int{}
	other := 0
	for i, a := range alerts {
		c := a.Source.Port - firstPort
		// <session id>-<sequence>; the session id may hold '-' itself.
		cut := strings.LastIndexByte(a.Psm.Alert.TriggerID, '-')
		n, err := strconv.Atoi(a.Psm.Alert.TriggerID[cut+1:])
		ok, sid := cut > 0 && err == nil, a.Psm.Alert.TriggerID[:max(cut, 0)]
		frame, known := completes[n]
		if a.Psm.Alert.TriggerDataset != "psmtap.activity" || !ok || sid == "" || c < 0 || c >= copies || !known {
			other++ // a session record or a correlation: not what is measured here
			t.Logf("not measured: %s (trigger %s %s, port %d)", a.Rule.Name, a.Psm.Alert.TriggerDataset, a.Psm.Alert.TriggerID, a.Source.Port)
			continue
		}
		perCopy[c]++
		send := sent[pos[c<<16|frame]]
		lat = append(lat, arrived[i].Sub(send))
		if ts, ok := events[a.Psm.Alert.TriggerID]; ok {
			d := ts.Sub(send)
			if d < 0 {
				d = -d
			}
			skew = append(skew, d)
		}
		if testing.Verbose() && os.Getenv("PSMTAP_LATENCY_LOG") != "" {
			t.Logf("copy %2d seq %2d %-50s %8.2f ms", c, n, a.Rule.Name, ms(arrived[i].Sub(send)))
		}
	}
	sortD(lat)
	sortD(skew)
	drops, _ := strconv.Atoi(counters["kernel_dropped"])
	t.Logf("%d frames (%d of %d background connections, %d of %d copies of telnet-suspicious) in %.1f s, %.0f frames/s, replay %.0f ms late at the end; psmtap: received=%s kernel_dropped=%s, up to %d flows open, CPU %.1f s (nice %s)",
		len(sched), background, flows, len(sched)-background, copies, sched[len(sched)-1].At.Seconds(),
		float64(len(sched))/sched[len(sched)-1].At.Seconds(), ms(late), counters["received"], counters["kernel_dropped"], maxOpen, cpu.Seconds(), niceness)
	if maxOpen < flows {
		t.Errorf("at most %d flows open in psmtap, want the %d background connections and more", maxOpen, flows)
	}
	if len(lat) == 0 {
		t.Fatalf("no alert measured (%d alerts, %d lines of output):\n%s", len(alerts), len(lines), logs())
	}
	t.Logf("%d alerts measured (%d not), latency from the completing frame's send to the alert line: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms, min %.2f ms",
		len(lat), other, ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 99)), ms(lat[len(lat)-1]), ms(lat[0]))
	if len(skew) > 0 {
		t.Logf("match check: |event @timestamp (kernel) - send| median %.3f ms, max %.3f ms over %d events", ms(pct(skew, 50)), ms(skew[len(skew)-1]), len(skew))
	}

	// Generous bounds (issue 12 asks p99 < 1 s and p50 < 50 ms): they catch a
	// regression, not a busy machine.
	if p := pct(lat, 99); p > time.Second {
		t.Errorf("p99 latency %v, want under 1 s", p)
	}
	if p := pct(lat, 50); p > 100*time.Millisecond {
		t.Errorf("p50 latency %v, want under 100 ms", p)
	}
	if len(skew) < len(lat)*9/10 || pct(skew, 50) > 20*time.Millisecond {
		t.Errorf("alerts not matched to their packets: %d of %d events found, median skew %v", len(skew), len(lat), pct(skew, 50))
	}
	if drops == 0 {
		for c := 0; c < copies; c++ {
			if perCopy[c] < 16 {
				t.Errorf("copy %d (port %d): %d alerts, want 16 or 17", c, firstPort+c, perCopy[c])
			}
		}
	} else if len(lat) < copies*16*3/4 {
		t.Errorf("%d alerts with %d kernel drops: too few to measure", len(lat), drops)
	}
}

// completingFrames reads the frames of one copy of the session offline and
// gives, for each event sequence number, the index of the frame whose time is
// the event's @timestamp (the first such frame: the earliest send time, so
// the latency is never understated).
func completingFrames(t *testing.T, c pcaptool.Capture) map[int]int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy0.pcap")
	if err := pcaptool.WriteFile(path, c); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "read", "--events", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	byTime := map[int64]int{}
	for i := len(c.Packets) - 1; i >= 0; i-- {
		byTime[c.Packets[i].Time.UnixMicro()] = i
	}
	m := map[int]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var d struct {
			Timestamp time.Time `json:"@timestamp"`
			Event     struct {
				Dataset  string
				Sequence int
			}
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		if d.Event.Dataset != "psmtap.activity" {
			continue
		}
		i, ok := byTime[d.Timestamp.UnixMicro()]
		if !ok {
			t.Fatalf("event %d at %v: no frame at that time", d.Event.Sequence, d.Timestamp)
		}
		m[d.Event.Sequence] = i
	}
	if len(m) < 17 {
		t.Fatalf("%d events in one copy of the session, want 18", len(m))
	}
	return m
}

func pct(s []time.Duration, p int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := (len(s)*p + 99) / 100 // nearest rank
	return s[max(i-1, 0)]
}

func sortD(s []time.Duration) { sort.Slice(s, func(i, j int) bool { return s[i] < s[j] }) }

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
