package report

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"
)

// WriteHTML writes the report as one self-contained page: inline CSS and
// SVG, no script, no link to anything outside. html/template escapes every
// value for where it lands; Clean first makes control characters visible.
func WriteHTML(w io.Writer, r *Report) error {
	l := loc(r)
	labels := make([]string, len(r.Trend.Days))
	failed := series{name: "failed logins", colour: "#e15759", values: make([]int, len(r.Trend.Days))}
	alerts := series{name: "alerts", colour: "#b07aa1", values: make([]int, len(r.Trend.Days))}
	var byProto []series
	for _, p := range r.Trend.Protocols {
		byProto = append(byProto, series{name: p, colour: colour(p), values: make([]int, len(r.Trend.Days))})
	}
	nf, na := 0, 0
	for i, d := range r.Trend.Days {
		labels[i] = d.Date
		if len(r.Trend.Days) > 1 && r.Trend.BucketDays == 1 {
			labels[i] = d.Date[5:] // MM-DD: the year is in the period line
		}
		failed.values[i], alerts.values[i] = d.FailedLogins, d.Alerts
		nf += d.FailedLogins
		na += d.Alerts
		for j, p := range r.Trend.Protocols {
			byProto[j].values[i] = d.Sessions[p]
		}
	}
	type legend struct{ Name, Colour string }
	var leg []legend
	for _, s := range byProto {
		leg = append(leg, legend{s.name, s.colour})
	}
	data := map[string]any{"R": r, "Legend": leg}
	if r.Totals.Sessions > 0 {
		data["SessionsChart"] = barChart("sessions per day by protocol", labels, byProto, r.Trend.BucketDays)
	}
	if nf > 0 {
		data["FailedChart"] = barChart("failed logins per day", labels, []series{failed}, r.Trend.BucketDays)
	}
	if na > 0 {
		data["AlertsChart"] = barChart("alerts per day", labels, []series{alerts}, r.Trend.BucketDays)
	}
	funcs := template.FuncMap{
		"ts": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(l).Format("2006-01-02 15:04")
		},
		"day": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(l).Format("2006-01-02")
		},
		"text": func(s string) string { return Clean(s, 120) },
		"long": func(s string) string { return Clean(s, 300) },
		"or": func(s string) string {
			if s == "" {
				return "—"
			}
			return Clean(s, 120)
		},
		"join": func(l []string) string {
			out := make([]string, len(l))
			for i, s := range l {
				out[i] = Clean(s, 60)
			}
			return strings.Join(out, ", ")
		},
		"ports": func(p []int) string {
			out := make([]string, len(p))
			for i, x := range p {
				out[i] = fmt.Sprint(x)
			}
			return strings.Join(out, ", ")
		},
		"colour": colour,
		"counts": func(m map[string]int) string {
			keys := sortedKeys(m)
			sort.SliceStable(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
			var out []string
			for _, k := range keys {
				out = append(out, fmt.Sprintf("%s %d", Clean(k, 40), m[k]))
			}
			if len(out) == 0 {
				return "none"
			}
			return strings.Join(out, " · ")
		},
		"capped": func(total, shown int) string {
			if total > shown {
				return fmt.Sprintf("Showing the first %d of %d.", shown, total)
			}
			return ""
		},
		"yesno": func(b bool) string {
			if b {
				return "new"
			}
			return ""
		},
	}
	t, err := template.New("report").Funcs(funcs).Parse(page)
	if err != nil {
		return err
	}
	return t.Execute(w, data)
}

const page = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="referrer" content="no-referrer">
<title>psmtap report {{day .R.Since}} to {{day .R.Until}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;margin:24px 32px;max-width:1300px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #4e79a7;padding-bottom:3px}
h3{font-size:15px;margin:18px 0 6px}.sub{color:#555;margin:0 0 2px}
table{border-collapse:collapse;margin:4px 0 6px;font-size:13px}th,td{border:1px solid #d6d6d6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.c{font-family:ui-monospace,"DejaVu Sans Mono",monospace;white-space:pre-wrap;word-break:break-all;max-width:640px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}.card{border:1px solid #d6d6d6;border-radius:6px;padding:6px 12px;min-width:96px;background:#fafbfc}
.card b{display:block;font-size:22px}.card span{color:#555;font-size:12px}
.none{color:#666;font-style:italic}.cap{color:#8a5a00;font-size:12px}.note{color:#555;font-size:12px;max-width:1100px}
.chart{display:block;margin:4px 0 2px}.chart .ax{font-size:11px;fill:#555}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
.new{color:#0a6;font-weight:600}.warn{color:#b00}
</style></head><body>
{{$r := .R}}
<h1>psmtap report: privileged sessions</h1>
<p class="sub">Period <b>{{ts $r.Since}}</b> to <b>{{ts $r.Until}}</b> ({{$r.TimeZone}}) · working hours {{$r.WorkHours}} on {{$r.WorkDays}}</p>
<p class="sub">From {{text $r.Source}} · made {{ts $r.Generated}} · {{$r.Read.Documents}} documents read{{if $r.Read.Files}} from {{$r.Read.Files}} files{{end}}{{if $r.Read.Unreadable}} · <span class="warn">{{$r.Read.Unreadable}} unreadable lines</span>{{end}}{{if $r.Read.Duplicates}} · {{$r.Read.Duplicates}} duplicate documents counted once{{end}}</p>
<p class="sub">Sensors: {{range $i, $s := $r.Sensors}}{{if $i}}, {{end}}<b>{{or $s.Name}}</b> ({{$s.Sessions}} sessions, {{ts $s.First}} to {{ts $s.Last}}){{else}}<span class="none">none</span>{{end}}</p>

<h2>Totals</h2>
{{with $r.Totals}}
<div class="cards">
<div class="card"><b>{{.Sessions}}</b><span>sessions</span></div>
<div class="card"><b>{{.Users}}</b><span>users</span></div>
<div class="card"><b>{{.Servers}}</b><span>servers</span></div>
<div class="card"><b>{{.Clients}}</b><span>client addresses</span></div>
<div class="card"><b>{{.LoginsSucceeded}}</b><span>successful logins</span></div>
<div class="card"><b>{{.LoginsFailed}}</b><span>failed logins</span></div>
<div class="card"><b>{{.Commands}}</b><span>commands</span></div>
<div class="card"><b>{{.OffHours}}</b><span>off-hours sessions</span></div>
<div class="card"><b>{{.Alerts}}</b><span>alerts</span></div>
</div>
<p class="sub">Sessions by protocol: {{counts .SessionsByProtocol}}.
{{if .WithoutUser}}{{.WithoutUser}} sessions have no user name (SSH and RDP over TLS do not show it).{{end}}
{{if .StillOpen}}{{.StillOpen}} sessions are known only from interim snapshots (still open).{{end}}
{{if .OtherFlows}}{{.OtherFlows}} records of flows with no protocol (--all) are not counted as sessions.{{end}}
{{if .CleartextPasswords}}{{.CleartextPasswords}} sessions sent a password in clear.{{end}}</p>
<p class="sub">Activity events: {{.ActivityEvents}} ({{counts .EventsByAction}}). Alerts by level: {{counts .AlertsByLevel}}.</p>
{{end}}

<h2>Trends</h2>
<h3>Sessions by protocol</h3>
{{if .SessionsChart}}<div class="legend">{{range .Legend}}<span><i style="background:{{.Colour}}"></i>{{text .Name}}</span>{{end}}</div>{{.SessionsChart}}{{else}}<p class="none">No sessions in the period.</p>{{end}}
<h3>Failed logins</h3>
{{if .FailedChart}}{{.FailedChart}}{{else}}<p class="none">None in the period.</p>{{end}}
<h3>Alerts</h3>
{{if .AlertsChart}}{{.AlertsChart}}{{else}}<p class="none">None in the period.</p>{{end}}

<h2>Users</h2>
{{if $r.Users.Rows}}<table><tr><th>user</th><th>sessions</th><th>servers</th><th>protocols</th><th>logins ok</th><th>logins failed</th><th>commands</th><th>off-hours sessions</th><th>first seen</th></tr>
{{range $r.Users.Rows}}<tr><td>{{text .Name}}{{if .New}} <span class="new">new</span>{{end}}</td><td class="n">{{.Sessions}}</td><td class="n">{{.Servers}}</td><td>{{join .Protocols}}</td><td class="n">{{.LoginsOK}}</td><td class="n">{{.LoginsFail}}</td><td class="n">{{.Commands}}</td><td class="n">{{.OffHours}}</td><td>{{ts .FirstSeen}}</td></tr>
{{end}}</table><p class="cap">{{capped $r.Users.Total (len $r.Users.Rows)}}</p>{{else}}<p class="none">No session with a user name in the period.</p>{{end}}

<h2>Servers</h2>
{{if $r.Servers.Rows}}<table><tr><th>server</th><th>ports</th><th>sessions</th><th>users</th><th>clients</th><th>protocols</th><th>logins ok</th><th>logins failed</th><th>commands</th><th>off-hours sessions</th></tr>
{{range $r.Servers.Rows}}<tr><td>{{or .Address}}</td><td>{{ports .Ports}}</td><td class="n">{{.Sessions}}</td><td class="n">{{.Users}}</td><td class="n">{{.Clients}}</td><td>{{join .Protocols}}</td><td class="n">{{.LoginsOK}}</td><td class="n">{{.LoginsFail}}</td><td class="n">{{.Commands}}</td><td class="n">{{.OffHours}}</td></tr>
{{end}}</table><p class="cap">{{capped $r.Servers.Total (len $r.Servers.Rows)}}</p>{{else}}<p class="none">None.</p>{{end}}

<h2>Findings</h2>
{{$f := $r.Findings}}
<h3>Cleartext admin protocols (Telnet, FTP, rlogin, rsh)</h3>
{{if $f.Cleartext.Rows}}<table><tr><th>protocol</th><th>user</th><th>sessions</th><th>servers</th><th>clients</th><th>sessions with a cleartext password</th></tr>
{{range $f.Cleartext.Rows}}<tr><td>{{.Protocol}}</td><td>{{or .User}}</td><td class="n">{{.Sessions}}</td><td class="n">{{.Servers}}</td><td class="n">{{.Clients}}</td><td class="n">{{.CleartextPasswords}}</td></tr>
{{end}}</table><p class="cap">{{capped $f.Cleartext.Total (len $f.Cleartext.Rows)}}</p>{{else}}<p class="none">None.</p>{{end}}

{{define "news"}}{{if .Rows}}<table><tr><th>name</th><th>first seen</th><th>sessions in the period</th></tr>
{{range .Rows}}<tr><td class="c">{{text .Name}}</td><td>{{ts .FirstSeen}}</td><td class="n">{{.Sessions}}</td></tr>
{{end}}</table><p class="cap">{{capped .Total (len .Rows)}}</p>{{else}}<p class="none">None.</p>{{end}}{{end}}
{{define "refs"}}{{if .Rows}}<table><tr><th>time</th><th>protocol</th><th>client</th><th>server</th><th>user</th><th>sensor</th><th>what</th><th>session</th></tr>
{{range .Rows}}<tr><td>{{ts .Time}}</td><td>{{or .Protocol}}</td><td>{{or .Client}}</td><td>{{or .Server}}</td><td>{{or .User}}</td><td>{{or .Sensor}}</td><td>{{long .Detail}}</td><td class="c">{{or .SessionID}}</td></tr>
{{end}}</table><p class="cap">{{capped .Total (len .Rows)}}</p>{{else}}<p class="none">None.</p>{{end}}{{end}}
<h3>RDP with Standard RDP Security (no TLS, no Network Level Authentication)</h3>
{{template "refs" $f.RDPStandard}}
<h3>SSH-1 or weak SSH algorithms</h3>
{{template "refs" $f.SSHWeak}}
<h3>SSH client software (by HASSH)</h3>
{{if $f.SSHClients.Rows}}<table><tr><th>HASSH</th><th>software</th><th>sessions</th><th>client addresses</th><th>first seen</th></tr>
{{range $f.SSHClients.Rows}}<tr><td class="c">{{.HASSH}}{{if .New}} <span class="new">new</span>{{end}}</td><td>{{join .Software}}</td><td class="n">{{.Sessions}}</td><td class="n">{{.Clients}}</td><td>{{ts .FirstSeen}}</td></tr>
{{end}}</table><p class="cap">{{capped $f.SSHClients.Total (len $f.SSHClients.Rows)}}</p>{{else}}<p class="none">None.</p>{{end}}
<h3>Tunnels and reverse sessions</h3>
{{template "refs" $f.Tunnels}}
<h3>New users and clients (never seen before the period)</h3>
{{if not $f.EarlierData}}<p class="none">No earlier data: nothing was read from before the period, so no user or client can be called new.</p>{{else}}
<p class="sub">Data read back to {{if $r.Read.Earliest}}{{ts $r.Read.Earliest}}{{end}}.</p>
<p><b>Users</b></p>{{template "news" $f.NewUsers}}
<p><b>Client addresses</b></p>{{template "news" $f.NewClients}}
<p><b>SSH clients (HASSH)</b></p>{{template "news" $f.NewSSH}}
{{end}}
<h3>Login attempts by the name tried</h3>
{{if not $f.LoginEvents}}<p class="none">None: no login activity events in the data (records written without --events).</p>{{else}}
<table><tr><th>name</th><th>failed</th><th>succeeded</th><th>unknown</th><th>protocols</th></tr>
{{range $f.LoginNames.Rows}}<tr><td>{{or .Name}}</td><td class="n">{{.Failed}}</td><td class="n">{{.Succeeded}}</td><td class="n">{{.Unknown}}</td><td>{{join .Protocols}}</td></tr>
{{end}}</table><p class="cap">{{capped $f.LoginNames.Total (len $f.LoginNames.Rows)}}</p>{{end}}

<h2>Top commands</h2>
{{if $r.Commands.Rows}}<table><tr><th>command</th><th>times</th><th>sessions</th><th>users</th><th>protocols</th></tr>
{{range $r.Commands.Rows}}<tr><td class="c">{{long .Command}}</td><td class="n">{{.Count}}</td><td class="n">{{.Sessions}}</td><td>{{join .Users}}</td><td>{{join .Protocols}}</td></tr>
{{end}}</table><p class="cap">{{capped $r.Commands.Total (len $r.Commands.Rows)}}</p>{{else}}<p class="none">None.</p>{{end}}

<h2>Alerts</h2>
{{if $r.Alerts.ByRule.Rows}}<table><tr><th>rule</th><th>level</th><th>alerts</th><th>sessions</th><th>first</th><th>last</th></tr>
{{range $r.Alerts.ByRule.Rows}}<tr><td>{{text .Rule}}</td><td>{{or .Level}}</td><td class="n">{{.Count}}</td><td class="n">{{.Sessions}}</td><td>{{ts .First}}</td><td>{{ts .Last}}</td></tr>
{{end}}</table><p class="cap">{{capped $r.Alerts.ByRule.Total (len $r.Alerts.ByRule.Rows)}}</p>
<h3>Each alert, most severe first</h3>
<table><tr><th>time</th><th>level</th><th>rule</th><th>user</th><th>client</th><th>server</th><th>message</th></tr>
{{range $r.Alerts.List.Rows}}<tr><td>{{ts .Time}}</td><td>{{or .Level}}</td><td>{{text .Rule}}</td><td>{{or .User}}</td><td>{{or .Client}}</td><td>{{or .Server}}</td><td>{{long .Message}}</td></tr>
{{end}}</table><p class="cap">{{capped $r.Alerts.List.Total (len $r.Alerts.List.Rows)}}</p>{{else}}<p class="none">No alerts in the period.</p>{{end}}

<h2>How these numbers are counted</h2>
<p class="note">A session counts in the period when it started in it (<code>@timestamp</code>), once: its final record, or the latest interim snapshot of a session still open; a document read twice counts once. Logins come from the session records: a success when <code>psm.login.success</code> is true; failures are the other answered attempts (<code>psm.login.attempts</code>), at least one when the login failed; they belong to the session's user (the last name logged in with). Off-hours: the session started outside {{$r.WorkHours}} on {{$r.WorkDays}} ({{$r.TimeZone}}). Commands: <code>psm.commands</code> of the sessions. Events and alerts count when they happened in the period. Lists show at most {{$r.Top}} rows. Text seen on the network is shown with control characters escaped and long values cut (…).</p>
</body></html>
`
