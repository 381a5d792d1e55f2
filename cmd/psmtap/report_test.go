package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// bundledRecords writes the bundled captures' records, activity events and
// alerts as read -w does, once for all the report tests.
var recordsDirOnce struct {
	dir string
	err string
}

func bundledRecords(t *testing.T) string {
	t.Helper()
	if recordsDirOnce.dir == "" && recordsDirOnce.err == "" {
		// Under the binary's directory, which TestMain removes.
		dir, err := os.MkdirTemp(filepath.Dir(binary), "records")
		if err != nil {
			t.Fatal(err)
		}
		r := run(t, append([]string{"read", "--events", "--rules", "builtin", "--log-level", "error", "-w", dir}, topCaptures(t)...)...)
		if r.code != 0 {
			recordsDirOnce.err = r.stderr
		}
		recordsDirOnce.dir = dir
	}
	if recordsDirOnce.err != "" {
		t.Fatalf("read -w: %s", recordsDirOnce.err)
	}
	return recordsDirOnce.dir
}

// topCaptures are the bundled captures without pcaps/edge: an edge variant
// is a session of its original again, with its session id, so Elasticsearch
// would keep one of the two where files keep both.
func topCaptures(t *testing.T) []string {
	t.Helper()
	caps, err := filepath.Glob(filepath.Join(repoRoot, "pcaps", "*.pcap"))
	if err != nil || len(caps) == 0 {
		t.Fatalf("no captures in pcaps/: %v", err)
	}
	for i, c := range caps { // the binary runs in repoRoot
		caps[i], _ = filepath.Rel(repoRoot, c)
	}
	return caps
}

// ndjsonDocs reads every document of the directory's files, in file order.
func ndjsonDocs(t *testing.T, dir string) []map[string]any {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.ndjson.zst"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("read -w wrote no file")
	}
	var docs []map[string]any
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		z, err := zstd.NewReader(fh)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(z)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			docs = append(docs, m)
		}
		z.Close()
		fh.Close()
	}
	return docs
}

func reportJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	r := run(t, append([]string{"report", "--format", "json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("report %v: exit %d: %s", args, r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, r.stdout)
	}
	return m
}

func num(m map[string]any, path string) int {
	f, _ := field(m, path).(float64)
	return int(f)
}

// TestReportNumbersMatchRecords: the report over the bundled captures says
// what the records say, counted here again straight from the NDJSON.
func TestReportNumbersMatchRecords(t *testing.T) {
	dir := bundledRecords(t)
	since, _ := time.Parse(time.RFC3339, "2026-01-01T00:00:00Z")
	until, _ := time.Parse(time.RFC3339, "2027-01-01T00:00:00Z")
	rep := reportJSON(t, "--records", dir, "--since", since.Format(time.RFC3339), "--until", until.Format(time.RFC3339), "--top", "1000")

	// Independent count: each document once (the first copy of an id, as
	// Elasticsearch keeps the first create), sessions by their final record.
	seen := map[string]bool{}
	type agg struct{ sessions, ok, failed, commands, offHours int }
	var total agg
	byProto, users, servers, clients := map[string]int{}, map[string]*agg{}, map[string]bool{}, map[string]bool{}
	byAction, byLevel, cmdCount, cleartext := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	alerts, rdpStd, tunnels := 0, 0, 0
	hassh := map[string]bool{}
	perDayFailed := map[string]int{}
	for _, d := range ndjsonDocs(t, dir) {
		id := str(d, "event.id")
		if seen[id] {
			continue
		}
		seen[id] = true
		switch str(d, "event.dataset") {
		case "psmtap.session":
			if str(d, "event.type") != "end" || str(d, "network.protocol") == "" {
				t.Fatalf("a record that is not a final session record: %v", d)
			}
			start, _ := time.Parse(time.RFC3339Nano, str(d, "@timestamp"))
			p, u := str(d, "network.protocol"), str(d, "user.name")
			ok, failed := 0, 0
			if s, has := field(d, "psm.login.success").(bool); has {
				attempts := num(d, "psm.login.attempts")
				if s {
					ok = 1
				}
				failed = attempts - ok
				if !s && failed < 1 {
					failed = 1
				}
			}
			cmds, _ := field(d, "psm.commands").([]any)
			wd, h := start.Weekday(), start.Hour()
			off := 0
			if wd == time.Saturday || wd == time.Sunday || h < 7 || h >= 19 {
				off = 1
			}
			a := agg{1, ok, failed, len(cmds), off}
			add := func(x *agg) {
				x.sessions += a.sessions
				x.ok += a.ok
				x.failed += a.failed
				x.commands += a.commands
				x.offHours += a.offHours
			}
			add(&total)
			byProto[p]++
			if u != "" {
				if users[u] == nil {
					users[u] = &agg{}
				}
				add(users[u])
			}
			servers[str(d, "destination.ip")], clients[str(d, "source.ip")] = true, true
			for _, c := range cmds {
				cmdCount[c.(string)]++
			}
			switch p {
			case "telnet", "ftp", "rlogin", "rsh":
				cleartext[p+"/"+u]++
			}
			if str(d, "rdp.selected_protocol") == "rdp" {
				rdpStd++
			}
			if k := str(d, "psm.kind"); k == "tunnel" || k == "reverse" {
				tunnels++
			}
			if hs := str(d, "ssh.client.hassh"); hs != "" {
				hassh[hs] = true
			}
			perDayFailed[start.Format("2006-01-02")] += failed
		case "psmtap.activity":
			byAction[str(d, "event.action")]++
		case "psmtap.alert":
			alerts++
			byLevel[str(d, "psm.alert.level")]++
		}
	}
	if total.sessions < 30 || alerts < 20 || len(users) < 2 || rdpStd == 0 || tunnels == 0 {
		t.Fatalf("the bundled captures gave too little to check: %+v, %d alerts, %d users, %d rdp, %d tunnels", total, alerts, len(users), rdpStd, tunnels)
	}

	check := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: report %d, records %d", what, got, want)
		}
	}
	check("sessions", num(rep, "totals.sessions"), total.sessions)
	check("logins succeeded", num(rep, "totals.logins_succeeded"), total.ok)
	check("logins failed", num(rep, "totals.logins_failed"), total.failed)
	check("commands", num(rep, "totals.commands"), total.commands)
	check("off-hours sessions", num(rep, "totals.off_hours_sessions"), total.offHours)
	check("users", num(rep, "totals.users"), len(users))
	check("servers", num(rep, "totals.servers"), len(servers))
	check("clients", num(rep, "totals.clients"), len(clients))
	check("alerts", num(rep, "totals.alerts"), alerts)
	for p, n := range byProto {
		check("sessions "+p, num(rep, "totals.sessions_by_protocol."+p), n)
	}
	for a, n := range byAction {
		check("events "+a, num(rep, "totals.activity_events_by_action."+a), n)
	}
	for l, n := range byLevel {
		check("alerts "+l, num(rep, "totals.alerts_by_level."+l), n)
	}
	rows := func(path string) []map[string]any {
		var out []map[string]any
		l, _ := field(rep, path).([]any)
		for _, x := range l {
			out = append(out, x.(map[string]any))
		}
		return out
	}
	ur := rows("users.rows")
	check("user rows", len(ur), len(users))
	for _, u := range ur {
		w := users[str(u, "name")]
		if w == nil {
			t.Errorf("user %q in the report, not in the records", str(u, "name"))
			continue
		}
		check(str(u, "name")+" sessions", num(u, "sessions"), w.sessions)
		check(str(u, "name")+" logins ok", num(u, "logins_succeeded"), w.ok)
		check(str(u, "name")+" logins failed", num(u, "logins_failed"), w.failed)
		check(str(u, "name")+" commands", num(u, "commands"), w.commands)
		check(str(u, "name")+" off hours", num(u, "off_hours_sessions"), w.offHours)
	}
	for _, c := range rows("top_commands.rows") {
		check("command "+str(c, "command"), num(c, "count"), cmdCount[str(c, "command")])
	}
	check("distinct commands", num(rep, "top_commands.total"), len(cmdCount))
	ct := 0
	for _, c := range rows("findings.cleartext.rows") {
		check("cleartext "+str(c, "protocol")+"/"+str(c, "user"), num(c, "sessions"), cleartext[str(c, "protocol")+"/"+str(c, "user")])
		ct += num(c, "sessions")
	}
	check("cleartext sessions", ct, byProto["telnet"]+byProto["ftp"]+byProto["rlogin"]+byProto["rsh"])
	check("RDP Standard Security sessions", num(rep, "findings.rdp_standard_security.total"), rdpStd)
	check("tunnels and reverse", num(rep, "findings.tunnels_and_reverse.total"), tunnels)
	check("HASSH", num(rep, "findings.ssh_clients.total"), len(hassh))
	sumSessions, sumAlerts := 0, 0
	for _, d := range rows("trend.days") {
		for _, v := range d["sessions"].(map[string]any) {
			sumSessions += int(v.(float64))
		}
		sumAlerts += num(d, "alerts")
		check("failed logins on "+str(d, "date"), num(d, "failed_logins"), perDayFailed[str(d, "date")])
	}
	check("sessions over the days", sumSessions, total.sessions)
	check("alerts over the days", sumAlerts, alerts)
	check("days", len(rows("trend.days")), 365)
	if field(rep, "findings.earlier_data") != false {
		t.Error("earlier data claimed for a period that starts before every capture")
	}

	// The CSV says the same totals.
	r := run(t, "report", "--records", dir, "--since", since.Format(time.RFC3339), "--until", until.Format(time.RFC3339), "--format", "csv")
	cr := csv.NewReader(strings.NewReader(r.stdout))
	cr.FieldsPerRecord = -1
	all, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v", err)
	}
	csvTotals := map[string]string{}
	for _, row := range all {
		if row[0] == "totals" {
			csvTotals[row[1]] = row[2]
		}
	}
	if csvTotals["sessions"] != itoa(total.sessions) || csvTotals["alerts"] != itoa(alerts) || csvTotals["logins_failed"] != itoa(total.failed) {
		t.Errorf("CSV totals %v", csvTotals)
	}
}

// TestReportNewSinceEarlierData: with data before the period, users,
// addresses and SSH clients first seen in it are new; the others are not.
func TestReportNewSinceEarlierData(t *testing.T) {
	dir := bundledRecords(t)
	cut := "2026-11-27T00:00:00Z"
	rep := reportJSON(t, "--records", dir, "--since", cut, "--until", "2027-01-01T00:00:00Z")
	if field(rep, "findings.earlier_data") != true {
		t.Fatal("captures of 2026-11-26 are before the period: earlier data expected")
	}
	before, in := map[string]bool{}, map[string]bool{}
	for _, d := range ndjsonDocs(t, dir) {
		if str(d, "event.dataset") != "psmtap.session" || str(d, "user.name") == "" {
			continue
		}
		if str(d, "@timestamp") < cut {
			before[str(d, "user.name")] = true
		} else {
			in[str(d, "user.name")] = true
		}
	}
	var want []string
	for u := range in {
		if !before[u] {
			want = append(want, u)
		}
	}
	sort.Strings(want)
	var got []string
	l, _ := field(rep, "findings.new_users.rows").([]any)
	for _, x := range l {
		got = append(got, str(x.(map[string]any), "name"))
	}
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("new users %v, want %v", got, want)
	}
}

// TestReportEmpty: an empty directory and a period with no data give a
// report that says none everywhere, in every format, and no chart.
func TestReportEmpty(t *testing.T) {
	empty := t.TempDir()
	dir := bundledRecords(t)
	for _, args := range [][]string{
		{"--records", empty},
		{"--records", dir, "--since", "2020-01-01", "--until", "2020-02-01"},
	} {
		rep := reportJSON(t, args...)
		if num(rep, "totals.sessions") != 0 || num(rep, "totals.alerts") != 0 {
			t.Fatalf("%v: %v", args, rep["totals"])
		}
		for _, p := range []string{"users.rows", "servers.rows", "findings.cleartext.rows", "alerts.list.rows", "top_commands.rows"} {
			if l, ok := field(rep, p).([]any); !ok || len(l) != 0 {
				t.Fatalf("%v: %s is %v, want []", args, p, field(rep, p))
			}
		}
		h := run(t, append([]string{"report"}, args...)...)
		if h.code != 0 {
			t.Fatalf("%v: %s", args, h.stderr)
		}
		if strings.Contains(h.stdout, "<svg") || !strings.Contains(h.stdout, "No sessions in the period.") ||
			!strings.Contains(h.stdout, "No alerts in the period.") || !strings.Contains(h.stdout, "No earlier data") {
			t.Fatalf("%v: empty report HTML:\n%s", args, h.stdout)
		}
		if c := run(t, append([]string{"report", "--format", "csv"}, args...)...); c.code != 0 || !strings.Contains(c.stdout, "totals,sessions,0") {
			t.Fatalf("%v: CSV %s", args, c.stdout)
		}
	}
	for _, bad := range [][]string{
		{"--records", empty, "--since", "yesterday"},
		{"--records", empty, "--since", "1d", "--until", "2d"},
		{"--records", empty, "--work-hours", "19-07"},
		{"--records", empty, "--tz", "Mars/Olympus"},
		{"--records", empty, "--format", "pdf"},
		{"--records", filepath.Join(empty, "missing")},
	} {
		if r := run(t, append([]string{"report"}, bad...)...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", bad, r.code, r.stderr)
		}
	}
}

// TestReportElasticsearchSameAsRecords: the same captures shipped to the
// stand-in give the same report as the files.
func TestReportElasticsearchSameAsRecords(t *testing.T) {
	srv, url := startStandin(t)
	dir := bundledRecords(t)
	r := run(t, append([]string{"read", "--events", "--rules", "builtin", "--log-level", "error", "--output", "es", "--es-url", url, "--spool", t.TempDir()}, topCaptures(t)...)...)
	if r.code != 0 {
		t.Fatalf("read -o es: %s", r.stderr)
	}
	period := []string{"--since", "2026-11-27T00:00:00Z", "--until", "2027-01-01T00:00:00Z", "--top", "1000"}
	fromFiles := reportJSON(t, append([]string{"--records", dir}, period...)...)
	fromES := reportJSON(t, append([]string{"--es-url", url}, period...)...)
	for _, k := range []string{"generated", "source", "read"} {
		delete(fromFiles, k)
		delete(fromES, k)
	}
	a, _ := json.MarshalIndent(fromFiles, "", " ")
	b, _ := json.MarshalIndent(fromES, "", " ")
	if !bytes.Equal(a, b) {
		t.Fatalf("Elasticsearch and files differ: %s", firstDiff(string(a), string(b)))
	}
	if num(fromES, "totals.sessions") == 0 || num(fromES, "totals.alerts") == 0 {
		t.Fatal("nothing reported from Elasticsearch")
	}
	if srv.OpenPITs() != 0 {
		t.Fatalf("%d points in time left open", srv.OpenPITs())
	}
}

// TestReportRenderedByChromium renders the report over the bundled
// captures with headless Chromium: the page draws (the charts' colours are
// there) and fetches nothing. With -update it rewrites
// docs/report-example.png.
func TestReportRenderedByChromium(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("Chromium is not installed (/usr/bin/chromium; Debian package chromium, installed by .ci/run): the HTML report is not rendered")
	}
	dir := bundledRecords(t)
	tmp := t.TempDir()
	page := filepath.Join(tmp, "report.html")
	if r := run(t, "report", "--records", dir, "--since", "2026-11-20T00:00:00Z", "--until", "2026-12-01T00:00:00Z", "--out", page); r.code != 0 {
		t.Fatal(r.stderr)
	}
	shot := filepath.Join(tmp, "report.png")
	profile := filepath.Join(tmp, "profile")
	os.Mkdir(profile, 0o700)
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+profile,
		"--screenshot="+shot, "--window-size=1400,3000", "file://"+page)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 3000 {
		t.Fatalf("screenshot %v", b)
	}
	// The SSH colour of the sessions chart, and text (dark pixels).
	ssh, dark := 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			if near(r, 0x4e) && near(g, 0x79) && near(bl, 0xa7) {
				ssh++
			}
			if r < 80 && g < 80 && bl < 80 {
				dark++
			}
		}
	}
	if ssh < 200 || dark < 2000 {
		t.Fatalf("the rendered page looks empty: %d pixels of the SSH bars, %d dark pixels", ssh, dark)
	}
	if *update {
		docs := filepath.Join(repoRoot, "docs", "report-example.png")
		if err := exec.Command("cp", shot, docs).Run(); err != nil {
			t.Fatal(err)
		}
	}
}

func near(a, b uint32) bool { return a+6 >= b && b+6 >= a }
