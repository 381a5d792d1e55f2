package report

import "time"

// Report is everything the report says; the HTML, CSV and JSON outputs are
// views of it. Lists are sorted and capped at Options.Top: Total is the
// length before the cap.
type Report struct {
	Generated time.Time `json:"generated"`
	Source    string    `json:"source"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	TimeZone  string    `json:"time_zone"`
	WorkHours string    `json:"work_hours"`
	WorkDays  string    `json:"work_days"`
	Top       int       `json:"top"`

	Read     ReadStats     `json:"read"`
	Sensors  []Sensor      `json:"sensors"`
	Totals   Totals        `json:"totals"`
	Users    List[User]    `json:"users"`
	Servers  List[Server]  `json:"servers"`
	Trend    Trend         `json:"trend"`
	Findings Findings      `json:"findings"`
	Commands List[Command] `json:"top_commands"`
	Alerts   Alerts        `json:"alerts"`
}

// List is a capped list.
type List[T any] struct {
	Total int `json:"total"` // rows before the cap
	Rows  []T `json:"rows"`
}

// Capped says whether rows were left out.
func (l List[T]) Capped() bool { return l.Total > len(l.Rows) }

func capped[T any](rows []T, top int) List[T] {
	l := List[T]{Total: len(rows), Rows: rows}
	if top > 0 && len(rows) > top {
		l.Rows = rows[:top]
	}
	if l.Rows == nil {
		l.Rows = []T{}
	}
	return l
}

// ReadStats says what was read to make the report.
type ReadStats struct {
	Files      int `json:"files,omitempty"`
	Documents  int `json:"documents"`
	Unreadable int `json:"unreadable"` // lines that are no document
	Duplicates int `json:"duplicates"` // documents whose id was already read (the first copy counts)
	// EarlierData: sessions before the period were read, so "new" means
	// something; Earliest is the first of them.
	EarlierData bool       `json:"earlier_data"`
	Earliest    *time.Time `json:"earliest,omitempty"`
}

// Sensor is one observer.hostname.
type Sensor struct {
	Name     string    `json:"name"`
	Sessions int       `json:"sessions"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

// Totals of the period.
type Totals struct {
	Sessions           int            `json:"sessions"`
	SessionsByProtocol map[string]int `json:"sessions_by_protocol"`
	StillOpen          int            `json:"still_open"`   // sessions known only from interim snapshots
	OtherFlows         int            `json:"other_flows"`  // records of TCP flows with no protocol (--all), not counted as sessions
	WithoutUser        int            `json:"without_user"` // sessions whose user name is not known (SSH encrypts it)
	Users              int            `json:"users"`        // distinct user.name
	Servers            int            `json:"servers"`      // distinct destination.ip
	Clients            int            `json:"clients"`      // distinct source.ip
	LoginsSucceeded    int            `json:"logins_succeeded"`
	LoginsFailed       int            `json:"logins_failed"`
	Commands           int            `json:"commands"`
	OffHours           int            `json:"off_hours_sessions"`
	CleartextPasswords int            `json:"cleartext_password_sessions"`
	ActivityEvents     int            `json:"activity_events"`
	EventsByAction     map[string]int `json:"activity_events_by_action"`
	Alerts             int            `json:"alerts"`
	AlertsByLevel      map[string]int `json:"alerts_by_level"`
}

// User is one user.name.
type User struct {
	Name       string    `json:"name"`
	Sessions   int       `json:"sessions"`
	Servers    int       `json:"servers"`
	Protocols  []string  `json:"protocols"`
	LoginsOK   int       `json:"logins_succeeded"`
	LoginsFail int       `json:"logins_failed"`
	Commands   int       `json:"commands"`
	OffHours   int       `json:"off_hours_sessions"`
	FirstSeen  time.Time `json:"first_seen"`
	New        bool      `json:"new"` // first seen in the period, and there is earlier data
}

// Server is one destination.ip.
type Server struct {
	Address    string   `json:"address"`
	Ports      []int    `json:"ports"`
	Sessions   int      `json:"sessions"`
	Users      int      `json:"users"`
	Clients    int      `json:"clients"`
	Protocols  []string `json:"protocols"`
	LoginsOK   int      `json:"logins_succeeded"`
	LoginsFail int      `json:"logins_failed"`
	Commands   int      `json:"commands"`
	OffHours   int      `json:"off_hours_sessions"`
}

// Trend is the period in buckets of BucketDays days (1 unless the period
// is longer than maxBuckets days).
type Trend struct {
	BucketDays int      `json:"bucket_days"`
	Protocols  []string `json:"protocols"`
	Days       []Day    `json:"days"`
}

// Day is one bucket.
type Day struct {
	Date         string         `json:"date"` // first day of the bucket, in the report's zone
	Sessions     map[string]int `json:"sessions"`
	FailedLogins int            `json:"failed_logins"`
	Alerts       int            `json:"alerts"`
}

// SessionRef points at one session for a finding.
type SessionRef struct {
	Time      time.Time `json:"time"`
	Protocol  string    `json:"protocol"`
	Client    string    `json:"client"`
	Server    string    `json:"server"`
	User      string    `json:"user"`
	Sensor    string    `json:"sensor"`
	SessionID string    `json:"session_id"`
	Detail    string    `json:"detail"`
}

// Cleartext is one protocol and user of a cleartext admin protocol.
type Cleartext struct {
	Protocol           string `json:"protocol"`
	User               string `json:"user"`
	Sessions           int    `json:"sessions"`
	Servers            int    `json:"servers"`
	Clients            int    `json:"clients"`
	CleartextPasswords int    `json:"cleartext_password_sessions"`
}

// SSHClient is one HASSH.
type SSHClient struct {
	HASSH     string    `json:"hassh"`
	Software  []string  `json:"software"`
	Sessions  int       `json:"sessions"`
	Clients   int       `json:"clients"`
	FirstSeen time.Time `json:"first_seen"`
	New       bool      `json:"new"`
}

// NewThing is a user, client address or SSH client never seen before the period.
type NewThing struct {
	Name      string    `json:"name"`
	FirstSeen time.Time `json:"first_seen"`
	Sessions  int       `json:"sessions"`
}

// LoginName is one name tried at a login (from login activity events).
type LoginName struct {
	Name      string   `json:"name"`
	Failed    int      `json:"failed"`
	Succeeded int      `json:"succeeded"`
	Unknown   int      `json:"unknown"`
	Protocols []string `json:"protocols"`
}

// Findings an auditor asks about.
type Findings struct {
	Cleartext   List[Cleartext]  `json:"cleartext"`
	RDPStandard List[SessionRef] `json:"rdp_standard_security"`
	SSHWeak     List[SessionRef] `json:"ssh_weak"`
	SSHClients  List[SSHClient]  `json:"ssh_clients"`
	Tunnels     List[SessionRef] `json:"tunnels_and_reverse"`
	NewUsers    List[NewThing]   `json:"new_users"`
	NewClients  List[NewThing]   `json:"new_clients"`
	NewSSH      List[NewThing]   `json:"new_ssh_clients"`
	LoginNames  List[LoginName]  `json:"login_names"`
	LoginEvents bool             `json:"login_events"` // login activity events were in the data
	EarlierData bool             `json:"earlier_data"`
}

// Command is one command line.
type Command struct {
	Command   string   `json:"command"`
	Count     int      `json:"count"`
	Sessions  int      `json:"sessions"`
	Users     []string `json:"users"`
	Protocols []string `json:"protocols"`
}

// Alerts of the period.
type Alerts struct {
	ByRule List[AlertRule] `json:"by_rule"`
	List   List[Alert]     `json:"list"`
}

// AlertRule is one rule's alerts.
type AlertRule struct {
	Rule     string    `json:"rule"`
	Level    string    `json:"level"`
	Severity int       `json:"severity"`
	Count    int       `json:"count"`
	Sessions int       `json:"sessions"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

// Alert is one alert.
type Alert struct {
	Time      time.Time `json:"time"`
	Rule      string    `json:"rule"`
	Level     string    `json:"level"`
	Severity  int       `json:"severity"`
	User      string    `json:"user"`
	Client    string    `json:"client"`
	Server    string    `json:"server"`
	Protocol  string    `json:"protocol"`
	Message   string    `json:"message"`
	SessionID string    `json:"session_id"`
}
