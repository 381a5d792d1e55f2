package report

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteJSON writes the report as one JSON document.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// csvText makes network text safe for a spreadsheet: control characters
// escaped as in HTML, and a cell that a spreadsheet would take for a
// formula (=, +, -, @ first) starts with a quote, as OWASP advises.
func csvText(s string) string {
	s = Clean(s, 4096)
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		s = "'" + s
	}
	return s
}

// WriteCSV writes the report's tables one after the other, separated by an
// empty line. Every row starts with its table's name, and each table has a
// header row (whose first cell is "table"), so a filter on the first column
// gives one table.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc(r)).Format(time.RFC3339)
	}
	itoa := strconv.Itoa
	join := func(l []string) string {
		out := make([]string, len(l))
		for i, s := range l {
			out[i] = csvText(s)
		}
		return strings.Join(out, " ")
	}
	table := func(name string, header []string, rows [][]string, total int) {
		cw.Write(append([]string{"table"}, header...))
		for _, row := range rows {
			cw.Write(append([]string{name}, row...))
		}
		if total > len(rows) {
			cw.Write([]string{name + "_capped", "showing " + itoa(len(rows)) + " of " + itoa(total)})
		}
		cw.Write(nil)
	}
	// cw.Write(nil) writes an empty line: the separator.
	table("report", []string{"key", "value"}, [][]string{
		{"source", r.Source}, {"since", ts(r.Since)}, {"until", ts(r.Until)}, {"time_zone", r.TimeZone},
		{"work_hours", r.WorkHours}, {"work_days", r.WorkDays}, {"generated", ts(r.Generated)},
		{"documents_read", itoa(r.Read.Documents)}, {"unreadable_lines", itoa(r.Read.Unreadable)},
		{"duplicates_ignored", itoa(r.Read.Duplicates)}, {"earlier_data", strconv.FormatBool(r.Read.EarlierData)},
	}, 0)
	var rows [][]string
	for _, s := range r.Sensors {
		rows = append(rows, []string{csvText(s.Name), itoa(s.Sessions), ts(s.First), ts(s.Last)})
	}
	table("sensors", []string{"sensor", "sessions", "first", "last"}, rows, 0)
	t := r.Totals
	rows = [][]string{{"sessions", itoa(t.Sessions)}, {"still_open", itoa(t.StillOpen)}, {"other_flows", itoa(t.OtherFlows)},
		{"users", itoa(t.Users)}, {"sessions_without_user", itoa(t.WithoutUser)}, {"servers", itoa(t.Servers)},
		{"clients", itoa(t.Clients)}, {"logins_succeeded", itoa(t.LoginsSucceeded)}, {"logins_failed", itoa(t.LoginsFailed)},
		{"commands", itoa(t.Commands)}, {"off_hours_sessions", itoa(t.OffHours)},
		{"cleartext_password_sessions", itoa(t.CleartextPasswords)}, {"activity_events", itoa(t.ActivityEvents)}, {"alerts", itoa(t.Alerts)}}
	for _, p := range sortedKeys(t.SessionsByProtocol) {
		rows = append(rows, []string{"sessions_" + p, itoa(t.SessionsByProtocol[p])})
	}
	for _, a := range sortedKeys(t.EventsByAction) {
		rows = append(rows, []string{"events_" + a, itoa(t.EventsByAction[a])})
	}
	for _, l := range sortedKeys(t.AlertsByLevel) {
		rows = append(rows, []string{"alerts_" + l, itoa(t.AlertsByLevel[l])})
	}
	for i := range rows {
		rows[i][0] = csvText(rows[i][0])
	}
	table("totals", []string{"name", "value"}, rows, 0)
	rows = nil
	for _, u := range r.Users.Rows {
		rows = append(rows, []string{csvText(u.Name), itoa(u.Sessions), itoa(u.Servers), join(u.Protocols), itoa(u.LoginsOK),
			itoa(u.LoginsFail), itoa(u.Commands), itoa(u.OffHours), ts(u.FirstSeen), strconv.FormatBool(u.New)})
	}
	table("users", []string{"user", "sessions", "servers", "protocols", "logins_succeeded", "logins_failed", "commands",
		"off_hours_sessions", "first_seen", "new"}, rows, r.Users.Total)
	rows = nil
	for _, s := range r.Servers.Rows {
		ports := make([]string, len(s.Ports))
		for i, p := range s.Ports {
			ports[i] = itoa(p)
		}
		rows = append(rows, []string{csvText(s.Address), strings.Join(ports, " "), itoa(s.Sessions), itoa(s.Users), itoa(s.Clients),
			join(s.Protocols), itoa(s.LoginsOK), itoa(s.LoginsFail), itoa(s.Commands), itoa(s.OffHours)})
	}
	table("servers", []string{"server", "ports", "sessions", "users", "clients", "protocols", "logins_succeeded",
		"logins_failed", "commands", "off_hours_sessions"}, rows, r.Servers.Total)
	rows = nil
	for _, d := range r.Trend.Days {
		row := []string{d.Date}
		total := 0
		for _, p := range r.Trend.Protocols {
			row = append(row, itoa(d.Sessions[p]))
			total += d.Sessions[p]
		}
		rows = append(rows, append(row, itoa(total), itoa(d.FailedLogins), itoa(d.Alerts)))
	}
	h := []string{"date"}
	for _, p := range r.Trend.Protocols {
		h = append(h, "sessions_"+csvText(p))
	}
	table("trend", append(h, "sessions", "failed_logins", "alerts"), rows, 0)
	f := r.Findings
	rows = nil
	for _, c := range f.Cleartext.Rows {
		rows = append(rows, []string{c.Protocol, csvText(c.User), itoa(c.Sessions), itoa(c.Servers), itoa(c.Clients), itoa(c.CleartextPasswords)})
	}
	table("cleartext", []string{"protocol", "user", "sessions", "servers", "clients", "cleartext_password_sessions"}, rows, f.Cleartext.Total)
	refs := func(name string, l List[SessionRef]) {
		rows = nil
		for _, s := range l.Rows {
			rows = append(rows, []string{ts(s.Time), csvText(s.Protocol), csvText(s.Client), csvText(s.Server), csvText(s.User),
				csvText(s.Sensor), csvText(s.SessionID), csvText(s.Detail)})
		}
		table(name, []string{"time", "protocol", "client", "server", "user", "sensor", "session_id", "detail"}, rows, l.Total)
	}
	refs("rdp_standard_security", f.RDPStandard)
	refs("ssh_weak", f.SSHWeak)
	rows = nil
	for _, h := range f.SSHClients.Rows {
		rows = append(rows, []string{csvText(h.HASSH), join(h.Software), itoa(h.Sessions), itoa(h.Clients), ts(h.FirstSeen), strconv.FormatBool(h.New)})
	}
	table("ssh_clients", []string{"hassh", "software", "sessions", "clients", "first_seen", "new"}, rows, f.SSHClients.Total)
	refs("tunnels_and_reverse", f.Tunnels)
	news := func(name string, l List[NewThing]) {
		rows = nil
		for _, n := range l.Rows {
			rows = append(rows, []string{csvText(n.Name), ts(n.FirstSeen), itoa(n.Sessions)})
		}
		table(name, []string{"name", "first_seen", "sessions"}, rows, l.Total)
	}
	news("new_users", f.NewUsers)
	news("new_clients", f.NewClients)
	news("new_ssh_clients", f.NewSSH)
	rows = nil
	for _, n := range f.LoginNames.Rows {
		rows = append(rows, []string{csvText(n.Name), itoa(n.Failed), itoa(n.Succeeded), itoa(n.Unknown), join(n.Protocols)})
	}
	table("login_names", []string{"name", "failed", "succeeded", "unknown", "protocols"}, rows, f.LoginNames.Total)
	rows = nil
	for _, c := range r.Commands.Rows {
		rows = append(rows, []string{csvText(c.Command), itoa(c.Count), itoa(c.Sessions), join(c.Users), join(c.Protocols)})
	}
	table("top_commands", []string{"command", "count", "sessions", "users", "protocols"}, rows, r.Commands.Total)
	rows = nil
	for _, a := range r.Alerts.ByRule.Rows {
		rows = append(rows, []string{csvText(a.Rule), csvText(a.Level), itoa(a.Severity), itoa(a.Count), itoa(a.Sessions), ts(a.First), ts(a.Last)})
	}
	table("alerts_by_rule", []string{"rule", "level", "severity", "count", "sessions", "first", "last"}, rows, r.Alerts.ByRule.Total)
	rows = nil
	for _, a := range r.Alerts.List.Rows {
		rows = append(rows, []string{ts(a.Time), csvText(a.Rule), csvText(a.Level), itoa(a.Severity), csvText(a.User), csvText(a.Client),
			csvText(a.Server), csvText(a.Protocol), csvText(a.Message), csvText(a.SessionID)})
	}
	table("alerts", []string{"time", "rule", "level", "severity", "user", "client", "server", "protocol", "message", "session_id"}, rows, r.Alerts.List.Total)
	cw.Flush()
	return cw.Error()
}

func loc(r *Report) *time.Location {
	if l, err := time.LoadLocation(r.TimeZone); err == nil {
		return l
	}
	return time.UTC
}

func sortedKeys(m map[string]int) []string {
	s := set{}
	for k := range m {
		s[k] = true
	}
	return s.sorted()
}
