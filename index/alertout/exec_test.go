package alertout

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "on-alert.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExecRunsAProgram: a real script gets each alert's JSON on stdin and
// its id, rule and level in the environment, with the arguments given.
func TestExecRunsAProgram(t *testing.T) {
	out := t.TempDir()
	p := script(t, `cat > "$1/$PSMTAP_ALERT_ID.json"; echo "$PSMTAP_ALERT_RULE|$PSMTAP_ALERT_LEVEL|$2" > "$1/$PSMTAP_ALERT_ID.env"`)
	argv, err := SplitCommand(p + " " + out + " 'two words'")
	if err != nil {
		t.Fatal(err)
	}
	x, err := NewExec(ExecOptions{Argv: argv, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	outs := New(testLog(t), x)
	for i := 0; i < 5; i++ {
		outs.OnAlert(testAlert(i))
	}
	if err := outs.Close(); err != nil {
		t.Fatal(err)
	}
	if st := x.Stats(); st.Ran != 5 || st.Failed != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	for i := 0; i < 5; i++ {
		id := testAlert(i).ID
		b, err := os.ReadFile(filepath.Join(out, id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Event   struct{ ID, Kind string }
			Message string
		}
		if err := json.Unmarshal(b, &d); err != nil || d.Event.ID != id || d.Event.Kind != "alert" || d.Message != testAlert(i).Message {
			t.Fatalf("stdin of the run for %s: %s (%v)", id, b, err)
		}
		env, _ := os.ReadFile(filepath.Join(out, id+".env"))
		if strings.TrimSpace(string(env)) != "Shadow file read|high|two words" {
			t.Fatalf("environment and arguments: %q", env)
		}
	}
}

// TestExecFailuresAndTimeout: a program that fails is counted and the next
// alert still runs; one that hangs (and a child of it) is killed at the
// timeout, so Close does not wait for it.
func TestExecFailuresAndTimeout(t *testing.T) {
	out := t.TempDir()
	p := script(t, `case "$PSMTAP_ALERT_ID" in
a-001) echo "cannot reach the pager" >&2; exit 3;;
a-002) sleep 30 & sleep 30;;
esac
cat > "`+out+`/$PSMTAP_ALERT_ID.json"`)
	x, err := NewExec(ExecOptions{Argv: []string{p}, Timeout: 2 * time.Second, Logger: testLog(t)}) // roomy: a loaded machine is slow to start a shell
	if err != nil {
		t.Fatal(err)
	}
	outs := New(nil, x)
	for i := 0; i < 4; i++ {
		outs.OnAlert(testAlert(i))
	}
	start := time.Now()
	if err := outs.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Close took %s: the hanging program was not killed", took)
	}
	if st := x.Stats(); st.Ran != 2 || st.Failed != 2 || st.TimedOut != 1 {
		t.Fatalf("stats %+v", st)
	}
	for _, id := range []string{"a-000", "a-003"} {
		if _, err := os.Stat(filepath.Join(out, id+".json")); err != nil {
			t.Errorf("%s did not run after the failures: %v", id, err)
		}
	}
}

// TestExecNeverBlocks: a slow program fills the queue; OnAlert returns at
// once, and the rest is dropped, counted, reported by Close.
func TestExecNeverBlocks(t *testing.T) {
	p := script(t, "sleep 0.2\n")
	x, err := NewExec(ExecOptions{Argv: []string{p}, Queue: 2, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	outs := New(testLog(t), x)
	start := time.Now()
	for i := 0; i < 20; i++ {
		outs.OnAlert(testAlert(i))
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("20 alerts took %s: the output goroutine waited for the program", took)
	}
	err = outs.Close()
	st := x.Stats()
	if err == nil || st.Dropped < 16 || st.Ran+st.Dropped != 20 {
		t.Fatalf("Close %v, stats %+v", err, st)
	}
}

// TestExecConcurrency: with 3 runs at once, 6 alerts of a 0.3 s program
// take about two rounds, not six.
func TestExecConcurrency(t *testing.T) {
	p := script(t, "sleep 0.3\n")
	x, err := NewExec(ExecOptions{Argv: []string{p}, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 6; i++ {
		New(nil, x).OnAlert(testAlert(i))
	}
	x.close()
	if took := time.Since(start); took > 1500*time.Millisecond || x.Stats().Ran != 6 {
		t.Fatalf("6 runs of 0.3 s, 3 at once, took %s (%+v)", took, x.Stats())
	}
}

func TestSplitCommand(t *testing.T) {
	for line, want := range map[string][]string{
		`/usr/local/bin/page-oncall --level high`:    {"/usr/local/bin/page-oncall", "--level", "high"},
		`'/opt/my tools/notify' "a b" c\ d`:          {"/opt/my tools/notify", "a b", "c d"},
		`notify $HOME`:                               {"notify", "$HOME"}, // no expansion: passed as written
		`  /bin/logger   -t psmtap  `:                {"/bin/logger", "-t", "psmtap"},
		`/usr/bin/curl --data-binary @- https://x/y`: {"/usr/bin/curl", "--data-binary", "@-", "https://x/y"},
	} {
		got, err := SplitCommand(line)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q %v, want %q", line, got, err, want)
		}
	}
	for _, bad := range []string{"", "notify | mail root", "notify > /tmp/x", "a; b", "notify $(id)", "notify `id`", "a && b"} {
		if _, err := SplitCommand(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := NewExec(ExecOptions{Argv: []string{"/no/such/program"}}); err == nil {
		t.Error("a program that does not exist accepted")
	}
}
