// Package vethtest builds a small network for tests of live capture: two
// network namespaces joined by a veth pair, one to capture in and one to
// replay packets from, and a replayer that writes captured frames onto the
// veth at a fixed rate through an AF_PACKET socket. It needs root (Linux,
// CAP_SYS_ADMIN and CAP_NET_RAW) and the ip command.
//
// Both ends live in namespaces of their own, so replayed traffic never
// reaches the host's IP stack.
package vethtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/psmtap/psmtap/internal/pcaptool"
)

// Available says why the namespaces cannot be built here, or nil.
func Available() error {
	if runtime.GOOS != "linux" {
		return errors.New("network namespaces are Linux only")
	}
	if os.Geteuid() != 0 {
		return errors.New("network namespaces and AF_PACKET need root")
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns is unavailable: %v %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Pair is two namespaces joined by a veth: frames written on SrcIf in Src
// arrive on CapIf in Cap.
type Pair struct {
	Cap, Src     string // namespace names
	CapIf, SrcIf string // interface names, one in each
}

// New creates the namespaces (unique names) with loopback up in both and
// the veth between them; t.Cleanup removes them, also when the test fails.
func New(t testing.TB) *Pair {
	t.Helper()
	p, remove, err := Create()
	t.Cleanup(remove)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Create is New for programs that are not tests: remove deletes the
// namespaces (call it also when err is not nil).
func Create() (p *Pair, remove func(), err error) {
	var b [4]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	p = &Pair{Cap: "psmc" + id, Src: "psms" + id, CapIf: "vc" + id, SrcIf: "vs" + id}
	remove = func() {
		// Deleting a namespace deletes the veth end in it, and so the pair.
		exec.Command("ip", "netns", "del", p.Cap).Run()
		exec.Command("ip", "netns", "del", p.Src).Run()
		exec.Command("ip", "link", "del", p.CapIf).Run() // if creation stopped half way
	}
	run := func(args ...string) error {
		if err != nil {
			return err
		}
		if out, e := exec.Command("ip", args...).CombinedOutput(); e != nil {
			err = fmt.Errorf("ip %s: %v %s", strings.Join(args, " "), e, out)
		}
		return err
	}
	run("netns", "add", p.Cap)
	run("netns", "add", p.Src)
	run("link", "add", p.CapIf, "type", "veth", "peer", "name", p.SrcIf)
	run("link", "set", p.CapIf, "netns", p.Cap)
	run("link", "set", p.SrcIf, "netns", p.Src)
	for _, x := range [][2]string{{p.Cap, p.CapIf}, {p.Src, p.SrcIf}} {
		run("-n", x[0], "link", "set", "lo", "up")
		run("-n", x[0], "link", "set", x[1], "up")
		// No IPv6 chatter (router solicitations) on the test link.
		if err == nil {
			exec.Command("ip", "netns", "exec", x[0], "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").Run()
		}
	}
	return p, remove, err
}

// In runs f on an OS thread that has entered namespace ns. Sockets f opens
// stay in ns after it returns (a listener, a packet socket).
func In(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is not unlocked when anything fails: the goroutine
		// ends and takes the thread, in whatever namespace, with it.
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Replayer writes whole Ethernet frames onto an interface.
type Replayer struct {
	fd int
}

// NewReplayer opens an AF_PACKET socket on ifname in namespace ns. It
// receives nothing (protocol 0); it only sends.
func NewReplayer(ns, ifname string) (*Replayer, error) {
	r := &Replayer{fd: -1}
	err := In(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind to %s: %w", ifname, err)
		}
		r.fd = fd
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Close closes the socket.
func (r *Replayer) Close() error { return unix.Close(r.fd) }

// Replay writes frames in order, rate a second (paced against the clock from
// the first frame, so a late wake-up is caught up, never skipped). It
// returns the frames written.
func (r *Replayer) Replay(ctx context.Context, frames [][]byte, rate int) (int, error) {
	start := time.Now()
	for i, f := range frames {
		due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				return i, ctx.Err()
			case <-time.After(d):
			}
		}
		if _, err := unix.Write(r.fd, f); err != nil {
			return i, fmt.Errorf("frame %d: %w", i, err)
		}
	}
	return len(frames), nil
}

// Sessions makes n copies of the single TCP conversation in an Ethernet
// capture, each with its own client port (firstPort, firstPort+1, ...) so
// that each is a session of its own, one after the other. The client is the
// sender of the first SYN. Checksums are recomputed.
func Sessions(path string, n int, firstPort uint16) ([][]byte, error) {
	c, err := pcaptool.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if c.LinkType != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("%s: link type %v, want Ethernet", path, c.LinkType)
	}
	var frames []pcaptool.Frame
	var client uint16
	for _, p := range c.Packets {
		f := pcaptool.Decode(c.LinkType, p)
		if f.L4 != pcaptool.L4TCP {
			continue
		}
		if client == 0 && f.TCP.Flags&pcaptool.SYN != 0 && f.TCP.Flags&pcaptool.ACK == 0 {
			client = f.TCP.SrcPort
		}
		frames = append(frames, f)
	}
	if client == 0 {
		return nil, fmt.Errorf("%s: no SYN", path)
	}
	out := make([][]byte, 0, n*len(frames))
	for i := 0; i < n; i++ {
		port := firstPort + uint16(i)
		for _, f := range frames {
			switch client {
			case f.TCP.SrcPort:
				f.TCP.SrcPort = port
			case f.TCP.DstPort:
				f.TCP.DstPort = port
			}
			b, err := f.Append(nil, c.LinkType)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
	}
	return out, nil
}
