package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/pcaptool"
	"github.com/psmtap/psmtap/internal/vethtest"
)

// TestLiveDropsNetns replays bulk TCP (pcaptool bench, no sessions of
// interest) mixed with copies of bundled captures (each copy its own
// session, vethtest.Sessions) onto a veth at a fixed bit rate, captures with
// psmtap live in the other namespace, and compares: frames sent, what the
// veth received, psmtap's received and kernel/interface drops, sessions
// expected (psmtap read on the same frames) and written.
//
// In CI (root, ip netns): 100 Mbit/s for 8 s with the default capture
// settings; no kernel drop, every session written. About 30 s.
//
// PSMTAP_LIVEBENCH=1 runs the measurements of docs/PERFORMANCE.md instead
// (internal/tools/livebench.sh): every rate in PSMTAP_LIVEBENCH_RATES
// (default "100M,1G,top") with every configuration in
// PSMTAP_LIVEBENCH_CONFIGS (';'-separated psmtap live flags, "" is the
// defaults), PSMTAP_LIVEBENCH_SECONDS of traffic each (default 8).
func TestLiveDropsNetns(t *testing.T) {
	needNetns(t, "about 30 s")
	bench := os.Getenv("PSMTAP_LIVEBENCH") != ""
	rates := []string{"100M"}
	configs := []string{""}
	seconds := 8.0
	if bench {
		rates = splitEnv("PSMTAP_LIVEBENCH_RATES", ",", "100M,1G,top")
		configs = splitEnv("PSMTAP_LIVEBENCH_CONFIGS", ";", ";--immediate;--snaplen 262144 --buffer-mb 64 --immediate")
		if v, err := strconv.ParseFloat(os.Getenv("PSMTAP_LIVEBENCH_SECONDS"), 64); err == nil {
			seconds = v
		}
	}
	dir := t.TempDir()
	tool := filepath.Join(dir, "pcaptool")
	if out, err := exec.Command("go", "build", "-o", tool, "../../internal/tools/pcaptool").CombinedOutput(); err != nil {
		t.Fatalf("building pcaptool: %v\n%s", err, out)
	}
	// Sessions of interest: 40 copies of each of five captures (one session
	// each, 200 in all), mixed into every run whatever its length.
	var sessions [][]byte
	for i, name := range []string{"telnet-login", "ssh-publickey", "rlogin", "ssh-password-interactive", "rdp-xrdp-tls"} {
		f, err := vethtest.Sessions(repoRoot+"/pcaps/"+name+".pcap", 40, uint16(20000+i*100))
		if err != nil {
			t.Fatal(err)
		}
		sessions = vethtest.Interleave(sessions, f)
	}
	pair := vethtest.New(t)
	type row struct {
		rate, config                  string
		sent                          vethtest.Sent
		arrived                       uint64 // rx_packets of the capture end
		vethDropped                   uint64 // refused or dropped by the veth
		received, kdrop, ifdrop       string
		expected, written, pct, stall string
	}
	var rows []row
	for _, rate := range rates {
		bps := map[string]int64{"100M": 100e6, "1G": 1e9, "top": 0}[rate]
		if _, ok := map[string]bool{"100M": true, "1G": true, "top": true}[rate]; !ok {
			t.Fatalf("rate %q: want 100M, 1G or top", rate)
		}
		size := int64(float64(bps) / 8 * seconds)
		if bps == 0 {
			size = int64(1e9 / 8 * seconds) // top speed: as much as 1 Gbit/s for the time
		}
		frames, expected := benchFrames(t, tool, dir, size, sessions)
		for _, config := range configs {
			r := row{rate: rate, config: config, expected: strconv.Itoa(expected)}
			before, err := vethtest.Stats(pair.Cap, pair.CapIf)
			if err != nil {
				t.Fatal(err)
			}
			srcBefore, _ := vethtest.Stats(pair.Src, pair.SrcIf)
			counters, written := runLiveCapture(t, pair, strings.Fields(config), func() {
				rp, err := vethtest.NewReplayer(pair.Src, pair.SrcIf)
				if err != nil {
					t.Fatal(err)
				}
				defer rp.Close()
				if r.sent, err = rp.ReplayBits(context.Background(), frames, bps); err != nil {
					t.Fatal(err)
				}
			})
			after, _ := vethtest.Stats(pair.Cap, pair.CapIf)
			srcAfter, _ := vethtest.Stats(pair.Src, pair.SrcIf)
			d, sd := after.Sub(before), srcAfter.Sub(srcBefore)
			r.arrived = d.RxPackets
			r.vethDropped = d.RxDropped + sd.TxDropped + uint64(r.sent.Refused)
			r.received, r.kdrop, r.ifdrop = counters["received"], counters["kernel_dropped"], counters["interface_dropped"]
			r.pct, r.written = counters["kernel_dropped_pct"], strconv.Itoa(written)
			t.Logf("%s %q: sent %d frames (%.0f Mbit/s, %d refused by the veth), arrived %d, psmtap received %s, kernel dropped %s (%s%%), interface dropped %s; sessions expected %d, written %d",
				rate, config, r.sent.Frames, r.sent.Mbps(), r.sent.Refused, r.arrived, r.received, r.kdrop, r.pct, r.ifdrop, expected, written)
			rows = append(rows, r)
			if !bench {
				if r.kdrop != "0" {
					t.Errorf("kernel dropped %s of %d frames at %s with the default settings", r.kdrop, r.sent.Frames, rate)
				}
				if written != expected {
					t.Errorf("%d sessions written, %d expected (psmtap read on the same frames)", written, expected)
				}
				if r.received != strconv.Itoa(r.sent.Frames) {
					t.Errorf("psmtap received %s frames, %d sent", r.received, r.sent.Frames)
				}
			}
		}
	}
	if bench {
		var b strings.Builder
		fmt.Fprintf(&b, "\n| rate | psmtap live flags | frames sent | Mbit/s reached | veth drops/refusals | arrived | received | kernel dropped | interface dropped | sessions expected | written |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range rows {
			cfg := r.config
			if cfg == "" {
				cfg = "(defaults)"
			}
			fmt.Fprintf(&b, "| %s | `%s` | %d | %.0f | %d | %d | %s | %s (%s%%) | %s | %s | %s |\n",
				r.rate, cfg, r.sent.Frames, r.sent.Mbps(), r.vethDropped, r.arrived, r.received, r.kdrop, r.pct, r.ifdrop, r.expected, r.written)
		}
		t.Log(b.String())
	}
}

func splitEnv(name, sep, def string) []string {
	v, ok := os.LookupEnv(name)
	if !ok {
		v = def
	}
	return strings.Split(v, sep)
}

// benchFrames makes size bytes of bulk traffic with pcaptool bench, mixes
// sessions into it, and counts the sessions psmtap read finds in the result
// (written as a pcap with timestamps at 1 Gbit/s).
func benchFrames(t *testing.T, tool, dir string, size int64, sessions [][]byte) ([][]byte, int) {
	t.Helper()
	bulk := filepath.Join(dir, "bulk.pcap")
	if out, err := exec.Command(tool, "bench", "-in", repoRoot+"/pcaps", "-out", bulk, "-size", strconv.FormatInt(size, 10),
		"-interest", "0", "-flows", "2000", "-seed", "1").CombinedOutput(); err != nil {
		t.Fatalf("pcaptool bench: %v\n%s", err, out)
	}
	c, err := pcaptool.ReadFile(bulk)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(bulk)
	a := make([][]byte, len(c.Packets))
	for i, p := range c.Packets {
		a[i] = p.Data
	}
	frames := vethtest.Interleave(a, sessions)
	mixed := filepath.Join(dir, "mixed.pcap")
	f, err := os.Create(mixed)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcaptool.NewWriter(f, c.LinkType, pcaptool.DefaultSnaplen, true)
	if err != nil {
		t.Fatal(err)
	}
	ts, bits := time.Unix(1.7e9, 0), int64(0)
	for _, fr := range frames {
		w.WritePacket(ts.Add(time.Duration(bits)), fr, len(fr)) // ns at 1 Gbit/s
		bits += int64(len(fr)) * 8
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command(binary, "read", mixed).Output()
	if err != nil {
		t.Fatalf("psmtap read: %v", err)
	}
	os.Remove(mixed)
	return frames, bytes.Count(out, []byte("\n"))
}

// runLiveCapture starts psmtap live with flags on the capture end, runs
// replay, waits for the ring to drain, stops psmtap and returns its exit
// summary and the number of records it wrote.
func runLiveCapture(t *testing.T, pair *vethtest.Pair, flags []string, replay func()) (map[string]string, int) {
	t.Helper()
	args := append([]string{"netns", "exec", pair.Cap, "nice", "-n", "-10", binary, "live", "-i", pair.CapIf, "--stats-every", "1s"}, flags...)
	cmd := exec.Command("ip", args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	lp := startLive(t, cmd)
	replay()
	time.Sleep(2 * time.Second) // blocks retire within 100 ms; the reader catches up
	lp.stop(t, 30*time.Second)
	var sum map[string]string
	for _, l := range lp.lines() {
		if strings.Contains(l, `msg="live done"`) {
			sum = logFields(l)
		}
	}
	if sum == nil {
		t.Fatalf("no exit summary:\n%s", lp.logs())
	}
	return sum, bytes.Count(stdout.Bytes(), []byte("\n"))
}
