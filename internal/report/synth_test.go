package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// A synthetic year of a sensor for the speed tests: session records made
// from the real ones of the bundled captures (pcaps/golden, so their size
// and shape are a real sensor's: SSH key-exchange lists, Telnet commands and
// screen text, RDP client data), with the time, ids, addresses and user
// names changed; plus one alert per hundred sessions. One rotated file a
// day, as live -w writes them.

type docTemplate struct {
	parts  []string // the JSON cut at the placeholders
	fields []string // the placeholder after each part but the last
	user   bool
	proto  string
}

var placeholders = []string{"@@TS@@", "@@START@@", "@@END@@", "@@ID@@", "@@SRC@@", "@@DST@@", "@@USER@@"}

// templates reads the final session records and the alerts of pcaps/golden.
func templates(t testing.TB) (sessions, alerts []docTemplate) {
	t.Helper()
	files, _ := filepath.Glob("../../pcaps/golden/*.ndjson")
	if len(files) == 0 {
		t.Fatal("no golden files in pcaps/golden")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			ev := m["event"].(map[string]any)
			ds := ev["dataset"]
			if ds != DatasetSession && ds != DatasetAlert {
				continue
			}
			if ds == DatasetSession && (fmt.Sprint(ev["type"]) != "[end]" || m["network"].(map[string]any)["protocol"] == nil) {
				continue
			}
			m["@timestamp"] = "@@TS@@"
			ev["id"] = "@@ID@@"
			if ds == DatasetSession {
				ev["start"], ev["end"] = "@@START@@", "@@END@@"
			}
			m["source"].(map[string]any)["ip"] = "@@SRC@@"
			m["destination"].(map[string]any)["ip"] = "@@DST@@"
			m["observer"] = map[string]any{"hostname": "sensor-1", "ingress": map[string]any{"interface": map[string]any{"name": "eth1"}}}
			tp := docTemplate{}
			if n, ok := m["network"].(map[string]any); ok {
				tp.proto, _ = n["protocol"].(string)
			}
			if u, ok := m["user"].(map[string]any); ok && u["name"] != nil {
				u["name"] = "@@USER@@"
				tp.user = true
			}
			if p, ok := m["psm"].(map[string]any); ok {
				p["session_id"] = "@@ID@@"
			}
			raw, _ := json.Marshal(m)
			s := string(raw)
			for {
				at, which := -1, ""
				for _, ph := range placeholders {
					if i := strings.Index(s, ph); i >= 0 && (at < 0 || i < at) {
						at, which = i, ph
					}
				}
				if at < 0 {
					break
				}
				tp.parts = append(tp.parts, s[:at])
				tp.fields = append(tp.fields, which)
				s = s[at+len(which):]
			}
			tp.parts = append(tp.parts, s)
			if ds == DatasetSession {
				sessions = append(sessions, tp)
			} else {
				alerts = append(alerts, tp)
			}
		}
	}
	if len(sessions) < 10 || len(alerts) < 5 {
		t.Fatalf("golden files gave %d session and %d alert templates", len(sessions), len(alerts))
	}
	return sessions, alerts
}

func (tp *docTemplate) write(w *bufio.Writer, vals map[string]string) {
	for i, p := range tp.parts {
		w.WriteString(p)
		if i < len(tp.fields) {
			w.WriteString(vals[tp.fields[i]])
		}
	}
	w.WriteByte('\n')
}

// synthYear writes n session records spread over the year before end, one
// file a day, and returns what it wrote: sessions by protocol and alerts.
func synthYear(t testing.TB, dir string, n int, end time.Time) (bytes int64, sessions, alerts int) {
	t.Helper()
	sess, alts := templates(t)
	// The mix of a network of servers: mostly SSH, some RDP, the cleartext
	// protocols the rest.
	byProto := map[string][]docTemplate{}
	for _, tp := range sess {
		byProto[tp.proto] = append(byProto[tp.proto], tp)
	}
	pick := func(rng *rand.Rand) *docTemplate {
		p := "ssh"
		switch x := rng.Intn(100); {
		case x >= 90:
			p = []string{"telnet", "ftp", "rlogin", "rsh"}[rng.Intn(4)]
		case x >= 75:
			p = "rdp"
		}
		l := byProto[p]
		return &l[rng.Intn(len(l))]
	}
	rng := rand.New(rand.NewSource(1))
	users := make([]string, 300)
	for i := range users {
		users[i] = fmt.Sprintf("admin%03d", i)
	}
	start := end.AddDate(-1, 0, 0)
	days := 365
	perDay := (n + days - 1) / days
	id := 0
	for day := 0; day < days && sessions < n; day++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("psmtap-%s-0001.ndjson.zst", start.AddDate(0, 0, day).Format("20060102T150405Z"))))
		if err != nil {
			t.Fatal(err)
		}
		z, _ := zstd.NewWriter(f, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		cw := &countWriter{w: z}
		w := bufio.NewWriterSize(cw, 1<<20)
		for k := 0; k < perDay && sessions < n; k++ {
			ts := start.AddDate(0, 0, day).Add(time.Duration(rng.Int63n(int64(24 * time.Hour))))
			id++
			vals := map[string]string{
				"@@TS@@": ts.Format(time.RFC3339Nano), "@@START@@": ts.Format(time.RFC3339Nano),
				"@@END@@":  ts.Add(time.Duration(rng.Int63n(int64(time.Hour)))).Format(time.RFC3339Nano),
				"@@ID@@":   fmt.Sprintf("syn%017d", id),
				"@@SRC@@":  fmt.Sprintf("10.%d.%d.%d", rng.Intn(4), rng.Intn(20), 1+rng.Intn(250)),
				"@@DST@@":  fmt.Sprintf("192.168.%d.%d", rng.Intn(2), 1+rng.Intn(250)),
				"@@USER@@": users[rng.Intn(len(users))],
			}
			pick(rng).write(w, vals)
			sessions++
			if id%100 == 0 {
				vals["@@ID@@"] = fmt.Sprintf("synalert%012d", id)
				alts[rng.Intn(len(alts))].write(w, vals)
				alerts++
			}
		}
		w.Flush()
		z.Close()
		f.Close()
		bytes += cw.n
	}
	return bytes, sessions, alerts
}

type countWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
