package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	psmindex "github.com/psmtap/psmtap/index"
	"github.com/psmtap/psmtap/index/setup"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/report"
)

func searchCommand() *cli.Command {
	return &cli.Command{
		Name:  "search",
		Usage: "find sessions, or with --events their activity events, or with --alerts the alerts of the rules, in Elasticsearch without Kibana",
		Description: "Every criterion narrows the search; the newest come first.\n" +
			"--host matches the client or the server (an IP address or a CIDR), or else the\n" +
			"sensor, RDP client or TLS server name. --command is full-text over what was typed\n" +
			"(and the database statements a session ran).\n" +
			"Times: RFC 3339, a date (2026-11-26), or a duration back from now (24h).\n" +
			"With --events it searches the activity events (" + setup.ActivityPattern + "): each login\n" +
			"attempt, command, database statement, file... as it happened; --action and --outcome\n" +
			"narrow them, and\n" +
			"--session shows one session's whole story (its record's psm.session_id).\n" +
			"With --alerts it searches the alerts (" + setup.AlertPattern + "): --rule names rules (id or\n" +
			"title), --level keeps those of that level or above; --session finds the alerts about a session\n" +
			"(a correlation's alert names every session it saw).\n\n" +
			"Examples:\n" +
			"   psmtap search --es-url https://es:9200 --user root --since 24h\n" +
			"   psmtap search --protocol telnet,rlogin --command 'passwd' --format json\n" +
			"   psmtap search --host 10.1.0.0/16 --from 2026-11-01 --to 2026-11-02\n" +
			"   psmtap search --events --command 'sudo shadow' --user alice\n" +
			"   psmtap search --events --action login --outcome failure --since 1h\n" +
			"   psmtap search --events --action query --command 'delete accounts'\n" +
			"   psmtap search --alerts --level high --since 7d\n" +
			"   psmtap search --alerts --rule 'Shadow file read or changed' --user alice",
		Flags: append(esConnFlags(),
			&cli.StringFlag{Name: "user", Usage: "user.name"},
			&cli.StringFlag{Name: "host", Usage: "client or server IP or CIDR, or a host name"},
			&cli.StringFlag{Name: "protocol", Usage: "ssh, rdp, telnet, rlogin, rsh, ftp, postgresql, mysql, vnc (comma-separated)"},
			&cli.StringFlag{Name: "from", Aliases: []string{"since"}, Usage: "sessions that started at or after `TIME`"},
			&cli.StringFlag{Name: "to", Aliases: []string{"until"}, Usage: "sessions that started at or before `TIME`"},
			&cli.StringFlag{Name: "command", Usage: "words typed in the session (every word must appear); with --events, in one command or database statement"},
			&cli.StringFlag{Name: "session", Usage: "the session with this psm.session_id"},
			&cli.BoolFlag{Name: "interim", Usage: "also interim records of sessions still open (default: final records only)"},
			&cli.BoolFlag{Name: "events", Usage: "search activity events (" + setup.ActivityPattern + ") instead of session records"},
			&cli.BoolFlag{Name: "alerts", Usage: "search alerts (" + setup.AlertPattern + ") instead of session records"},
			&cli.StringFlag{Name: "rule", Usage: "with --alerts: rule ids or titles (comma-separated; exact)"},
			&cli.StringFlag{Name: "level", Usage: "with --alerts: this level or above: informational, low, medium, high, critical"},
			&cli.StringFlag{Name: "action", Usage: "with --events (or --alerts, the trigger's): login, command, query, file, session_kind, security, clipboard (comma-separated)"},
			&cli.StringFlag{Name: "outcome", Usage: "with --events: success, failure, unknown"},
			&cli.IntFlag{Name: "size", Value: 50, Usage: "at most this many sessions or events"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json (NDJSON, one record a line)"},
			&cli.StringFlag{Name: "index", Value: setup.Pattern, Usage: "data streams to search (default with --events: " + setup.ActivityPattern + ", with --alerts: " + setup.AlertPattern + ")"},
			&cli.StringFlag{Name: "log-level", Value: "warn"},
		),
		Action: runSearch,
	}
}

// searchQuery builds the query DSL body from the flags.
func searchQuery(c *cli.Context, now time.Time) (map[string]any, error) {
	var filter, must []any
	events, alerts := c.Bool("events"), c.Bool("alerts")
	if events && alerts {
		return nil, cli.Exit("--events or --alerts, not both", 2)
	}
	if !events && !alerts && !c.Bool("interim") {
		filter = append(filter, map[string]any{"term": map[string]any{"event.type": "end"}})
	}
	if !events && !alerts && (c.String("action") != "" || c.String("outcome") != "") {
		return nil, cli.Exit("--action and --outcome select activity events: add --events", 2)
	}
	if !alerts && (c.String("rule") != "" || c.String("level") != "") {
		return nil, cli.Exit("--rule and --level select alerts: add --alerts", 2)
	}
	if r := c.String("rule"); r != "" {
		names := strings.Split(r, ",")
		filter = append(filter, map[string]any{"bool": map[string]any{"should": []any{
			map[string]any{"terms": map[string]any{"rule.id": names}},
			map[string]any{"terms": map[string]any{"rule.name": names}},
		}, "minimum_should_match": 1}})
	}
	if l := c.String("level"); l != "" {
		sev, ok := levelSeverity[strings.ToLower(l)]
		if !ok {
			return nil, cli.Exit(fmt.Sprintf("--level %q: informational, low, medium, high or critical", l), 2)
		}
		filter = append(filter, map[string]any{"range": map[string]any{"event.severity": map[string]any{"gte": sev}}})
	}
	if a := c.String("action"); a != "" {
		filter = append(filter, map[string]any{"terms": map[string]any{"event.action": strings.Split(a, ",")}})
	}
	if o := c.String("outcome"); o != "" {
		filter = append(filter, map[string]any{"terms": map[string]any{"event.outcome": strings.Split(o, ",")}})
	}
	if id := c.String("session"); id != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"psm.session_id": id}})
	}
	if u := c.String("user"); u != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"user.name": u}})
	}
	if p := c.String("protocol"); p != "" {
		filter = append(filter, map[string]any{"terms": map[string]any{"network.protocol": strings.Split(p, ",")}})
	}
	if h := c.String("host"); h != "" {
		_, aerr := netip.ParseAddr(h)
		_, perr := netip.ParsePrefix(h)
		var should []any
		if aerr == nil || perr == nil {
			should = []any{map[string]any{"term": map[string]any{"source.ip": h}}, map[string]any{"term": map[string]any{"destination.ip": h}}}
		} else {
			for _, f := range []string{"observer.hostname", "rdp.client.name", "tls.client.server_name"} {
				should = append(should, map[string]any{"term": map[string]any{f: h}})
			}
		}
		filter = append(filter, map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}})
	}
	rng := map[string]any{}
	for flag, op := range map[string]string{"from": "gte", "to": "lte"} {
		if v := c.String(flag); v != "" {
			t, err := report.ParseWhen(v, now, time.UTC)
			if err != nil {
				return nil, cli.Exit("--"+flag+": "+err.Error(), 2)
			}
			rng[op] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	if len(rng) > 0 {
		filter = append(filter, map[string]any{"range": map[string]any{"@timestamp": rng}})
	}
	if cmd := c.String("command"); cmd != "" {
		// Sessions: psm.commands is text (it lists database statements too).
		// Events: process.command_line and db.query.text are wildcard fields
		// whose .text multi-fields hold the words; every word must be in the
		// one field, a command line or a statement. Alerts carry no statement.
		fields := []string{"psm.commands"}
		switch {
		case events:
			fields = []string{"process.command_line.text", "db.query.text.text"}
		case alerts:
			fields = []string{"process.command_line.text"}
		}
		var should []any
		for _, f := range fields {
			should = append(should, map[string]any{"match": map[string]any{f: map[string]any{"query": cmd, "operator": "and"}}})
		}
		if len(should) == 1 {
			must = append(must, should[0])
		} else {
			must = append(must, map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}})
		}
	}
	b := map[string]any{"filter": filter}
	if len(must) > 0 {
		b["must"] = must
	}
	return map[string]any{"query": map[string]any{"bool": b}, "size": c.Int("size"),
		"sort": []any{map[string]any{"@timestamp": map[string]any{"order": "desc"}}}}, nil
}

func runSearch(c *cli.Context) error {
	if f := c.String("format"); f != "table" && f != "json" && f != "ndjson" {
		return cli.Exit("--format: table or json", 2)
	}
	q, err := searchQuery(c, time.Now())
	if err != nil {
		return err
	}
	cl, _, err := esClient(c, nil)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(q)
	index := c.String("index")
	if c.Bool("events") && !c.IsSet("index") {
		index = setup.ActivityPattern
	}
	if c.Bool("alerts") && !c.IsSet("index") {
		index = setup.AlertPattern
	}
	res, err := cl.Search(cl.Search.WithContext(c.Context), cl.Search.WithIndex(index),
		cl.Search.WithBody(bytes.NewReader(body)), cl.Search.WithIgnoreUnavailable(true))
	if err != nil {
		return cli.Exit("search: "+err.Error(), 1)
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return cli.Exit(fmt.Sprintf("search: %s: %s", res.Status(), strings.TrimSpace(string(msg))), 1)
	}
	var out struct {
		Hits struct {
			Total struct{ Value int }
			Hits  []hit
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return cli.Exit("search: "+err.Error(), 1)
	}
	w := bufio.NewWriter(c.App.Writer)
	defer w.Flush()
	if c.String("format") != "table" {
		for _, h := range out.Hits.Hits {
			w.Write(h.Source)
			w.WriteByte('\n')
		}
		return nil
	}
	if c.Bool("events") {
		eventTable(w, out.Hits.Hits, out.Hits.Total.Value)
		return nil
	}
	if c.Bool("alerts") {
		alertTable(w, out.Hits.Hits, out.Hits.Total.Value)
		return nil
	}
	const row = "%-23s %-10s %-39s %-39s %-12s %-7s %-11s %s\n"
	fmt.Fprintf(w, row, "START (UTC)", "PROTO", "CLIENT", "SERVER", "USER", "LOGIN", "STATE", "COMMANDS")
	for _, h := range out.Hits.Hits {
		var d map[string]any
		json.Unmarshal(h.Source, &d)
		start := get(d, "@timestamp")
		if t, err := time.Parse(time.RFC3339Nano, start); err == nil {
			start = t.UTC().Format("2006-01-02 15:04:05.000")
		}
		login := get(d, "psm.login.success")
		switch login {
		case "true":
			login = "ok"
		case "false":
			login = "FAILED"
		case "":
			login = "-"
		}
		var cmds []string
		if cs, ok := lookup(d, "psm.commands").([]any); ok {
			for _, x := range cs {
				cmds = append(cmds, fmt.Sprint(x))
			}
		}
		cmdText := psmindex.Cut(psmindex.Escape(strings.Join(cmds, "; ")), 60)
		// Every cell is escaped: the index holds what the network sent.
		fmt.Fprintf(w, row, psmindex.Escape(start), esc(dash(get(d, "network.protocol"))),
			netip.AddrPortFrom(addr(get(d, "source.ip")), port(get(d, "source.port"))).String(),
			netip.AddrPortFrom(addr(get(d, "destination.ip")), port(get(d, "destination.port"))).String(),
			esc(dash(get(d, "user.name"))), esc(login), esc(dash(get(d, "psm.state"))), cmdText)
	}
	fmt.Fprintf(w, "%d of %d sessions\n", len(out.Hits.Hits), out.Hits.Total.Value)
	return nil
}

type hit = struct {
	Source json.RawMessage `json:"_source"`
}

// eventTable writes activity events one a line: when, where, who, what.
func eventTable(w io.Writer, hits []hit, total int) {
	const row = "%-23s %-10s %-39s %-39s %-12s %-12s %-7s %s\n"
	fmt.Fprintf(w, row, "TIME (UTC)", "PROTO", "CLIENT", "SERVER", "USER", "ACTION", "OUTCOME", "WHAT")
	for _, h := range hits {
		var d map[string]any
		json.Unmarshal(h.Source, &d)
		when := get(d, "@timestamp")
		if t, err := time.Parse(time.RFC3339Nano, when); err == nil {
			when = t.UTC().Format("2006-01-02 15:04:05.000")
		}
		fmt.Fprintf(w, row, psmindex.Escape(when), esc(dash(get(d, "network.protocol"))),
			netip.AddrPortFrom(addr(get(d, "source.ip")), port(get(d, "source.port"))).String(),
			netip.AddrPortFrom(addr(get(d, "destination.ip")), port(get(d, "destination.port"))).String(),
			esc(dash(get(d, "user.name"))), esc(dash(get(d, "event.action"))), esc(dash(get(d, "event.outcome"))), eventWhat(d))
	}
	fmt.Fprintf(w, "%d of %d events\n", len(hits), total)
}

// levelSeverity: event.severity of each Sigma level (record.Severity).
var levelSeverity = map[string]int{"informational": record.Severity("informational"), "low": record.Severity("low"),
	"medium": record.Severity("medium"), "high": record.Severity("high"), "critical": record.Severity("critical")}

// alertTable writes alerts one a line: when, how bad, which rule, who,
// where, the session, and the alert's own one-line message.
func alertTable(w io.Writer, hits []hit, total int) {
	const row = "%-23s %-8s %-36s %-12s %-39s %-20s %s\n"
	fmt.Fprintf(w, row, "TIME (UTC)", "LEVEL", "RULE", "USER", "SERVER", "SESSION", "MESSAGE")
	for _, h := range hits {
		var d map[string]any
		json.Unmarshal(h.Source, &d)
		when := get(d, "@timestamp")
		if t, err := time.Parse(time.RFC3339Nano, when); err == nil {
			when = t.UTC().Format("2006-01-02 15:04:05.000")
		}
		server := "-"
		if a := addr(get(d, "destination.ip")); a.IsValid() {
			server = netip.AddrPortFrom(a, port(get(d, "destination.port"))).String()
		}
		session := get(d, "psm.session_id")
		if ids, ok := lookup(d, "psm.session_id").([]any); ok && len(ids) > 0 {
			session = fmt.Sprintf("%v +%d", ids[0], len(ids)-1) // a correlation: the first and how many more
		}
		// The message and the user came from the network: escaped like every cell.
		fmt.Fprintf(w, row, psmindex.Escape(when), esc(dash(get(d, "psm.alert.level"))), clip(psmindex.Escape(get(d, "rule.name")), 36), esc(dash(get(d, "user.name"))),
			server, esc(dash(session)), dash(clip(psmindex.Escape(strings.ReplaceAll(get(d, "message"), "\n", " ")), 120)))
	}
	fmt.Fprintf(w, "%d of %d alerts\n", len(hits), total)
}

// clip shortens s to n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// eventWhat is the action's own detail: the command, the file, the login
// method, the session kind; then the reason when there is one.
func eventWhat(d map[string]any) string {
	var parts []string
	add := func(s string) {
		if s != "" {
			parts = append(parts, s)
		}
	}
	switch get(d, "event.action") {
	case "command":
		add(get(d, "process.command_line"))
		if rc := get(d, "psm.command.reply_code"); rc != "" {
			add("-> " + rc)
		}
	case "query":
		// The statement, its parameters, then what it did: an error, or rows.
		add(get(d, "db.query.text"))
		if ps, ok := lookup(d, "psm.query.parameters").([]any); ok && len(ps) > 0 {
			var vs []string
			for _, p := range ps {
				vs = append(vs, fmt.Sprint(p))
			}
			add("[" + strings.Join(vs, ", ") + "]")
		}
		switch {
		case get(d, "db.response.status_code") != "":
			add("-> " + get(d, "db.response.status_code"))
			add(get(d, "psm.query.error"))
		case get(d, "db.response.returned_rows") != "":
			add("-> " + get(d, "db.response.returned_rows") + " rows")
		case get(d, "psm.query.affected_rows") != "":
			add("-> " + get(d, "psm.query.affected_rows") + " affected")
		}
	case "file":
		if ts, ok := lookup(d, "event.type").([]any); ok && len(ts) > 0 {
			add(fmt.Sprint(ts[0])) // creation, access, deletion, change
		}
		add(get(d, "file.path"))
		if t := get(d, "psm.file.target_path"); t != "" {
			add("-> " + t)
		}
		if sz := get(d, "file.size"); sz != "" {
			add(sz + " bytes")
		}
	case "login":
		add(get(d, "psm.login.method"))
		if get(d, "psm.login.inferred") == "true" {
			add("(inferred)")
		}
		if get(d, "psm.cleartext_credentials") == "true" {
			add("cleartext password")
		}
	case "session_kind":
		add(get(d, "psm.kind"))
	case "clipboard": // direction and size only: the text may be a pasted password
		add(strings.ReplaceAll(get(d, "psm.clipboard.direction"), "_", " "))
		if n := get(d, "psm.clipboard.length"); n != "" {
			add(n + " bytes")
		}
	}
	if r := get(d, "event.reason"); r != "" {
		add("(" + r + ")")
	}
	return dash(psmindex.Cut(psmindex.Escape(strings.Join(parts, " ")), 100))
}

// esc escapes a table cell and keeps it to 39 characters (the widest column):
// text from the index must neither drive the terminal nor push the table apart.
func esc(s string) string { return psmindex.Cut(psmindex.Escape(s), 39) }

func lookup(m map[string]any, path string) any {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok := mm[p]; ok {
			cur = v
			continue
		}
		return nil
	}
	return cur
}

func get(m map[string]any, path string) string {
	v := lookup(m, path)
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return fmt.Sprint(int64(x))
	}
	return fmt.Sprint(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func addr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

func port(s string) uint16 {
	var p uint16
	fmt.Sscan(s, &p)
	return p
}
