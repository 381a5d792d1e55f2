package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loopRule ends a session whose command line has the marker (Telnet, FTP).
const loopRule = `title: forbidden marker (respond loop test)
id: 0b7f3c52-5a8e-4d0e-a51c-9c1f6e2d7a40
status: test
logsource:
  product: psmtap
  category: command
detection:
  selection:
    process.command_line|contains: forbidden-marker
  condition: selection
level: critical
response: terminate
`

// Each client prints PSM-READY when logged in, then (telnet, ftp) waits for
// a line on stdin before typing the forbidden command, and prints
// PSM-CLOSED when it sees its connection gone.
const loopTelnetExp = `set timeout 15
lassign $argv host user pass cmd
` + expectTelnetLogin + `puts "\nPSM-READY"
gets stdin
send -- "$cmd\r"
set timeout 5
expect {
    "Connection closed" { puts "\nPSM-CLOSED" }
    eof { puts "\nPSM-CLOSED" }
    timeout { puts "\nPSM-TIMEOUT"; exit 1 }
}
`

const loopFTPExp = `set timeout 15
lassign $argv host user pass cmd
spawn ftp $host
expect {
    "Name" { }
    timeout { puts "PSM-NOLOGIN"; exit 2 }
}
send -- "$user\r"
expect "Password:"
send -- "$pass\r"
expect {
    "230 " { }
    "530 " { puts "PSM-NOLOGIN"; exit 2 }
    timeout { puts "PSM-NOLOGIN"; exit 2 }
}
expect "ftp> "
puts "\nPSM-READY"
gets stdin
send -- "$cmd\r"
set timeout 5
set gone {421 |Not connected|[Cc]onnection reset|[Ll]ost connection|closed connection|Broken pipe}
expect {
    -re $gone { puts "\nPSM-CLOSED"; exit 0 }
    "ftp> " { }
    eof { puts "\nPSM-CLOSED"; exit 0 }
    timeout { puts "\nPSM-TIMEOUT"; exit 1 }
}
# The reply to the command may come before the reset: the client learns
# of it on its next command.
sleep 0.3
send -- "pwd\r"
expect {
    -re $gone { puts "\nPSM-CLOSED" }
    "257 " { puts "\nPSM-ALIVE"; exit 1 }
    eof { puts "\nPSM-CLOSED" }
    timeout { puts "\nPSM-TIMEOUT"; exit 1 }
}
`

// A person at an ssh prompt typing, a key every 80 ms, until the connection ends.
const loopSSHExp = `set timeout 15
lassign $argv cfg host user pass
spawn ssh -F $cfg $user@$host
expect {
    "password:" { }
    timeout { puts "PSM-NOLOGIN"; exit 2 }
}
send -- "$pass\r"
expect {
    -re {\$ $} { }
    "denied" { puts "PSM-NOLOGIN"; exit 2 }
    timeout { puts "PSM-NOLOGIN"; exit 2 }
}
puts "\nPSM-READY"
set timeout 2
set gone {Broken pipe|reset by peer|closed by remote|Connection to [^ ]+ closed}
for {set i 0} {$i < 300} {incr i} {
    if {[catch {send -- "x"}]} { break }
    expect {
        -re $gone { puts "\nPSM-GONE"; break }
        "x" { }
        eof { break }
        timeout { }
    }
    if {$i % 50 == 49} { send -- "\025" }
    after 80
}
# ssh has said its connection is gone (or ended): wait for it to exit.
set timeout 10
set t0 [clock milliseconds]
catch { expect eof }
lassign [wait] pid spawnid oserr status
puts "\nPSM-CLOSED $status [expr {[clock milliseconds]-$t0}]"
`

const loopSCPExp = `set timeout 15
lassign $argv cfg file dest pass
spawn scp -F $cfg -l 40000 $file $dest
expect {
    "password:" { }
    timeout { puts "PSM-NOLOGIN"; exit 2 }
}
send -- "$pass\r"
puts "\nPSM-READY"
set timeout 30
expect eof
lassign [wait] pid spawnid oserr status
puts "\nPSM-CLOSED $status"
`

// The bystander: a Telnet session as bob between the same hosts, that
// echoes each line the test writes (BY-OK n) or says it is gone (BY-DEAD).
const loopBystanderExp = `set timeout 15
log_user 0
lassign $argv host user pass
spawn telnet $host
expect "login: "
send -- "$user\r"
expect "Password:"
send -- "$pass\r"
expect {
    -re {\$ $} { }
    timeout { puts "BY-DEAD login"; exit 2 }
}
puts "BY-READY"
set timeout 3
while {[gets stdin line] >= 0} {
    send -- "echo by-$line | tr a-z A-Z\r"
    expect {
        "BY-$line\r" { puts "BY-OK $line" }
        eof { puts "BY-DEAD eof"; exit 1 }
        timeout { puts "BY-DEAD timeout"; exit 1 }
    }
}
`

const clientBound = 3 * time.Second // trigger to the client process reporting its connection gone

// loopProc is a client (expect) whose output the test waits on.
type loopProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *lockedBuffer
	end chan struct{}
}

func startLoopProc(t *testing.T, ns string, args ...string) *loopProc {
	t.Helper()
	p := &loopProc{out: &lockedBuffer{}, end: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.in, _ = p.cmd.StdinPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.end) }()
	return p
}

// wait waits for s in the output; false when d passed or the process ended without it.
func (p *loopProc) wait(s string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if strings.Contains(p.out.String(), s) {
			return true
		}
		select {
		case <-p.end:
			return strings.Contains(p.out.String(), s)
		default:
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(3 * time.Millisecond)
	}
}

func (p *loopProc) stop() {
	p.in.Close()
	select {
	case <-p.end:
	case <-time.After(2 * time.Second):
		p.cmd.Process.Kill()
		<-p.end
	}
}

// loopRun is one termination as the client saw it.
type loopRun struct {
	kind     string
	port     int       // the client's port
	asked    time.Time // wall time the test typed Enter / ran psmtap terminate
	ok       bool
	why      string // why not ok
	byAlive  bool   // the bystander answered after it
	clientMS float64
}

// TestRespondLoopNetns is the loop of issue 14's "Tested for real": real servers (OpenSSH sshd,
// inetutils telnetd, vsftpd) in the server namespace of newRespondBed, real
// clients typed by expect in the client namespace, psmtap live on the
// bridge's mirror port ending sessions from it, again and again, while a
// bystander Telnet session between the same two hosts must live through
// every termination. Four kinds:
//
//	telnet: types a command line with the marker; a rule (response: terminate) ends it
//	ssh:    an interactive shell that keeps typing; SSH is encrypted, so no rule can
//	        see a command: the operator's way is the API (psmtap terminate on the
//	        session the sensor lists for that client port)
//	scp:    an upload in full flow (rate-limited so it is still flowing), ended by the API
//	ftp:    vsftpd, tnftp types cd into a directory with the marker; the rule ends it
//
// A termination succeeds when the client process reports its connection
// gone within clientBound, and neither namespace has the connection
// established any more (ss). Its latency is from the trigger (the packet the
// rule fired on, psm.response.triggered; or the API request's arrival,
// psm.response.requested) to the first reset reaching the client, as a
// tcpdump in the client namespace saw it.
//
// Small by default (5 telnet, 3 ssh, 1 scp, 3 ftp); PSMTAP_RESPOND_LOOP=N runs N of
// each, PSMTAP_RESPOND_LOOP_KINDS picks kinds, PSMTAP_RESPOND_LOOP_DIR keeps the
// files (internal/tools/respondbench.sh).
func TestRespondLoopNetns(t *testing.T) {
	needNetns(t, "real servers and clients ended again and again")
	for _, p := range []string{"/usr/sbin/inetutils-inetd", "/usr/sbin/telnetd", "/usr/sbin/sshd", "/usr/sbin/vsftpd",
		"/usr/bin/telnet", "/usr/bin/ssh", "/usr/bin/scp", "/usr/bin/ftp", "/usr/bin/expect", "/usr/bin/tcpdump", "/usr/sbin/tc", "/usr/sbin/bridge", "/usr/bin/ssh-keygen"} {
		if _, err := os.Stat(p); err != nil {
			if _, err := exec.LookPath(filepath.Base(p)); err != nil {
				t.Skipf("%s not installed", p)
			}
		}
	}
	for _, u := range []string{"alice", "bob"} {
		if out, err := exec.Command("getent", "passwd", u).Output(); err != nil || !strings.Contains(string(out), "psmtap test account") {
			t.Skipf("no test account %s (pcaps/make-captures.sh makes it)", u)
		}
	}
	counts := map[string]int{"telnet": 5, "ssh": 3, "scp": 1, "ftp": 3}
	if v, err := strconv.Atoi(os.Getenv("PSMTAP_RESPOND_LOOP")); err == nil && v > 0 {
		for k := range counts {
			counts[k] = v
		}
	}
	kinds := []string{"telnet", "ssh", "scp", "ftp"}
	if v := os.Getenv("PSMTAP_RESPOND_LOOP_KINDS"); v != "" {
		kinds = strings.Split(v, ",")
	}

	bed := newRespondBed(t)
	id := strings.TrimPrefix(bed.cli, "prc")
	cliIf := "rc" + id
	// No offloads: frames on the mirror port are then wire-sized, as on a
	// real SPAN port (GSO super-frames would be cut at the sensor's snaplen).
	for _, d := range []struct{ ns, dev string }{{bed.cli, cliIf}, {bed.srv, "rs" + id}, {bed.sw, "wc" + id}, {bed.sw, "ws" + id}} {
		exec.Command("ip", "netns", "exec", d.ns, "ethtool", "-K", d.dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx", "off").Run()
	}
	dir := t.TempDir()
	if d := os.Getenv("PSMTAP_RESPOND_LOOP_DIR"); d != "" { // keep the captures and the sensor's output
		dir = d
		os.MkdirAll(filepath.Join(dir, "rules"), 0o755)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	scripts, _ := filepath.Abs(filepath.Join(repoRoot, "pcaps", "scripts"))
	sshConfig := filepath.Join(scripts, "ssh_config")
	os.Mkdir(filepath.Join(dir, "rules"), 0o755)
	write("rules/forbidden.yml", loopRule)
	inetdConf := write("inetd.conf", "192.0.2.20:telnet stream tcp nowait root /usr/sbin/telnetd telnetd\n")
	exps := map[string]string{}
	for name, body := range map[string]string{"telnet": loopTelnetExp, "ftp": loopFTPExp, "ssh": loopSSHExp, "scp": loopSCPExp, "bystander": loopBystanderExp} {
		exps[name] = write(name+".exp", body)
	}

	// Servers, each in its own process group so that its children go with it.
	server := func(name string, args ...string) {
		cmd := exec.Command("ip", append([]string{"netns", "exec", bed.srv}, args...)...)
		log, _ := os.Create(filepath.Join(dir, name+".log"))
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); log.Close() })
	}
	os.MkdirAll("/run/sshd", 0o755)
	os.MkdirAll("/run/vsftpd/empty", 0o755)
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	server("inetd", "/usr/sbin/inetutils-inetd", "-d", "-p"+filepath.Join(dir, "inetd.pid"), inetdConf)
	server("sshd", "/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(scripts, "sshd_config"), "-h", hostKey,
		"-o", "PidFile="+filepath.Join(dir, "sshd.pid"), "-o", "MaxStartups=100")
	server("vsftpd", "/usr/sbin/vsftpd", filepath.Join(scripts, "vsftpd.conf"))
	for _, port := range []string{"23", "22", "21"} {
		ok := false
		for i := 0; i < 100 && !ok; i++ {
			out, _ := exec.Command("ip", "netns", "exec", bed.srv, "ss", "-Hltn", "sport = :"+port).Output()
			ok = len(bytes.TrimSpace(out)) > 0
			if !ok {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if !ok {
			logs, _ := exec.Command("sh", "-c", "cat "+dir+"/*.log").CombinedOutput()
			t.Fatalf("nothing listens on port %s in the server namespace:\n%s", port, logs)
		}
	}
	upload := filepath.Join(dir, "upload.bin")
	if out, err := exec.Command("head", "-c", "64M", "/dev/urandom").Output(); err != nil {
		t.Fatal(err)
	} else {
		os.WriteFile(upload, out, 0o644)
	}
	os.Remove("/home/alice/psm-loop-upload.bin")
	t.Cleanup(func() { os.Remove("/home/alice/psm-loop-upload.bin") })

	// The client namespace's own view: headers of every TCP segment.
	capFile := filepath.Join(dir, "client.pcap")
	dump := exec.Command("ip", "netns", "exec", bed.cli, "tcpdump", "-i", cliIf, "-nn", "-U", "-s", "128", "--immediate-mode", "-w", capFile, "tcp")
	dumpErr := &lockedBuffer{}
	dump.Stderr = dumpErr
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	dumpDone := false
	stopDump := func() {
		if !dumpDone {
			dumpDone = true
			dump.Process.Signal(os.Interrupt)
			dump.Wait()
		}
	}
	t.Cleanup(stopDump)
	for i := 0; i < 100 && !strings.Contains(dumpErr.String(), "listening on"); i++ {
		time.Sleep(50 * time.Millisecond)
	}

	// The sensor.
	const api = "http://127.0.0.1:18915"
	args := []string{"netns", "exec", bed.tap, binary, "live", "-i", bed.tapIf, "--immediate", "--bpf", "tcp",
		"--inject-interface", bed.tapIf, "--rules", filepath.Join(dir, "rules"), "--events", "--listen", strings.TrimPrefix(api, "http://"),
		"--stats-every", "0"}
	if help, _ := exec.Command(binary, "live", "--help").CombinedOutput(); bytes.Contains(help, []byte("--enable-response")) {
		args = append(args, "--enable-response", "terminate")
	}
	sensor := exec.Command("ip", args...)
	sensorOut, _ := os.Create(filepath.Join(dir, "sensor.ndjson"))
	sensor.Stdout = sensorOut
	sensorLog := &lockedBuffer{}
	sensor.Stderr = sensorLog
	if err := sensor.Start(); err != nil {
		t.Fatal(err)
	}
	sensorDone := false
	stopSensor := func() {
		if !sensorDone {
			sensorDone = true
			sensor.Process.Signal(os.Interrupt)
			sensor.Wait()
			sensorOut.Close()
		}
	}
	t.Cleanup(stopSensor)
	for i := 0; i < 300 && !strings.Contains(sensorLog.String(), "api listening"); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(sensorLog.String(), "api listening") {
		t.Fatalf("psmtap did not start:\n%s", sensorLog.String())
	}
	time.Sleep(300 * time.Millisecond)

	// established lists the client ports of established connections to
	// the server's port in namespace ns (the server's view when srv).
	established := func(ns string, port string) map[int]bool {
		filter := "dport = :" + port
		if ns == bed.srv {
			filter = "sport = :" + port
		}
		out, _ := exec.Command("ip", "netns", "exec", ns, "ss", "-Htn", "state", "established", filter).Output()
		m := map[int]bool{}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 4 {
				continue
			}
			a := f[2] // local (client's view)
			if ns == bed.srv {
				a = f[3]
			}
			if i := strings.LastIndexByte(a, ':'); i >= 0 {
				if p, err := strconv.Atoi(a[i+1:]); err == nil {
					m[p] = true
				}
			}
		}
		return m
	}

	// The bystander.
	var by *loopProc
	byPort := 0
	startBystander := func() {
		before := established(bed.cli, "23")
		by = startLoopProc(t, bed.cli, "expect", "-f", exps["bystander"], "192.0.2.20", "bob", "Builder22")
		if !by.wait("BY-READY", 20*time.Second) {
			t.Fatalf("the bystander did not log in: %s", by.out.String())
		}
		for p := range established(bed.cli, "23") {
			if !before[p] {
				byPort = p
			}
		}
	}
	startBystander()
	t.Cleanup(func() { by.stop() })
	byCheck := 0
	bystanderAlive := func() bool {
		byCheck++
		fmt.Fprintf(by.in, "%d\n", byCheck)
		return by.wait(fmt.Sprintf("BY-OK %d\n", byCheck), 4*time.Second)
	}
	if !bystanderAlive() {
		t.Fatalf("the bystander does not answer: %s", by.out.String())
	}

	sessionOf := func(port int) string {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			out, err := exec.Command("ip", "netns", "exec", bed.tap, binary, "sessions", "--sensor", api, "--json").Output()
			if err != nil {
				continue
			}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				var e struct {
					ID     string
					Open   bool
					Client string
				}
				if json.Unmarshal([]byte(line), &e) == nil && e.Open && strings.HasSuffix(e.Client, ":"+strconv.Itoa(port)) {
					return e.ID
				}
			}
		}
		return ""
	}

	var runs []*loopRun
	runOne := func(kind string) *loopRun {
		r := &loopRun{kind: kind}
		svc := map[string]string{"telnet": "23", "ssh": "22", "scp": "22", "ftp": "21"}[kind]
		before := established(bed.cli, svc)
		var p *loopProc
		switch kind {
		case "telnet":
			p = startLoopProc(t, bed.cli, "expect", "-f", exps[kind], "192.0.2.20", "alice", "Wonderland1", "cat /tmp/forbidden-marker")
		case "ftp":
			p = startLoopProc(t, bed.cli, "expect", "-f", exps[kind], "192.0.2.20", "alice", "Wonderland1", "cd forbidden-marker")
		case "ssh":
			p = startLoopProc(t, bed.cli, "expect", "-f", exps[kind], sshConfig, "192.0.2.20", "alice", "Wonderland1")
		case "scp":
			os.Remove("/home/alice/psm-loop-upload.bin")
			p = startLoopProc(t, bed.cli, "expect", "-f", exps[kind], sshConfig, upload, "alice@192.0.2.20:psm-loop-upload.bin", "Wonderland1")
		}
		defer p.stop()
		if !p.wait("PSM-READY", 20*time.Second) {
			if strings.Contains(p.out.String(), "PSM-NOLOGIN") && len(runs) == 0 {
				t.Skipf("%s: alice could not log in:\n%s", kind, p.out.String())
			}
			r.why = "no login: " + lastLines(p.out.String(), 3)
			return r
		}
		for i := 0; i < 100 && r.port == 0; i++ {
			for port := range established(bed.cli, svc) {
				if !before[port] && port != byPort {
					r.port = port
				}
			}
			if r.port == 0 {
				time.Sleep(20 * time.Millisecond)
			}
		}
		switch kind {
		case "telnet", "ftp":
			time.Sleep(100 * time.Millisecond) // the prompt's packets reach the tap
			r.asked = time.Now()
			fmt.Fprintln(p.in, "go")
		case "scp":
			// In full flow: a megabyte arrived and more is coming.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if st, err := os.Stat("/home/alice/psm-loop-upload.bin"); err == nil && st.Size() > 1<<20 {
					break
				}
			}
			fallthrough
		case "ssh":
			sid := sessionOf(r.port)
			if sid == "" {
				r.why = fmt.Sprintf("no open session for client port %d on the API", r.port)
				return r
			}
			r.asked = time.Now()
			if out, err := exec.Command("ip", "netns", "exec", bed.tap, binary, "terminate", "--sensor", api, "--", sid).CombinedOutput(); err != nil { // ids may begin with -
				r.why = fmt.Sprintf("psmtap terminate: %v %s", err, out)
				return r
			}
		}
		// The client reports its connection gone (ssh: says so, then exits).
		seen := "PSM-CLOSED"
		if kind == "ssh" {
			seen = "PSM-GONE"
		}
		if !p.wait(seen, clientBound) && !p.wait("PSM-CLOSED", 0) {
			r.why = "the client did not see its connection end within " + clientBound.String() + ": " + lastLines(p.out.String(), 3)
			return r
		}
		r.clientMS = float64(time.Since(r.asked).Microseconds()) / 1000
		if kind == "ssh" || kind == "scp" {
			if !p.wait("PSM-CLOSED", 12*time.Second) {
				r.why = "the client said its connection was gone but did not exit: " + lastLines(p.out.String(), 3)
				return r
			}
			if strings.Contains(p.out.String(), "PSM-CLOSED 0") {
				r.why = "the client ended normally (exit status 0): " + lastLines(p.out.String(), 3)
				return r
			}
			if f := strings.Fields(p.out.String()[strings.Index(p.out.String(), "PSM-CLOSED"):]); kind == "ssh" && len(f) > 2 {
				if ms, _ := strconv.Atoi(f[2]); ms > 1000 {
					t.Logf("ssh run (client port %d): ssh exited %d ms after saying its connection was gone", r.port, ms)
				}
			}
		}
		// Neither end keeps the connection.
		gone := false
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if !established(bed.cli, svc)[r.port] && !established(bed.srv, svc)[r.port] {
				gone = true
				break
			}
		}
		if !gone {
			r.why = "still established (ss)"
			return r
		}
		r.ok = true
		return r
	}

	noLogin := map[string]int{}
	for _, kind := range kinds {
		for i := 0; i < counts[kind]; i++ {
			r := runOne(kind)
			// A client that could not log in (a slow PAM or sshd on a loaded
			// machine) ended nothing: not a termination; again, a few times.
			for try := 0; try < 3 && strings.HasPrefix(r.why, "no login"); try++ {
				t.Logf("%s run %d: %s; again", kind, i, r.why)
				noLogin[kind]++
				r = runOne(kind)
			}
			r.byAlive = bystanderAlive()
			if !r.byAlive {
				t.Logf("%s run %d: the bystander died: %s", kind, i, lastLines(by.out.String(), 2))
				by.stop()
				startBystander()
			}
			if !r.ok {
				t.Logf("%s run %d (client port %d): %s", kind, i, r.port, r.why)
			}
			runs = append(runs, r)
		}
	}
	by.stop()
	time.Sleep(500 * time.Millisecond)
	stopSensor()
	stopDump()

	// The sensor's records: the response of each session, by client port.
	type resp struct {
		Reason, Outcome                 string
		Triggered, Requested, Confirmed string
		Tries                           int
	}
	type sess struct {
		start time.Time
		resp  *resp
	}
	bySrcPort := map[int][]sess{}
	var byResp *resp
	sensorData, _ := os.ReadFile(filepath.Join(dir, "sensor.ndjson"))
	for _, line := range bytes.Split(sensorData, []byte("\n")) {
		var doc struct {
			Event struct {
				Dataset string
				Type    []string
				Start   time.Time
			}
			Source struct{ Port int }
			PSM    struct{ Response *resp }
		}
		if json.Unmarshal(line, &doc) != nil || doc.Event.Dataset != "psmtap.session" {
			continue
		}
		if doc.Source.Port == byPort && doc.PSM.Response != nil {
			byResp = doc.PSM.Response
		}
		bySrcPort[doc.Source.Port] = append(bySrcPort[doc.Source.Port], sess{doc.Event.Start, doc.PSM.Response})
	}
	if byResp != nil {
		t.Errorf("the bystander's session has a psm.response: %+v", byResp)
	}

	// The client's capture: per connection (client port, from its SYN), the
	// first reset to arrive and the times of segments with data.
	type capConn struct {
		syn, rst time.Time
		data     []time.Time
	}
	conns := map[int][]*capConn{}
	text, err := exec.Command("tcpdump", "-r", capFile, "-nn", "-tt").Output()
	if err != nil {
		t.Fatalf("reading the client's capture: %v", err)
	}
	lineRE := regexp.MustCompile(`^(\d+)\.(\d+) IP 192\.0\.2\.(\d+)\.(\d+) > 192\.0\.2\.(\d+)\.(\d+): Flags \[([^\]]*)\].* length (\d+)`)
	for _, line := range strings.Split(string(text), "\n") {
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		us, _ := strconv.ParseInt(m[2], 10, 64)
		ts := time.Unix(sec, us*1000)
		toClient := m[5] == "10"
		port, _ := strconv.Atoi(m[4])
		if toClient {
			port, _ = strconv.Atoi(m[6])
		}
		list := conns[port]
		if strings.Contains(m[7], "S") && !strings.Contains(m[7], ".") && !toClient {
			list = append(list, &capConn{syn: ts})
			conns[port] = list
		}
		if len(list) == 0 {
			continue
		}
		c := list[len(list)-1]
		if toClient && strings.Contains(m[7], "R") && c.rst.IsZero() {
			c.rst = ts
		}
		if m[8] != "0" {
			c.data = append(c.data, ts)
		}
	}

	type stats struct {
		n, ok, by, rst, confirmed int
		lat, sensorLat, client    []time.Duration
		skew                      time.Duration // largest |trigger - nearest segment in the client's capture|
		outcomes, tries           map[string]int
	}
	per := map[string]*stats{}
	for _, r := range runs {
		s := per[r.kind]
		if s == nil {
			s = &stats{outcomes: map[string]int{}, tries: map[string]int{}}
			per[r.kind] = s
		}
		s.n++
		if r.byAlive {
			s.by++
		}
		if !r.ok {
			continue
		}
		s.ok++
		s.client = append(s.client, time.Duration(r.clientMS*float64(time.Millisecond)))
		// This run's connection and session: the last to start before it was asked.
		var c *capConn
		for _, cc := range conns[r.port] {
			if cc.syn.Before(r.asked) {
				c = cc
			}
		}
		var rp *resp
		var best time.Time
		for _, ss := range bySrcPort[r.port] {
			if ss.start.Before(r.asked) && ss.start.After(best) {
				rp, best = ss.resp, ss.start
			}
		}
		if rp == nil {
			s.outcomes["no psm.response"]++
			continue
		}
		s.outcomes[rp.Outcome]++
		s.tries[strconv.Itoa(rp.Tries)]++
		if rp.Outcome == "confirmed" {
			s.confirmed++
		}
		trigger := rp.Triggered
		if trigger == "" {
			trigger = rp.Requested
		}
		tr, _ := time.Parse(time.RFC3339Nano, trigger)
		if cf, err := time.Parse(time.RFC3339Nano, rp.Confirmed); err == nil && !tr.IsZero() {
			s.sensorLat = append(s.sensorLat, cf.Sub(tr))
		}
		if c == nil || c.rst.IsZero() || tr.IsZero() {
			continue
		}
		s.rst++
		s.lat = append(s.lat, c.rst.Sub(tr))
		if rp.Triggered != "" {
			near := time.Duration(1 << 62)
			for _, d := range c.data {
				if x := d.Sub(tr); x.Abs() < near.Abs() {
					near = x
				}
			}
			if near.Abs() > s.skew.Abs() {
				s.skew = near
			}
		}
	}
	pct := func(d []time.Duration, p float64) string {
		if len(d) == 0 {
			return "-"
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return fmt.Sprintf("%.1fms", float64(d[int(float64(len(d)-1)*p+0.5)].Microseconds())/1000)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	var table strings.Builder
	fmt.Fprintf(&table, "load average at the end: %s", load)
	fmt.Fprintf(&table, "%-7s %5s %9s %8s %9s | trigger to the client's first reset: %8s %8s %8s %8s | sensor confirmed p50/p95 | client p50/p95 | trigger skew | outcomes | rounds of resets: sessions | logins failed, run again\n",
		"kind", "runs", "success", "reset", "bystander", "p50", "p95", "p99", "max")
	for _, kind := range kinds {
		s := per[kind]
		if s == nil {
			continue
		}
		fmt.Fprintf(&table, "%-7s %5d %4d %3.0f%% %8d %5d/%-3d | %44s %8s %8s %8s | %s %s | %s %s | %v | %v | %v | %d\n",
			kind, s.n, s.ok, 100*float64(s.ok)/float64(s.n), s.rst, s.by, s.n, pct(s.lat, .5), pct(s.lat, .95), pct(s.lat, .99), pct(s.lat, 1),
			pct(s.sensorLat, .5), pct(s.sensorLat, .95), pct(s.client, .5), pct(s.client, .95), s.skew, s.outcomes, s.tries, noLogin[kind])
		if s.ok != s.n {
			t.Errorf("%s: %d of %d terminations seen by the client", kind, s.ok, s.n)
		}
		if s.by != s.n {
			t.Errorf("%s: the bystander died %d times in %d terminations", kind, s.n-s.by, s.n)
		}
		if s.confirmed != s.ok {
			t.Errorf("%s: %d of %d ended connections confirmed by the sensor", kind, s.confirmed, s.ok)
		}
		if s.rst != s.ok {
			t.Errorf("%s: a reset reached the client in %d of %d ended connections", kind, s.rst, s.ok)
		}
	}
	t.Logf("respond loop (client capture %s):\n%s", capFile, table.String())
	if t.Failed() {
		log := strings.Split(strings.TrimRight(sensorLog.String(), "\n"), "\n")
		t.Logf("psmtap:\n%s", strings.Join(log[max(0, len(log)-20):], "\n"))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
