package main

import (
	"bufio"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// liveProc is a psmtap live a namespace test started: its log (stderr) is
// read line by line as it comes, for the test to wait on and look at.
type liveProc struct {
	cmd      *exec.Cmd
	mu       sync.Mutex
	logged   []string
	readDone chan struct{} // stderr reached its end (the process is ending)
}

// startLive starts cmd (its Stdout already set, if wanted) and returns once
// psmtap logs "capturing", and a little after: the capture handle is active
// by then. It fails the test if psmtap exits or says nothing for 15 s. The
// process is killed when the test ends.
func startLive(t *testing.T, cmd *exec.Cmd) *liveProc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &liveProc{cmd: cmd, readDone: make(chan struct{})}
	started := make(chan struct{})
	go func() {
		defer close(p.readDone)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.logged = append(p.logged, sc.Text())
			p.mu.Unlock()
			if strings.Contains(sc.Text(), "capturing") {
				once.Do(func() { close(started) })
			}
		}
	}()
	select {
	case <-started:
	case <-p.readDone:
		t.Fatalf("psmtap exited early:\n%s", p.logs())
	case <-time.After(15 * time.Second):
		t.Fatalf("psmtap did not start:\n%s", p.logs())
	}
	time.Sleep(300 * time.Millisecond)
	return p
}

// lines is the log so far.
func (p *liveProc) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.logged...)
}

func (p *liveProc) logs() string { return strings.Join(p.lines(), "\n") }

// stop sends SIGINT and waits up to d for psmtap to flush and exit; a
// non-zero exit is reported, a hang fails the test.
func (p *liveProc) stop(t *testing.T, d time.Duration) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	waitErr := make(chan error, 1)
	go func() { <-p.readDone; waitErr <- p.cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Errorf("psmtap exit: %v\n%s", err, p.logs())
		}
	case <-time.After(d):
		t.Fatalf("psmtap did not stop on SIGINT:\n%s", p.logs())
	}
}

// lastCounters is the last "msg=counters" line's fields; the test fails
// without one.
func (p *liveProc) lastCounters(t *testing.T) map[string]string {
	t.Helper()
	var counters map[string]string
	for _, l := range p.lines() {
		if strings.Contains(l, "msg=counters") {
			counters = logFields(l)
		}
	}
	if counters == nil {
		t.Fatalf("no counters logged:\n%s", p.logs())
	}
	return counters
}
