package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// actionsExpect logs in over telnet, types the commands, then ends as told:
// "close" waits for the connection to end (printing the policy line if it
// comes first), "exit" types exit, "sleep" leaves after a second.
const actionsExpect = `set timeout 15
lassign $argv host user pass end
set cmds [lrange $argv 4 end]
` + expectTelnetLogin + `send -- "id\r"
expect -re {uid=.*\$ $}
sleep 0.2
foreach cmd $cmds {
    send -- "$cmd\r"
    if {$end ne "close"} { expect -re {\$ $} }
}
if {$end eq "exit"} {
    send -- "exit\r"
    expect eof
    puts "\nPSM-EXITED"
    exit 0
}
if {$end eq "sleep"} {
    sleep 1
    puts "\nPSM-SLEPT"
    exit 0
}
set timeout 5
expect {
    -re {session ended by policy: ([^\r\n]*)\r\n} { puts "\nPSM-WARNED <$expect_out(1,string)>"; exp_continue }
    "Connection closed" { puts "\nPSM-CLOSED" }
    eof { puts "\nPSM-CLOSED" }
    timeout { puts "\nPSM-TIMEOUT"; exit 1 }
}
`

// rloginExpect logs in over rlogin (trusted through ~/.rhosts), types one
// command and waits for the connection to end, as actionsExpect's "close".
const rloginExpect = `set timeout 15
lassign $argv host user cmd
set env(TERM) xterm
spawn rlogin -l $user $host
expect {
    -re {\$ $} { }
    "assword" { puts "PSM-NOLOGIN"; exit 2 }
    timeout { puts "PSM-NOLOGIN"; exit 2 }
}
send -- "id\r"
expect -re {uid=.*\$ $}
sleep 0.2
send -- "$cmd\r"
set timeout 5
expect {
    -re {session ended by policy: ([^\r\n]*)\r\n} { puts "\nPSM-WARNED <$expect_out(1,string)>"; exp_continue }
    "closed" { puts "\nPSM-CLOSED" }
    eof { puts "\nPSM-CLOSED" }
    timeout { puts "\nPSM-TIMEOUT"; exit 1 }
}
`

func actionsRule(id, title, word, response string) string {
	return "title: " + title + "\nid: " + id + "\nstatus: test\nlogsource:\n  product: psmtap\n  category: command\n" +
		"detection:\n  selection:\n    process.command_line|contains: " + word + "\n  condition: selection\nlevel: high\nresponse: " + response + "\n"
}

// addBystander puts one more host on the test bed's bridge, mirrored to the
// tap like the others: the other client, whose connections must survive a
// lockdown.
func (r *respondBed) addBystander(t *testing.T) string {
	t.Helper()
	id := r.cli[3:]
	ns := "prb" + id
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	for _, args := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "link", "add", "rb" + id, "type", "veth", "peer", "name", "wb" + id},
		{"ip", "link", "set", "rb" + id, "netns", ns},
		{"ip", "link", "set", "wb" + id, "netns", r.sw},
		{"ip", "-n", r.sw, "link", "set", "wb" + id, "master", "br0"},
		{"ip", "-n", r.sw, "link", "set", "wb" + id, "up"},
		{"ip", "-n", ns, "link", "set", "rb" + id, "up"},
		{"ip", "-n", ns, "addr", "add", "192.0.2.30/24", "dev", "rb" + id},
		{"ip", "netns", "exec", r.sw, "tc", "qdisc", "add", "dev", "wb" + id, "ingress"},
		{"ip", "netns", "exec", r.sw, "tc", "filter", "add", "dev", "wb" + id, "parent", "ffff:", "protocol", "all", "u32", "match", "u32", "0", "0",
			"action", "mirred", "egress", "mirror", "dev", "wt" + id},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	return ns
}

// addIPv6 gives the client and the server IPv6 addresses on the bridge.
func (r *respondBed) addIPv6(t *testing.T) {
	t.Helper()
	id := r.cli[3:]
	for _, h := range []struct{ ns, dev, addr string }{{r.cli, "rc" + id, "2001:db8::10/64"}, {r.srv, "rs" + id, "2001:db8::20/64"}} {
		for _, args := range [][]string{
			{"ip", "netns", "exec", h.ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0"},
			{"ip", "netns", "exec", h.ns, "sysctl", "-qw", "net.ipv6.conf." + h.dev + ".disable_ipv6=0"},
			{"ip", "-n", h.ns, "addr", "add", h.addr, "dev", h.dev, "nodad"},
		} {
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v %s", strings.Join(args, " "), err, out)
			}
		}
	}
}

// tapProc is psmtap live running in the test bed's tap namespace.
type tapProc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	log    []string
}

func (p *tapProc) logs() string { p.mu.Lock(); defer p.mu.Unlock(); return strings.Join(p.log, "\n") }

func startTap(t *testing.T, bed *respondBed, env []string, args ...string) *tapProc {
	t.Helper()
	p := &tapProc{}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", bed.tap, binary, "live", "-i", bed.tapIf, "--immediate", "--bpf", "tcp",
		"--events", "--stats-every", "0"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &p.stdout
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.log = append(p.log, sc.Text())
			p.mu.Unlock()
			if strings.Contains(sc.Text(), "msg=capturing") {
				once.Do(func() { close(started) })
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(15 * time.Second):
		t.Fatalf("psmtap did not start:\n%s", p.logs())
	}
	time.Sleep(300 * time.Millisecond)
	return p
}

// stop ends psmtap (every session flushed) and returns its documents.
func (p *tapProc) stop(t *testing.T) []actionDoc {
	t.Helper()
	p.cmd.Process.Signal(os.Interrupt)
	p.cmd.Wait()
	var docs []actionDoc
	for _, line := range strings.Split(p.stdout.String(), "\n") {
		if line == "" {
			continue
		}
		var d actionDoc
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("bad output line %q: %v", line, err)
		}
		docs = append(docs, d)
	}
	return docs
}

type actionDoc struct {
	Event struct {
		ID, Dataset, Action, Outcome, Reason string
		Type                                 []string
	}
	Source  struct{ IP string }
	Network struct{ Protocol, Type string }
	PSM     struct {
		SessionID string `json:"session_id"`
		Commands  []string
		Response  *struct {
			Action, Reason, Outcome, Error string
			RuleID                         string `json:"rule_id"`
			Tries, Packets                 int
			Warned                         bool
			DryRun                         bool `json:"dry_run"`
		}
	}
}

// sessionWith finds the final record of the telnet session whose commands
// include word, and its response events.
func sessionWith(docs []actionDoc, word string) (rec *actionDoc, events []actionDoc) {
	for i := range docs {
		d := &docs[i]
		if d.Event.Dataset == "psmtap.session" && len(d.Event.Type) > 0 && d.Event.Type[0] == "end" && strings.Contains(strings.Join(d.PSM.Commands, "\n"), word) {
			rec = d
		}
	}
	if rec != nil {
		for _, d := range docs {
			if d.Event.Dataset == "psmtap.activity" && d.Event.Action == "response" && d.PSM.SessionID == rec.PSM.SessionID {
				events = append(events, d)
			}
		}
	}
	return rec, events
}

// TestRespondActionsNetns runs warn, terminate over IPv6, and lockdown with
// the shipped nftables hook (docs/examples/nft-lockdown.sh) on real telnet
// sessions through the test bed of TestRespondTerminateNetns, then the same
// rules with --response-dry-run:
//   - warn: the client reads "session ended by policy: <rule>", then its
//     connection ends;
//   - terminate on an IPv6 session: the client's connection ends;
//   - lockdown: nft in the server's namespace drops the client: a new
//     connection from it fails, one from another host still succeeds;
//   - dry run: a session typing both commands goes on and exits by itself,
//     the hook does not run, and the record and events say dry_run.
//
// Needs what TestRespondTerminateNetns needs, and nft and jq.
func TestRespondActionsNetns(t *testing.T) {
	needNetns(t, "real telnet sessions")
	for _, p := range []string{"inetutils-inetd", "telnetd", "telnet", "expect", "tc", "bridge", "nft", "jq"} {
		if _, err := exec.LookPath(p); err != nil {
			if _, err := os.Stat("/usr/sbin/" + p); err != nil {
				t.Skipf("%s not installed", p)
			}
		}
	}
	if out, err := exec.Command("getent", "passwd", "alice").Output(); err != nil || !strings.Contains(string(out), "psmtap test account") {
		t.Skip("no test account alice (pcaps/make-captures.sh makes it)")
	}
	bed := newRespondBed(t)
	bed.addIPv6(t)
	by := bed.addBystander(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	conf := write("inetd.conf", "192.0.2.20:telnet stream tcp nowait root /usr/sbin/telnetd telnetd\n"+
		"2001:db8::20:telnet stream tcp6 nowait root /usr/sbin/telnetd telnetd\n"+
		"192.0.2.20:login stream tcp nowait root /usr/sbin/in.rlogind in.rlogind\n")
	exp := write("client.exp", actionsExpect)
	// Read by alice: in a directory of its own she can enter.
	rlDir, err := os.MkdirTemp("", "psmtap-rlogin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rlDir) })
	os.Chmod(rlDir, 0o755)
	rlExp := filepath.Join(rlDir, "rlogin.exp")
	if err := os.WriteFile(rlExp, []byte(rloginExpect), 0o644); err != nil {
		t.Fatal(err)
	}
	rulesDir := filepath.Join(dir, "rules")
	write("rules/warn.yml", actionsRule("0d4c9a3e-5b7e-4f1a-8c2d-1e6f7a9b3c51", "warn test rule", "warnme", "warn"))
	write("rules/term.yml", actionsRule("1e5dab4f-6c8f-4a2b-9d3e-2f7a8bac4d62", "terminate test rule", "killme", "terminate"))
	write("rules/lock.yml", actionsRule("2f6ebc5a-7d9a-4b3c-ae4f-3a8b9cbd5e73", "lockdown test rule", "lockme", "lockdown"))
	inetd := exec.Command("ip", "netns", "exec", bed.srv, "/usr/sbin/inetutils-inetd", "-d", "-p"+filepath.Join(dir, "inetd.pid"), conf)
	if err := inetd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inetd.Process.Kill(); inetd.Wait() })

	hook, err := filepath.Abs(repoRoot + "/docs/examples/nft-lockdown.sh")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"NFT=ip netns exec " + bed.srv + " nft", "PSMTAP_NFT_TABLE=psmtaptest"}
	flags := []string{"--rules", rulesDir, "--enable-response", "warn,terminate,lockdown", "--inject-interface", bed.tapIf,
		"--response-exec", hook, "--lockdown-duration", "2m"}
	client := func(ns, host, end string, cmds ...string) string {
		out, _ := exec.Command("ip", append([]string{"netns", "exec", ns, "expect", "-f", exp, host, "alice", "Wonderland1", end}, cmds...)...).CombinedOutput()
		if strings.Contains(string(out), "PSM-NOLOGIN") {
			t.Skipf("alice could not log in over telnet (password not Wonderland1?):\n%s", out)
		}
		return string(out)
	}
	// connects says whether ns opens a new TCP connection to the server's
	// telnet port within a second (on the bridge: a few hundred microseconds).
	connects := func(ns string) bool {
		return exec.Command("ip", "netns", "exec", ns, "timeout", "1", "bash", "-c", "exec 3<>/dev/tcp/192.0.2.20/23").Run() == nil
	}
	blocked := func() string {
		out, _ := exec.Command("ip", "netns", "exec", bed.srv, "nft", "list", "set", "inet", "psmtaptest", "blocked4").CombinedOutput()
		return string(out)
	}

	t0 := time.Now()
	phase := func(what string) { t.Logf("%s at %v", what, time.Since(t0).Round(time.Millisecond)) }
	tap := startTap(t, bed, env, flags...)
	phase("psmtap started")
	// warn: the policy line, then the end.
	out := client(bed.cli, "192.0.2.20", "close", "echo warnme")
	w, c := strings.Index(out, "PSM-WARNED <warn test rule>"), strings.Index(out, "PSM-CLOSED")
	if w < 0 || c < w {
		t.Errorf("warn: the client did not read the policy line and then see its connection end:\n%s\npsmtap:\n%s", out, tap.logs())
	}
	phase("telnet warn done")
	// warn over rlogin, when alice's ~/.rhosts trusts the client (pcaps/make-captures.sh).
	rlogin := false
	if _, err := os.Stat("/usr/sbin/in.rlogind"); err == nil {
		out, _ := exec.Command("ip", "netns", "exec", bed.cli, "runuser", "-u", "alice", "--", "env", "HOME=/home/alice",
			"expect", "-f", rlExp, "192.0.2.20", "alice", "echo warnme rlogin").CombinedOutput()
		switch w, c := strings.Index(string(out), "PSM-WARNED <warn test rule>"), strings.Index(string(out), "PSM-CLOSED"); {
		case strings.Contains(string(out), "PSM-NOLOGIN"):
			t.Logf("rlogin part skipped: alice could not log in over rlogin:\n%s", out)
		case w < 0 || c < w:
			t.Errorf("warn over rlogin: the client did not read the policy line and then see its connection end:\n%s\npsmtap:\n%s", out, tap.logs())
		default:
			rlogin = true
		}
	}
	phase(fmt.Sprintf("rlogin warn done (ran: %v)", rlogin))
	// terminate over IPv6.
	if out := client(bed.cli, "2001:db8::20", "close", "echo killme"); !strings.Contains(out, "PSM-CLOSED") || strings.Contains(out, "PSM-WARNED") {
		t.Errorf("terminate over IPv6: the client's connection did not end:\n%s\npsmtap:\n%s", out, tap.logs())
	}
	if !connects(bed.cli) || !connects(by) {
		t.Fatal("before the lockdown, the client and the bystander cannot connect to the server")
	}
	phase("IPv6 terminate done")
	// lockdown: the hook blocks the client in the server's firewall.
	client(bed.cli, "192.0.2.20", "sleep", "echo lockme")
	if !strings.Contains(blocked(), "192.0.2.10") {
		t.Errorf("the client is not in the nftables set after the lockdown:\n%s\npsmtap:\n%s", blocked(), tap.logs())
	}
	if connects(bed.cli) {
		t.Error("after the lockdown, a new connection from the client to the server still succeeds")
	}
	if !connects(by) {
		t.Error("after the lockdown, the bystander cannot connect to the server")
	}
	phase("lockdown checked")
	docs := tap.stop(t)
	phase("lockdown done, psmtap stopped")

	if rec, evs := sessionWith(docs, "warnme"); rec == nil || rec.PSM.Response == nil || rec.PSM.Response.Action != "warn" || !rec.PSM.Response.Warned ||
		rec.PSM.Response.Outcome != "confirmed" || len(evs) != 1 {
		t.Errorf("warn session: record %+v, %d response events", rec, len(evs))
	}
	if rec, _ := sessionWith(docs, "warnme rlogin"); rlogin && (rec == nil || rec.Network.Protocol != "rlogin" || rec.PSM.Response == nil ||
		!rec.PSM.Response.Warned || rec.PSM.Response.Outcome != "confirmed") {
		t.Errorf("rlogin warn session: record %+v", rec)
	}
	if rec, evs := sessionWith(docs, "killme"); rec == nil || rec.Network.Type != "ipv6" || rec.PSM.Response == nil || rec.PSM.Response.Action != "terminate" ||
		rec.PSM.Response.Outcome != "confirmed" || len(evs) != 1 {
		t.Errorf("IPv6 terminate session: record %+v, %d response events", rec, len(evs))
	}
	if rec, evs := sessionWith(docs, "lockme"); rec == nil || rec.PSM.Response == nil || rec.PSM.Response.Action != "lockdown" ||
		rec.PSM.Response.Outcome != "ok" || rec.PSM.Response.Packets != 0 || len(evs) != 1 || evs[0].Event.Outcome != "success" {
		t.Errorf("lockdown session: record %+v, events %+v", rec, evs)
	}

	// The same rules in a dry run, from the bystander: decided, recorded, nothing done.
	tap = startTap(t, bed, env, append(flags, "--response-dry-run")...)
	if out := client(by, "192.0.2.20", "exit", "echo warnme", "echo lockme"); !strings.Contains(out, "PSM-EXITED") || strings.Contains(out, "session ended by policy") {
		t.Errorf("dry run: the session did not go on to its own exit:\n%s\npsmtap:\n%s", out, tap.logs())
	}
	time.Sleep(200 * time.Millisecond)
	docs = tap.stop(t)
	phase("dry run done")
	if strings.Contains(blocked(), "192.0.2.30") {
		t.Errorf("dry run: the hook ran:\n%s", blocked())
	}
	rec, evs := sessionWith(docs, "lockme")
	if rec == nil || rec.PSM.Response == nil || rec.PSM.Response.Action != "warn" || rec.PSM.Response.Outcome != "dry_run" || !rec.PSM.Response.DryRun ||
		rec.PSM.Response.Packets != 0 {
		t.Fatalf("dry run record: %+v", rec)
	}
	got := map[string]string{}
	for _, e := range evs {
		if e.PSM.Response.DryRun {
			got[e.PSM.Response.Action] = e.PSM.Response.Outcome
		}
	}
	if len(evs) != 2 || got["warn"] != "dry_run" || got["lockdown"] != "dry_run" {
		t.Errorf("dry run events: %+v", evs)
	}
	if !strings.Contains(tap.logs(), "dry_run=true") {
		t.Error("dry run: no response log line says dry_run=true")
	}
}
