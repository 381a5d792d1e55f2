package vethtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Sent is what a replay put on the wire.
type Sent struct {
	Frames  int
	Bytes   int64         // Ethernet frames without preamble, gap and FCS
	Refused int           // writes the veth refused (peer's backlog full) and that were retried
	Elapsed time.Duration // from the first write to the last
}

// Mbps is the rate reached, in Mbit/s of frame bytes.
func (s Sent) Mbps() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Bytes) * 8 / s.Elapsed.Seconds() / 1e6
}

// ReplayBits writes frames in order at bitsPerSec bits of frame data a
// second, or as fast as the socket takes them when bitsPerSec is 0 (top
// speed). Pacing is against the clock from the first frame: the writer
// sleeps only when it is a millisecond ahead, so bursts last at most that
// long and a late wake-up is caught up. A write the veth refuses (ENOBUFS:
// the receiving side's backlog is full) is retried, as tcpreplay does, and
// counted.
func (r *Replayer) ReplayBits(ctx context.Context, frames [][]byte, bitsPerSec int64) (s Sent, err error) {
	start := time.Now()
	defer func() { s.Elapsed = time.Since(start) }()
	for i, f := range frames {
		if bitsPerSec > 0 {
			due := start.Add(time.Duration(float64(s.Bytes*8) / float64(bitsPerSec) * 1e9))
			if d := time.Until(due); d > time.Millisecond {
				time.Sleep(d)
			}
		}
		if i&1023 == 0 && ctx.Err() != nil {
			return s, ctx.Err()
		}
		for {
			_, err := unix.Write(r.fd, f)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
				return s, fmt.Errorf("frame %d: %w", i, err)
			}
			s.Refused++
			runtime.Gosched()
		}
		s.Frames++
		s.Bytes += int64(len(f))
	}
	return s, nil
}

// LinkStats are an interface's counters as the kernel keeps them.
type LinkStats struct {
	RxPackets, RxBytes, RxDropped, RxMissed uint64
	TxPackets, TxBytes, TxDropped           uint64
}

// Sub gives the counters since an earlier reading.
func (a LinkStats) Sub(b LinkStats) LinkStats {
	return LinkStats{a.RxPackets - b.RxPackets, a.RxBytes - b.RxBytes, a.RxDropped - b.RxDropped, a.RxMissed - b.RxMissed,
		a.TxPackets - b.TxPackets, a.TxBytes - b.TxBytes, a.TxDropped - b.TxDropped}
}

// Stats reads the counters of ifname in namespace ns (ip -s -j link).
func Stats(ns, ifname string) (LinkStats, error) {
	out, err := exec.Command("ip", "-n", ns, "-s", "-s", "-j", "link", "show", "dev", ifname).Output()
	if err != nil {
		return LinkStats{}, fmt.Errorf("ip -s link %s: %w", ifname, err)
	}
	var v []struct {
		Stats64 struct {
			Rx struct {
				Bytes, Packets, Dropped uint64
				Missed                  uint64 `json:"missed_errors"`
			} `json:"rx"`
			Tx struct {
				Bytes, Packets, Dropped uint64
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &v); err != nil || len(v) != 1 {
		return LinkStats{}, fmt.Errorf("ip -s link %s: unexpected output %q", ifname, out)
	}
	x := v[0].Stats64
	return LinkStats{x.Rx.Packets, x.Rx.Bytes, x.Rx.Dropped, x.Rx.Missed, x.Tx.Packets, x.Tx.Bytes, x.Tx.Dropped}, nil
}

// Interleave spreads the frames of b evenly among those of a, keeping the
// order within each: copies of sessions mixed into bulk traffic.
func Interleave(a, b [][]byte) [][]byte {
	out := make([][]byte, 0, len(a)+len(b))
	if len(b) == 0 {
		return append(out, a...)
	}
	j := 0
	for i, f := range a {
		for j < len(b) && int64(j)*int64(len(a)) <= int64(i)*int64(len(b)) {
			out = append(out, b[j])
			j++
		}
		out = append(out, f)
	}
	return append(out, b[j:]...)
}
