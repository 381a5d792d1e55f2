package spool

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestCrashKeepsAcknowledged kills a process that appends to the spool
// (SIGKILL, in the middle of whatever it was doing) and checks that every
// batch whose Append had returned is there afterwards, in order.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if dir := os.Getenv("PSMTAP_SPOOL_CRASH_DIR"); dir != "" {
		crashChild(dir)
		return
	}
	for round := 0; round < 3; round++ {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashKeepsAcknowledged$")
		cmd.Env = append(os.Environ(), "PSMTAP_SPOOL_CRASH_DIR="+dir)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := 0
		sc := bufio.NewScanner(out)
		deadline := time.Now().Add(time.Duration(150+100*round) * time.Millisecond)
		for sc.Scan() {
			if n, err := strconv.Atoi(sc.Text()); err == nil {
				acked = n
			}
			if time.Now().After(deadline) {
				break
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if acked == 0 {
			t.Fatal("the child acknowledged nothing")
		}
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := drainAll(t, s)
		s.Close()
		if len(got) < acked*10 {
			t.Fatalf("round %d: %d documents survived, %d were acknowledged", round, len(got), acked*10)
		}
		for i, d := range got {
			if d.ID != fmt.Sprintf("id-%d", i) {
				t.Fatalf("round %d: document %d is %s", round, i, d.ID)
			}
		}
	}
}

func crashChild(dir string) {
	s, err := Open(dir, Options{SegmentBytes: 64 << 10})
	if err != nil {
		os.Exit(3)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		if err := s.Append(docs(i*10, 10)); err != nil {
			os.Exit(4)
		}
		fmt.Fprintln(w, i+1) // batches acknowledged so far
		w.Flush()
	}
}
