package report

import (
	"context"
	"hash/maphash"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/psmtap/psmtap/dissectors/ssh"
)

// maxBuckets: a longer period is drawn in buckets of several days.
const maxBuckets = 400

// Cleartext admin protocols.
var cleartextProtocols = map[string]bool{"telnet": true, "ftp": true, "rlogin": true, "rsh": true}

// session is what the report keeps of one session of the period.
type session struct {
	final        bool
	start, end   time.Time
	proto, user  string
	client, srv  string
	port         int
	sensor, id   string
	ok, failed   int
	commands     []string
	kind         string
	cleartextPwd bool
	weak         []string
	rdpStd       bool
	rdpDetail    string
	hassh, sw    string
}

func fromDoc(d *Doc) *session {
	s := &session{final: d.Final(), start: d.Timestamp, end: d.Event.End, proto: d.Network.Protocol, user: d.User.Name,
		client: d.Source.IP, srv: d.Destination.IP, port: d.Destination.Port, sensor: d.Observer.Hostname, id: d.Event.ID,
		commands: d.Psm.Commands, kind: d.Psm.Kind, cleartextPwd: d.Psm.CleartextCredentials,
		hassh: d.SSH.Client.HASSH, sw: d.SSH.Client.Software}
	s.ok, s.failed = logins(d)
	if d.SSH.Version == 1 {
		s.weak = append(s.weak, "SSH-1")
	}
	for _, a := range [][2]string{{"kex", d.SSH.KexAlg}, {"host key", d.SSH.HostKeyAlg}, {"cipher", d.SSH.CipherAlg}, {"mac", d.SSH.MacAlg}} {
		if a[1] == "" || !ssh.Weak(a[1]) || (a[0] == "mac" && ssh.AEAD(d.SSH.CipherAlg)) {
			continue
		}
		s.weak = append(s.weak, a[0]+" "+a[1])
	}
	if d.RDP.SelectedProtocol == "rdp" || d.RDP.StandardSecurity {
		s.rdpStd = true
		s.rdpDetail = "client " + orNone(d.RDP.Client.Name)
	}
	return s
}

// logins counts a session record's logins: one success when
// psm.login.success is true; failures are the other answered attempts
// (psm.login.attempts), and at least one when psm.login.success is false.
func logins(d *Doc) (ok, failed int) {
	l := d.Psm.Login
	if l.Success == nil {
		return 0, 0
	}
	if *l.Success {
		ok = 1
	}
	failed = l.Attempts - ok
	if !*l.Success && failed < 1 {
		failed = 1
	}
	if failed < 0 {
		failed = 0
	}
	return ok, failed
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

type alert struct {
	Alert
	sessions []string
}

type nameCount struct {
	failed, ok, unknown int
	protos              map[string]bool
}

// builder takes documents one at a time (Scan's fn) and makes the report.
type builder struct {
	o        Options
	sessions map[string]*session
	order    []string // session ids in the order first seen
	anon     int
	seen     map[uint64]bool // ids of events and alerts read
	seed     maphash.Seed
	read     ReadStats

	firstUser, firstClient, firstHASSH map[string]time.Time

	events    map[string]int
	loginSeen bool
	names     map[string]*nameCount
	secWeak   map[string]*SessionRef // SSH security events, by session
	secRDP    map[string]*SessionRef
	alerts    []alert
	strs      map[string]string
}

func newBuilder(o Options) *builder {
	return &builder{o: o, sessions: map[string]*session{}, seen: map[uint64]bool{}, seed: maphash.MakeSeed(),
		firstUser: map[string]time.Time{}, firstClient: map[string]time.Time{}, firstHASSH: map[string]time.Time{},
		strs: map[string]string{}, events: map[string]int{}, names: map[string]*nameCount{}, secWeak: map[string]*SessionRef{}, secRDP: map[string]*SessionRef{}}
}

func first(m map[string]time.Time, k string, t time.Time) {
	if k == "" {
		return
	}
	if f, ok := m[k]; !ok || t.Before(f) {
		m[k] = t
	}
}

func (b *builder) intern(s string) string {
	if s == "" {
		return ""
	}
	if c, ok := b.strs[s]; ok {
		return c
	}
	b.strs[s] = s
	return s
}

// dup says whether a document id was read before (and remembers it).
func (b *builder) dup(id string) bool {
	if id == "" {
		return false
	}
	h := maphash.String(b.seed, id)
	if b.seen[h] {
		b.read.Duplicates++
		return true
	}
	b.seen[h] = true
	return false
}

func ref(d *Doc, detail string) *SessionRef {
	id := ""
	if ids := d.SessionIDs(); len(ids) > 0 {
		id = ids[0]
	}
	return &SessionRef{Time: d.Timestamp, Protocol: d.Network.Protocol, Client: d.Source.IP, Server: d.Destination.IP,
		User: d.User.Name, Sensor: d.Observer.Hostname, SessionID: id, Detail: detail}
}

func (b *builder) add(d *Doc) {
	switch d.Event.Dataset {
	case DatasetSession:
		first(b.firstUser, d.User.Name, d.Timestamp)
		first(b.firstClient, d.Source.IP, d.Timestamp)
		first(b.firstHASSH, d.SSH.Client.HASSH, d.Timestamp)
		if d.Timestamp.Before(b.o.Since) {
			b.read.EarlierData = true
			if b.read.Earliest == nil || d.Timestamp.Before(*b.read.Earliest) {
				t := d.Timestamp
				b.read.Earliest = &t
			}
			return
		}
		id := d.Event.ID
		if id == "" {
			b.anon++
			id = "\x00" + strconv.Itoa(b.anon)
		}
		prev, ok := b.sessions[id]
		switch {
		case !ok:
			b.order = append(b.order, id)
		case prev.final:
			// The final record is in: an interim snapshot adds nothing, a
			// second final record is a copy (the same capture read twice).
			if d.Final() {
				b.read.Duplicates++
			}
			return
		case !d.Final() && d.Event.End.Before(prev.end):
			return // an older snapshot than the one kept
		}
		s := fromDoc(d)
		// One copy of each name, address and command line for the whole
		// period: a year of sessions repeats them endlessly.
		for _, p := range []*string{&s.proto, &s.user, &s.client, &s.srv, &s.sensor, &s.hassh, &s.sw} {
			*p = b.intern(*p)
		}
		for i := range s.commands {
			s.commands[i] = b.intern(s.commands[i])
		}
		b.sessions[id] = s
	case DatasetActivity:
		if b.dup(d.Event.ID) {
			return
		}
		b.events[d.Event.Action]++
		switch d.Event.Action {
		case "login":
			b.loginSeen = true
			n := b.names[d.User.Name]
			if n == nil {
				n = &nameCount{protos: map[string]bool{}}
				b.names[d.User.Name] = n
			}
			n.protos[d.Network.Protocol] = true
			switch d.Event.Outcome {
			case "success":
				n.ok++
			case "failure":
				n.failed++
			default:
				n.unknown++
			}
		case "security":
			sid := ref(d, "").SessionID
			if d.Network.Protocol == "ssh" && (d.SSH.Version == 1 || d.SSH.KexAlg != "" || d.SSH.CipherAlg != "" || d.SSH.MacAlg != "" || d.SSH.HostKeyAlg != "") {
				b.secWeak[sid] = ref(d, d.Event.Reason)
			}
			if d.RDP.StandardSecurity {
				b.secRDP[sid] = ref(d, d.Event.Reason)
			}
		}
	case DatasetAlert:
		if b.dup(d.Event.ID) {
			return
		}
		a := alert{Alert: Alert{Time: d.Timestamp, Rule: d.Rule.Name, Level: d.Psm.Alert.Level, Severity: d.Event.Severity,
			User: d.User.Name, Client: d.Source.IP, Server: d.Destination.IP, Protocol: d.Network.Protocol, Message: d.Message},
			sessions: d.SessionIDs()}
		if len(a.sessions) > 0 {
			a.SessionID = strings.Join(a.sessions, " ")
		}
		b.alerts = append(b.alerts, a)
	}
}

// Build reads the source and makes the report.
func Build(ctx context.Context, src Source, o Options) (*Report, error) {
	if o.Loc == nil {
		o.Loc = time.UTC
	}
	b := newBuilder(o)
	st, err := src.Scan(ctx, Window{Since: o.Since, Until: o.Until}, b.add)
	if err != nil {
		return nil, err
	}
	b.read.Files, b.read.Documents, b.read.Unreadable = st.Files, st.Documents, st.Bad
	r := b.finish()
	r.Source = src.String()
	return r, nil
}

type set map[string]bool

func (s set) sorted() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s set) add(k string) {
	if k != "" {
		s[k] = true
	}
}

// civil is a calendar day as a day number, so buckets follow the zone's
// calendar across daylight saving changes.
func civil(t time.Time, loc *time.Location) int {
	y, m, d := t.In(loc).Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func (b *builder) finish() *Report {
	o := b.o
	r := &Report{Generated: o.Generated, Since: o.Since, Until: o.Until, TimeZone: o.Loc.String(),
		WorkHours: o.WorkHoursString(), WorkDays: o.WorkDaysString(), Top: o.Top, Read: b.read}
	t := &r.Totals
	t.SessionsByProtocol, t.EventsByAction, t.AlertsByLevel = map[string]int{}, map[string]int{}, map[string]int{}

	// Trend buckets.
	firstDay, lastDay := civil(o.Since, o.Loc), civil(o.Until.Add(-time.Nanosecond), o.Loc)
	if lastDay < firstDay {
		lastDay = firstDay
	}
	width := 1
	if n := lastDay - firstDay + 1; n > maxBuckets {
		width = (n + maxBuckets - 1) / maxBuckets
	}
	r.Trend.BucketDays = width
	nb := (lastDay-firstDay)/width + 1
	r.Trend.Days = make([]Day, nb)
	for i := range r.Trend.Days {
		day := time.Unix(int64(firstDay+i*width)*86400, 0).UTC()
		r.Trend.Days[i] = Day{Date: day.Format("2006-01-02"), Sessions: map[string]int{}}
	}
	bucket := func(t time.Time) *Day {
		i := (civil(t, o.Loc) - firstDay) / width
		if i < 0 || i >= nb {
			return nil
		}
		return &r.Trend.Days[i]
	}

	type userAgg struct {
		User
		servers, protos set
	}
	type serverAgg struct {
		Server
		users, clients, protos set
		ports                  map[int]bool
	}
	type cmdAgg struct {
		count         int
		sessions      int
		users, protos set
	}
	type ctAgg struct {
		Cleartext
		servers, clients set
	}
	type hasshAgg struct {
		SSHClient
		sw, clients set
	}
	users, servers := map[string]*userAgg{}, map[string]*serverAgg{}
	cmds, ct, hs := map[string]*cmdAgg{}, map[string]*ctAgg{}, map[string]*hasshAgg{}
	sensors := map[string]*Sensor{}
	allUsers, allServers, allClients := set{}, set{}, set{}
	newUsers, newClients, newSSH := map[string]*NewThing{}, map[string]*NewThing{}, map[string]*NewThing{}
	var rdp, weak, tunnels []SessionRef
	isNew := func(m map[string]time.Time, k string) bool {
		return b.read.EarlierData && k != "" && !m[k].Before(o.Since)
	}
	countNew := func(m map[string]*NewThing, k string, firstSeen time.Time) {
		n := m[k]
		if n == nil {
			n = &NewThing{Name: k, FirstSeen: firstSeen}
			m[k] = n
		}
		n.Sessions++
	}

	for _, id := range b.order {
		s := b.sessions[id]
		if s.proto == "" {
			t.OtherFlows++
			continue
		}
		t.Sessions++
		t.SessionsByProtocol[s.proto]++
		if !s.final {
			t.StillOpen++
		}
		off := o.OffHours(s.start)
		if off {
			t.OffHours++
		}
		t.LoginsSucceeded += s.ok
		t.LoginsFailed += s.failed
		t.Commands += len(s.commands)
		if s.cleartextPwd {
			t.CleartextPasswords++
		}
		allServers.add(s.srv)
		allClients.add(s.client)
		if d := bucket(s.start); d != nil {
			d.Sessions[s.proto]++
			d.FailedLogins += s.failed
		}
		sn := sensors[s.sensor]
		if sn == nil {
			sn = &Sensor{Name: s.sensor, First: s.start, Last: s.start}
			sensors[s.sensor] = sn
		}
		sn.Sessions++
		if s.start.Before(sn.First) {
			sn.First = s.start
		}
		if s.start.After(sn.Last) {
			sn.Last = s.start
		}
		b2i := func(v bool) int {
			if v {
				return 1
			}
			return 0
		}
		if s.user == "" {
			t.WithoutUser++
		} else {
			allUsers.add(s.user)
			u := users[s.user]
			if u == nil {
				u = &userAgg{User: User{Name: s.user, FirstSeen: b.firstUser[s.user], New: isNew(b.firstUser, s.user)}, servers: set{}, protos: set{}}
				users[s.user] = u
			}
			u.Sessions++
			u.servers.add(s.srv)
			u.protos.add(s.proto)
			u.LoginsOK += s.ok
			u.LoginsFail += s.failed
			u.Commands += len(s.commands)
			u.OffHours += b2i(off)
			if u.New {
				countNew(newUsers, s.user, b.firstUser[s.user])
			}
		}
		if isNew(b.firstClient, s.client) {
			countNew(newClients, s.client, b.firstClient[s.client])
		}
		sv := servers[s.srv]
		if sv == nil {
			sv = &serverAgg{Server: Server{Address: s.srv}, users: set{}, clients: set{}, protos: set{}, ports: map[int]bool{}}
			servers[s.srv] = sv
		}
		sv.Sessions++
		sv.users.add(s.user)
		sv.clients.add(s.client)
		sv.protos.add(s.proto)
		sv.ports[s.port] = true
		sv.LoginsOK += s.ok
		sv.LoginsFail += s.failed
		sv.Commands += len(s.commands)
		sv.OffHours += b2i(off)

		inSession := map[string]bool{}
		for _, c := range s.commands {
			a := cmds[c]
			if a == nil {
				a = &cmdAgg{users: set{}, protos: set{}}
				cmds[c] = a
			}
			a.count++
			if !inSession[c] {
				inSession[c] = true
				a.sessions++
			}
			a.users.add(s.user)
			a.protos.add(s.proto)
		}

		sref := SessionRef{Time: s.start, Protocol: s.proto, Client: s.client, Server: s.srv, User: s.user, Sensor: s.sensor, SessionID: s.id}
		if cleartextProtocols[s.proto] {
			k := s.proto + "\x00" + s.user
			c := ct[k]
			if c == nil {
				c = &ctAgg{Cleartext: Cleartext{Protocol: s.proto, User: s.user}, servers: set{}, clients: set{}}
				ct[k] = c
			}
			c.Sessions++
			c.servers.add(s.srv)
			c.clients.add(s.client)
			if s.cleartextPwd {
				c.CleartextPasswords++
			}
		}
		if s.rdpStd || b.secRDP[s.id] != nil {
			x := sref
			x.Detail = "Standard RDP Security"
			if e := b.secRDP[s.id]; e != nil && e.Detail != "" {
				x.Detail = e.Detail
			}
			rdp = append(rdp, x)
		}
		delete(b.secRDP, s.id)
		if len(s.weak) > 0 || b.secWeak[s.id] != nil {
			x := sref
			if len(s.weak) > 0 {
				x.Detail = strings.Join(s.weak, ", ")
			} else {
				x.Detail = b.secWeak[s.id].Detail
			}
			weak = append(weak, x)
		}
		delete(b.secWeak, s.id)
		if s.kind == "tunnel" || s.kind == "reverse" {
			x := sref
			x.Detail = s.kind
			tunnels = append(tunnels, x)
		}
		if s.hassh != "" {
			h := hs[s.hassh]
			if h == nil {
				h = &hasshAgg{SSHClient: SSHClient{HASSH: s.hassh, FirstSeen: b.firstHASSH[s.hassh], New: isNew(b.firstHASSH, s.hassh)}, sw: set{}, clients: set{}}
				hs[s.hassh] = h
			}
			h.Sessions++
			h.sw.add(s.sw)
			h.clients.add(s.client)
			if h.New {
				countNew(newSSH, s.hassh, b.firstHASSH[s.hassh])
			}
		}
	}
	// Security events of sessions whose record is not in the period (they
	// started before it, or are still open without a snapshot).
	for _, e := range b.secRDP {
		rdp = append(rdp, *e)
	}
	for _, e := range b.secWeak {
		weak = append(weak, *e)
	}
	t.Users, t.Servers, t.Clients = len(allUsers), len(allServers), len(allClients)

	for _, sn := range sensors {
		r.Sensors = append(r.Sensors, *sn)
	}
	sort.Slice(r.Sensors, func(i, j int) bool {
		if r.Sensors[i].Sessions != r.Sensors[j].Sessions {
			return r.Sensors[i].Sessions > r.Sensors[j].Sessions
		}
		return r.Sensors[i].Name < r.Sensors[j].Name
	})
	if r.Sensors == nil {
		r.Sensors = []Sensor{}
	}

	var ul []User
	for _, u := range users {
		u.Servers, u.Protocols = len(u.servers), u.protos.sorted()
		ul = append(ul, u.User)
	}
	sort.Slice(ul, func(i, j int) bool {
		if ul[i].Sessions != ul[j].Sessions {
			return ul[i].Sessions > ul[j].Sessions
		}
		return ul[i].Name < ul[j].Name
	})
	r.Users = capped(ul, o.Top)

	var sl []Server
	for _, s := range servers {
		s.Users, s.Clients, s.Protocols = len(s.users), len(s.clients), s.protos.sorted()
		for p := range s.ports {
			s.Ports = append(s.Ports, p)
		}
		sort.Ints(s.Ports)
		sl = append(sl, s.Server)
	}
	sort.Slice(sl, func(i, j int) bool {
		if sl[i].Sessions != sl[j].Sessions {
			return sl[i].Sessions > sl[j].Sessions
		}
		return sl[i].Address < sl[j].Address
	})
	r.Servers = capped(sl, o.Top)

	protos := set{}
	for p := range t.SessionsByProtocol {
		protos.add(p)
	}
	r.Trend.Protocols = protos.sorted()

	var cl []Command
	for c, a := range cmds {
		us := a.users.sorted()
		if len(us) > 5 {
			us = append(us[:5], "…")
		}
		cl = append(cl, Command{Command: c, Count: a.count, Sessions: a.sessions, Users: us, Protocols: a.protos.sorted()})
	}
	sort.Slice(cl, func(i, j int) bool {
		if cl[i].Count != cl[j].Count {
			return cl[i].Count > cl[j].Count
		}
		return cl[i].Command < cl[j].Command
	})
	r.Commands = capped(cl, o.Top)

	f := &r.Findings
	f.EarlierData, f.LoginEvents = b.read.EarlierData, b.loginSeen
	var cts []Cleartext
	for _, c := range ct {
		c.Servers, c.Clients = len(c.servers), len(c.clients)
		cts = append(cts, c.Cleartext)
	}
	sort.Slice(cts, func(i, j int) bool {
		if cts[i].Sessions != cts[j].Sessions {
			return cts[i].Sessions > cts[j].Sessions
		}
		if cts[i].Protocol != cts[j].Protocol {
			return cts[i].Protocol < cts[j].Protocol
		}
		return cts[i].User < cts[j].User
	})
	f.Cleartext = capped(cts, o.Top)
	byTime := func(l []SessionRef) []SessionRef {
		sort.Slice(l, func(i, j int) bool {
			if !l[i].Time.Equal(l[j].Time) {
				return l[i].Time.Before(l[j].Time)
			}
			return l[i].SessionID < l[j].SessionID
		})
		return l
	}
	f.RDPStandard = capped(byTime(rdp), o.Top)
	f.SSHWeak = capped(byTime(weak), o.Top)
	f.Tunnels = capped(byTime(tunnels), o.Top)
	var hl []SSHClient
	for _, h := range hs {
		h.Software, h.Clients = h.sw.sorted(), len(h.clients)
		hl = append(hl, h.SSHClient)
	}
	sort.Slice(hl, func(i, j int) bool {
		if hl[i].Sessions != hl[j].Sessions {
			return hl[i].Sessions > hl[j].Sessions
		}
		return hl[i].HASSH < hl[j].HASSH
	})
	f.SSHClients = capped(hl, o.Top)
	newList := func(m map[string]*NewThing) List[NewThing] {
		var l []NewThing
		for _, n := range m {
			l = append(l, *n)
		}
		sort.Slice(l, func(i, j int) bool {
			if !l[i].FirstSeen.Equal(l[j].FirstSeen) {
				return l[i].FirstSeen.Before(l[j].FirstSeen)
			}
			return l[i].Name < l[j].Name
		})
		return capped(l, o.Top)
	}
	f.NewUsers, f.NewClients, f.NewSSH = newList(newUsers), newList(newClients), newList(newSSH)
	var ln []LoginName
	for name, n := range b.names {
		ln = append(ln, LoginName{Name: name, Failed: n.failed, Succeeded: n.ok, Unknown: n.unknown, Protocols: set(n.protos).sorted()})
	}
	sort.Slice(ln, func(i, j int) bool {
		if ln[i].Failed != ln[j].Failed {
			return ln[i].Failed > ln[j].Failed
		}
		return ln[i].Name < ln[j].Name
	})
	f.LoginNames = capped(ln, o.Top)

	for a, n := range b.events {
		t.EventsByAction[a] = n
		t.ActivityEvents += n
	}

	// Alerts.
	t.Alerts = len(b.alerts)
	rules := map[string]*AlertRule{}
	ruleSessions := map[string]set{}
	for _, a := range b.alerts {
		t.AlertsByLevel[a.Level]++
		if d := bucket(a.Time); d != nil {
			d.Alerts++
		}
		k := a.Rule
		ar := rules[k]
		if ar == nil {
			ar = &AlertRule{Rule: a.Rule, Level: a.Level, Severity: a.Severity, First: a.Time, Last: a.Time}
			rules[k] = ar
			ruleSessions[k] = set{}
		}
		ar.Count++
		if a.Severity > ar.Severity {
			ar.Severity, ar.Level = a.Severity, a.Level
		}
		if a.Time.Before(ar.First) {
			ar.First = a.Time
		}
		if a.Time.After(ar.Last) {
			ar.Last = a.Time
		}
		for _, s := range a.sessions {
			ruleSessions[k].add(s)
		}
	}
	var rl []AlertRule
	for k, ar := range rules {
		ar.Sessions = len(ruleSessions[k])
		rl = append(rl, *ar)
	}
	sort.Slice(rl, func(i, j int) bool {
		if rl[i].Severity != rl[j].Severity {
			return rl[i].Severity > rl[j].Severity
		}
		if rl[i].Count != rl[j].Count {
			return rl[i].Count > rl[j].Count
		}
		return rl[i].Rule < rl[j].Rule
	})
	r.Alerts.ByRule = capped(rl, o.Top)
	al := make([]Alert, 0, len(b.alerts))
	for _, a := range b.alerts {
		al = append(al, a.Alert)
	}
	// The most severe first, then in time order: a cap keeps the most severe.
	sort.SliceStable(al, func(i, j int) bool {
		if al[i].Severity != al[j].Severity {
			return al[i].Severity > al[j].Severity
		}
		return al[i].Time.Before(al[j].Time)
	})
	r.Alerts.List = capped(al, o.Top)
	return r
}
