package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLiveLoopback captures for real through libpcap on the loopback
// interface: a closed SSH-speaking connection and one still open when SIGINT
// arrives. Both must be written exactly once, and counters logged at exit.
// Live capture needs root (CAP_NET_RAW); CI runs as root.
func TestLiveLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (CAP_NET_RAW); run the tests as root to include it")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	cmd := exec.Command(binary, "live", "-i", "lo", "--bpf", "tcp port "+strconv.Itoa(port), "--observer", "live-test", "--stats-every", "1s")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	errLines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errLines <- sc.Text()
		}
		close(errLines)
	}()
	var logged []string
	deadline := time.After(10 * time.Second)
	for started := false; !started; {
		select {
		case l, ok := <-errLines:
			if !ok {
				t.Fatalf("psmtap exited early: %v", logged)
			}
			logged = append(logged, l)
			started = strings.Contains(l, "capturing")
		case <-deadline:
			t.Fatalf("psmtap did not start: %v", logged)
		}
	}

	// A tiny SSH-speaking server: it sends its banner and echoes nothing else.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				c.Write([]byte("SSH-2.0-TestServer_1.0\r\n"))
				io.Copy(io.Discard, c)
				c.Close()
			}(c)
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("SSH-2.0-TestClient_2.0\r\n\x00\x00\x00\x0c\x0a\x14kexinit"))
		buf := make([]byte, 64)
		c.Read(buf)
		return c
	}
	closed := dial()
	closed.Close()
	open := dial()
	defer open.Close()
	time.Sleep(1500 * time.Millisecond) // let the capture see it all

	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() {
		for l := range errLines {
			logged = append(logged, l)
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, strings.Join(logged, "\n"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("psmtap did not stop on SIGINT")
	}
	recs := records(t, stdout.String())
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2:\n%s\n%s", len(recs), stdout.String(), strings.Join(logged, "\n"))
	}
	states := map[string]int{}
	for _, r := range recs {
		if str(r, "network.protocol") != "ssh" || str(r, "destination.port") != strconv.Itoa(port) ||
			str(r, "ssh.server.software") != "TestServer_1.0" || str(r, "observer.ingress.interface.name") != "lo" {
			t.Errorf("record: %v", r)
		}
		states[str(r, "psm.state")]++
	}
	if states["closed"] != 1 || states["capture_end"] != 1 {
		t.Errorf("states %v, want one closed and one capture_end", states)
	}
	all := strings.Join(logged, "\n")
	if !strings.Contains(all, "kernel_dropped=") || !strings.Contains(all, "sessions_written=2") {
		t.Errorf("no counters at exit:\n%s", all)
	}
}
