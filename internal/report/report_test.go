package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func writeNDJSON(t *testing.T, dir, name string, docs ...map[string]any) {
	t.Helper()
	var b bytes.Buffer
	for _, d := range docs {
		j, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sess is a session record as psmtap writes one (only the fields the report reads).
func sess(id, typ, ts, proto, user, client string, extra map[string]any) map[string]any {
	d := map[string]any{"@timestamp": ts,
		"event":  map[string]any{"kind": "event", "dataset": "psmtap.session", "type": []string{typ}, "id": id, "end": ts},
		"source": map[string]any{"ip": client}, "destination": map[string]any{"ip": "192.0.2.20", "port": 23},
		"network": map[string]any{"protocol": proto}, "observer": map[string]any{"hostname": "sensor-1"},
		"psm": map[string]any{"session_id": id}}
	if user != "" {
		d["user"] = map[string]any{"name": user}
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func build(t *testing.T, dir string, o Options) *Report {
	t.Helper()
	r, err := Build(context.Background(), &Records{Dir: dir}, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func opts(since, until string) Options {
	s, _ := time.Parse(time.RFC3339, since)
	u, _ := time.Parse(time.RFC3339, until)
	o := DefaultOptions(u)
	o.Since, o.Until = s, u
	return o
}

// Interim snapshots and the final record of one session count once; a
// session known only from snapshots counts once, as still open; a second
// copy of a final record counts once; flows of no interest are no sessions.
func TestSessionsCountedOnce(t *testing.T) {
	dir := t.TempDir()
	login := func(ok bool, n int) map[string]any {
		return map[string]any{"session_id": "x", "login": map[string]any{"success": ok, "attempts": n}, "commands": []string{"id", "id", "whoami"}}
	}
	a0 := sess("A", "start", "2026-11-02T10:00:00Z", "telnet", "alice", "10.0.0.1", nil)
	a1 := sess("A", "info", "2026-11-02T10:00:00Z", "telnet", "alice", "10.0.0.1", map[string]any{"psm": login(true, 1)})
	a2 := sess("A", "end", "2026-11-02T10:00:00Z", "telnet", "alice", "10.0.0.1", map[string]any{"psm": login(true, 3)})
	b0 := sess("B", "start", "2026-11-03T22:00:00Z", "ssh", "", "10.0.0.2", nil)
	b1 := sess("B", "info", "2026-11-03T22:00:00Z", "ssh", "", "10.0.0.2", map[string]any{"psm": map[string]any{"kind": "tunnel"}})
	b1["event"].(map[string]any)["end"] = "2026-11-03T23:00:00Z"
	other := sess("C", "end", "2026-11-04T10:00:00Z", "", "", "10.0.0.3", nil)
	delete(other, "network")
	writeNDJSON(t, dir, "psmtap-1.ndjson", a0, a1, b1, b0, a2, other)
	writeNDJSON(t, dir, "psmtap-2.ndjson", a2, a0)
	r := build(t, dir, opts("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"))
	tt := r.Totals
	if tt.Sessions != 2 || tt.StillOpen != 1 || tt.OtherFlows != 1 || r.Read.Duplicates != 1 {
		t.Fatalf("totals %+v, read %+v", tt, r.Read)
	}
	// A's final record: 3 attempts, success: 1 ok, 2 failed; 3 commands.
	if tt.LoginsSucceeded != 1 || tt.LoginsFailed != 2 || tt.Commands != 3 || tt.WithoutUser != 1 {
		t.Fatalf("logins and commands from the final record: %+v", tt)
	}
	// B's latest snapshot (a tunnel), though it came first in the file.
	if r.Findings.Tunnels.Total != 1 || r.Findings.Tunnels.Rows[0].SessionID != "B" {
		t.Fatalf("tunnel of the latest snapshot: %+v", r.Findings.Tunnels)
	}
	// Off hours: B at 22:00 on a Tuesday; A at 10:00 on a Monday is not.
	if tt.OffHours != 1 {
		t.Fatalf("off-hours %d", tt.OffHours)
	}
	if c := r.Commands.Rows[0]; c.Command != "id" || c.Count != 2 || c.Sessions != 1 {
		t.Fatalf("top command %+v", c)
	}
}

// Hostile text from the network (user names, commands, alert messages,
// rule names) leaves the HTML inert: no element, attribute or URL of its own,
// no control character; the CSV does not start a formula.
func TestHostileStringsInert(t *testing.T) {
	dir := t.TempDir()
	hostile := []string{
		`<script>alert(1)</script>`,
		`"><img src=x onerror=alert(1)>`,
		"\x1b]0;pwned\x07\x1b[2J\x1b[31mred",
		`javascript:alert(1)`,
		"</style><svg onload=alert(1)>",
		"=HYPERLINK(\"http://evil.example/\")",
		"\u202eevil\u202c",
		"bad\xff\xfeutf8",
	}
	var docs []map[string]any
	for i, h := range hostile {
		id := "H" + string(rune('a'+i))
		docs = append(docs, sess(id, "end", "2026-11-02T10:00:00Z", "telnet", h, "10.0.0.1", map[string]any{
			"psm": map[string]any{"session_id": id, "commands": []string{h, h}, "login": map[string]any{"success": true, "attempts": 1}},
		}))
		docs = append(docs, map[string]any{"@timestamp": "2026-11-02T10:00:01Z",
			"event": map[string]any{"kind": "alert", "dataset": "psmtap.alert", "id": "al" + id, "severity": 73},
			"rule":  map[string]any{"name": h}, "message": h, "user": map[string]any{"name": h},
			"network": map[string]any{"protocol": h}, "psm": map[string]any{"session_id": id, "alert": map[string]any{"level": h}}})
		docs = append(docs, map[string]any{"@timestamp": "2026-11-02T10:00:01Z",
			"event": map[string]any{"kind": "event", "dataset": "psmtap.activity", "id": "ev" + id, "action": "login", "outcome": "failure"},
			"user":  map[string]any{"name": h}, "network": map[string]any{"protocol": h}, "psm": map[string]any{"session_id": id}})
	}
	ssh := sess("S", "end", "2026-11-02T11:00:00Z", "ssh", "", "10.0.0.9", map[string]any{
		"ssh": map[string]any{"client": map[string]any{"hassh": hostile[1], "software": hostile[0]}, "cipher_alg": "3des-cbc"}})
	docs = append(docs, ssh)
	writeNDJSON(t, dir, "x.ndjson", docs...)
	r := build(t, dir, opts("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"))
	var h bytes.Buffer
	if err := WriteHTML(&h, r); err != nil {
		t.Fatal(err)
	}
	page := h.String()
	// Text is inert once escaped ("onerror=" may show as words); markup and
	// control characters must not come through.
	for _, bad := range []string{"<script", "<img", "<svg onload", "</style><svg", "\x1b", "\x07", "\u202e", "\xff"} {
		if strings.Contains(page, bad) {
			t.Errorf("the HTML holds %q", bad)
		}
	}
	// Every tag in the page is one of ours.
	ours := map[string]bool{"html": true, "head": true, "meta": true, "title": true, "style": true, "body": true, "h1": true, "h2": true,
		"h3": true, "p": true, "b": true, "span": true, "div": true, "table": true, "tr": true, "th": true, "td": true, "svg": true,
		"line": true, "text": true, "rect": true, "i": true, "code": true}
	for _, m := range regexp.MustCompile(`<([a-zA-Z0-9]+)`).FindAllStringSubmatch(page, -1) {
		if !ours[strings.ToLower(m[1])] {
			t.Errorf("tag <%s> in the page", m[1])
		}
	}
	// No URL in any tag but the SVG namespace; no src or href; no
	// attribute named on*.
	for _, m := range regexp.MustCompile(`(?i)<[^>]*\b(https?|ftp|file|javascript):[^>]*>`).FindAllString(page, -1) {
		if !strings.HasPrefix(m, `<svg xmlns="http://www.w3.org/2000/svg"`) {
			t.Errorf("URL in a tag: %s", m)
		}
	}
	if m := regexp.MustCompile(`(?i)<[^>]*\s(src|href|xlink:href|action|formaction)\s*=`).FindString(page); m != "" {
		t.Errorf("link attribute: %s", m)
	}
	if m := regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`).FindString(page); m != "" {
		t.Errorf("event handler attribute: %s", m)
	}
	if !strings.Contains(page, `&lt;script&gt;alert(1)&lt;/script&gt;`) || !strings.Contains(page, `\x1b]0;pwned\x07`) {
		t.Error("hostile text not shown escaped")
	}
	if r.Findings.SSHWeak.Total != 1 || !strings.Contains(r.Findings.SSHWeak.Rows[0].Detail, "3des-cbc") {
		t.Errorf("weak SSH cipher not found: %+v", r.Findings.SSHWeak)
	}

	var c bytes.Buffer
	if err := WriteCSV(&c, r); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(c.String(), "\x1b\x07") {
		t.Error("control characters in the CSV")
	}
	rows, err := func() ([][]string, error) { cr := csv.NewReader(&c); cr.FieldsPerRecord = -1; return cr.ReadAll() }()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+@", rune(cell[0])) {
				t.Errorf("CSV cell a spreadsheet would run: %q", cell)
			}
		}
	}
}

// Users, addresses and SSH clients first seen in the period are new when
// there is data before it; without, the report says so instead.
func TestNewThings(t *testing.T) {
	dir := t.TempDir()
	hs := func(h string) map[string]any {
		return map[string]any{"client": map[string]any{"hassh": h, "software": "OpenSSH_9.2p1"}}
	}
	writeNDJSON(t, dir, "a.ndjson",
		sess("1", "end", "2026-10-05T10:00:00Z", "telnet", "alice", "10.0.0.1", nil),
		sess("2", "end", "2026-10-05T10:00:00Z", "ssh", "", "10.0.0.1", map[string]any{"ssh": hs("old")}),
		sess("3", "end", "2026-11-05T10:00:00Z", "telnet", "alice", "10.0.0.1", nil),
		sess("4", "end", "2026-11-06T10:00:00Z", "telnet", "mallory", "10.6.6.6", nil),
		sess("5", "end", "2026-11-07T10:00:00Z", "telnet", "mallory", "10.6.6.6", nil),
		sess("6", "end", "2026-11-07T10:00:00Z", "ssh", "", "10.0.0.1", map[string]any{"ssh": hs("fresh")}),
		sess("7", "end", "2026-11-08T10:00:00Z", "ssh", "", "10.0.0.1", map[string]any{"ssh": hs("old")}),
	)
	r := build(t, dir, opts("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"))
	f := r.Findings
	if !f.EarlierData || f.NewUsers.Total != 1 || f.NewUsers.Rows[0].Name != "mallory" || f.NewUsers.Rows[0].Sessions != 2 {
		t.Fatalf("new users %+v", f.NewUsers)
	}
	if f.NewClients.Total != 1 || f.NewClients.Rows[0].Name != "10.6.6.6" {
		t.Fatalf("new clients %+v", f.NewClients)
	}
	if f.NewSSH.Total != 1 || f.NewSSH.Rows[0].Name != "fresh" {
		t.Fatalf("new SSH clients %+v", f.NewSSH)
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "Data read back to 2026-10-05 10:00") || !strings.Contains(page.String(), `mallory <span class="new">new</span>`) {
		t.Fatal("the HTML does not show the new user or how far back the data goes")
	}
	for _, u := range r.Users.Rows {
		if u.Name == "alice" && (u.New || u.FirstSeen.Format("2006-01-02") != "2026-10-05") {
			t.Fatalf("alice was seen before: %+v", u)
		}
	}
	// Without the earlier file: nothing is new, and the report says why.
	r = build(t, dir, opts("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z"))
	if r.Findings.EarlierData || r.Findings.NewUsers.Total != 0 {
		t.Fatalf("no earlier data, yet %+v", r.Findings.NewUsers)
	}
	var h bytes.Buffer
	WriteHTML(&h, r)
	if !strings.Contains(h.String(), "No earlier data") {
		t.Fatal(`no "No earlier data" in the HTML`)
	}
}

// Long lists are cut at Top, and the report says how many there were.
func TestCapped(t *testing.T) {
	dir := t.TempDir()
	var docs []map[string]any
	for i := 0; i < 30; i++ {
		u := "user" + string(rune('A'+i))
		docs = append(docs, sess("s"+u, "end", "2026-11-02T10:00:00Z", "telnet", u, "10.0.0.1", nil))
	}
	writeNDJSON(t, dir, "a.ndjson", docs...)
	o := opts("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
	o.Top = 10
	r := build(t, dir, o)
	if len(r.Users.Rows) != 10 || r.Users.Total != 30 || !r.Users.Capped() {
		t.Fatalf("users %d of %d", len(r.Users.Rows), r.Users.Total)
	}
	var h bytes.Buffer
	WriteHTML(&h, r)
	if !strings.Contains(h.String(), "Showing the first 10 of 30.") {
		t.Fatal("the cap is not said")
	}
	var c bytes.Buffer
	WriteCSV(&c, r)
	if !strings.Contains(c.String(), "users_capped,showing 10 of 30") {
		t.Fatal("the cap is not said in the CSV")
	}
}

// Days and working hours follow the zone: 23:30 UTC on a Friday is
// Saturday in Paris (off hours, next day's bar); across the change to winter
// time a day is still one bucket.
func TestTimeZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no zone database")
	}
	dir := t.TempDir()
	writeNDJSON(t, dir, "a.ndjson",
		sess("1", "end", "2026-10-23T23:30:00Z", "telnet", "alice", "10.0.0.1", nil), // Sat 01:30 Paris
		sess("2", "end", "2026-10-26T07:30:00Z", "telnet", "alice", "10.0.0.1", nil), // Mon 08:30 Paris (winter time)
	)
	o := opts("2026-10-20T00:00:00Z", "2026-10-30T00:00:00Z")
	o.Loc = paris
	o.WorkFrom, o.WorkTo, _ = ParseWorkHours("08-18")
	r := build(t, dir, o)
	if r.Totals.OffHours != 1 {
		t.Fatalf("off-hours %d, want 1", r.Totals.OffHours)
	}
	got := map[string]int{}
	for _, d := range r.Trend.Days {
		got[d.Date] = d.Sessions["telnet"]
	}
	if got["2026-10-24"] != 1 || got["2026-10-26"] != 1 || got["2026-10-23"] != 0 || len(r.Trend.Days) != 11 {
		t.Fatalf("days %v (%d)", got, len(r.Trend.Days))
	}
}

func TestParse(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"30d": "2026-10-31T12:00:00Z", "2w": "2026-11-16T12:00:00Z", "12h": "2026-11-30T00:00:00Z", "1.5d": "2026-11-29T00:00:00Z",
		"2026-11-01": "2026-11-01T00:00:00Z", "2026-11-01T08:00:00+01:00": "2026-11-01T07:00:00Z",
	} {
		got, err := ParseWhen(in, now, time.UTC)
		if err != nil || got.UTC().Format(time.RFC3339) != want {
			t.Errorf("ParseWhen(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	if got, _ := ParseWhen("2026-11-01", now, paris); got.UTC().Format(time.RFC3339) != "2026-10-31T23:00:00Z" {
		t.Errorf("a date is midnight in the zone: %v", got.UTC())
	}
	for _, bad := range []string{"yesterday", "-3d", "", "2026-13-01"} {
		if _, err := ParseWhen(bad, now, time.UTC); err == nil {
			t.Errorf("ParseWhen(%q) accepted", bad)
		}
	}
	if f, to, err := ParseWorkHours("08:30-17:45"); err != nil || f != 510 || to != 1065 {
		t.Errorf("08:30-17:45: %d %d %v", f, to, err)
	}
	for _, bad := range []string{"18-08", "8", "25-26", "08:61-09"} {
		if _, _, err := ParseWorkHours(bad); err == nil {
			t.Errorf("ParseWorkHours(%q) accepted", bad)
		}
	}
	d, err := ParseWorkDays("sun-thu")
	if err != nil || !d[time.Sunday] || !d[time.Thursday] || d[time.Friday] || d[time.Saturday] {
		t.Errorf("sun-thu: %v %v", d, err)
	}
	d, err = ParseWorkDays("fri-mon")
	if err != nil || !d[time.Friday] || !d[time.Sunday] || !d[time.Monday] || d[time.Tuesday] {
		t.Errorf("fri-mon wraps: %v %v", d, err)
	}
	if _, err := ParseWorkDays("mon-funday"); err == nil {
		t.Error("funday accepted")
	}
}

// A file cut short or a foreign line counts as unreadable, the rest counts;
// a .part file (still being written) is not read.
func TestDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	good, _ := json.Marshal(sess("1", "end", "2026-11-02T10:00:00Z", "telnet", "alice", "10.0.0.1", nil))
	os.WriteFile(filepath.Join(dir, "a.ndjson"), append(good, "\nnot json\n{\"truncated\":"...), 0o644)
	os.WriteFile(filepath.Join(dir, "b.ndjson.zst.part"), []byte("whatever"), 0o644)
	r := build(t, dir, opts("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"))
	if r.Totals.Sessions != 1 || r.Read.Unreadable != 2 || r.Read.Files != 1 {
		t.Fatalf("sessions %d, unreadable %d, files %d", r.Totals.Sessions, r.Read.Unreadable, r.Read.Files)
	}
	os.WriteFile(filepath.Join(dir, "c.ndjson.zst"), []byte("not zstd at all"), 0o644)
	if _, err := Build(context.Background(), &Records{Dir: dir}, opts("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")); err != nil {
		t.Fatalf("a damaged zstd file stops the report: %v", err)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "a\x1b[31mb": `a\x1b[31mb`, "tab\there": `tab\x09here`, "\u202eabc": `\u{202e}abc`,
		"é ok": "é ok", "x\xffy": "x\uFFFDy",
	} {
		if got := Clean(in, 100); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Clean(strings.Repeat("a", 10), 4); got != "aaaa…" {
		t.Errorf("cut: %q", got)
	}
}
