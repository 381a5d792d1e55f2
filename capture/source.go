// Package capture brings packets in: from capture files (pcap, pcapng, also
// gzip- or zstd-compressed) or live from an interface through libpcap.
// Subpackages decode frames (decode), keep the flow table (flow) and rebuild
// TCP streams (reassembly).
package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/zstd"
)

// Source yields frames. Frame data is valid until the next call to Next.
type Source interface {
	// Next returns the next frame, its link type, packet time (ns since the
	// epoch) and original length. It returns io.EOF at the end.
	Next() (frame []byte, linkType int, ts int64, wireLen int, err error)
	// Name is the file path or interface name (observer.ingress.interface.name).
	Name() string
	Close() error
}

// ErrNotCapture says a file is neither pcap nor pcapng (after decompression).
var ErrNotCapture = errors.New("not a pcap or pcapng file")

// ErrTruncatedFile says the capture ended in the middle of a packet record, as
// a capture does when tcpdump was killed or the disk filled. The packets read
// before it are good.
var ErrTruncatedFile = errors.New("capture file ends in the middle of a packet")

// ErrCorruptCompression says the gzip or zstd layer of a capture is damaged
// (a bad checksum, an invalid block, or a stream cut short). The packets read
// before the damage are good.
var ErrCorruptCompression = errors.New("corrupt compressed capture")

// corruptError is a decompressor's failure, named after its format ("corrupt
// zstd: ..."). A stream cut short also counts as a truncated capture.
type corruptError struct {
	kind      string
	err       error
	truncated bool
}

func (e *corruptError) Error() string {
	if e.truncated {
		return "corrupt " + e.kind + ": compressed stream cut short"
	}
	return "corrupt " + e.kind + ": " + e.err.Error()
}

func (e *corruptError) Unwrap() []error {
	if e.truncated {
		return []error{ErrCorruptCompression, ErrTruncatedFile, e.err}
	}
	return []error{ErrCorruptCompression, e.err}
}

// decompressed names a decompressor's errors after its format, so that a
// damaged .zst says so instead of passing for a bad pcap.
type decompressed struct {
	r    io.Reader
	kind string
}

func (d *decompressed) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		var ce *corruptError
		if !errors.As(err, &ce) {
			err = &corruptError{kind: d.kind, err: err, truncated: errors.Is(err, io.ErrUnexpectedEOF)}
		}
	}
	return n, err
}

type fileSource struct {
	name   string
	f      *os.File
	ctx    context.Context
	stop   func() bool // ends the cancellation watch of a non-regular file
	closer func()
	pcap   *pcapReader
	ng     *pcapgo.NgReader
	link   int
	ngLink []int
}

// OpenFile opens a capture file, sniffing the format from its first bytes.
func OpenFile(path string) (Source, error) { return Open(context.Background(), path) }

// Open is OpenFile that gives up when ctx ends: opening a named pipe waits
// for a writer, and reading a pipe or device waits for data, so neither may
// hold the program past a signal. Regular files never wait.
func Open(ctx context.Context, path string) (Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err // *PathError names the file and the reason
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	s := &fileSource{name: path, ctx: ctx, closer: func() {}}
	if st.Mode().IsRegular() {
		s.f, err = os.Open(path)
	} else {
		s.f, err = openWaiting(ctx, path, st.Mode())
	}
	if err != nil {
		return nil, err
	}
	f := s.f
	if !st.Mode().IsRegular() {
		// A pipe is read through the poller: a past deadline wakes a blocked read.
		s.stop = context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	magic, err := br.Peek(4)
	if len(magic) < 4 && ctx.Err() != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", path, ctx.Err())
	}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		gz, err := gzip.NewReader(br)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: %w", path, &corruptError{kind: "gzip", err: err, truncated: errors.Is(err, io.ErrUnexpectedEOF)})
		}
		r = bufio.NewReaderSize(&decompressed{r: gz, kind: "gzip"}, 1<<20)
		s.closer = func() { gz.Close() }
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: zstd: %w", path, err)
		}
		r = bufio.NewReaderSize(&decompressed{r: zr, kind: "zstd"}, 1<<20)
		s.closer = zr.Close
	}
	if br2, ok := r.(*bufio.Reader); ok && br2 != br {
		magic, err = br2.Peek(4)
		if len(magic) < 4 && err != nil && err != io.EOF {
			// Damaged before the first packet: say what broke, not "not a pcap".
			s.Close()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	switch {
	case bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}):
		ng, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{SkipUnknownVersion: true})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: pcapng: %w", path, err)
		}
		s.ng = ng
		for i := 0; i < ng.NInterfaces(); i++ {
			ifc, _ := ng.Interface(i)
			s.ngLink = append(s.ngLink, int(ifc.LinkType))
		}
	case isPcapMagic(magic):
		var pr *pcapReader
		if r == io.Reader(br) {
			// Plain file: read it in place through a read-only mapping.
			if mem, unmap, release := mapFile(f); mem != nil {
				if pr, err = newMappedPcapReader(mem); err != nil {
					unmap()
					f.Close()
					return nil, fmt.Errorf("%s: pcap: %w", path, err)
				}
				pr.release = release
				s.pcap, s.link, s.closer = pr, pr.link, unmap
				return s, nil
			}
		}
		pr, err := newPcapReader(r)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: pcap: %w", path, err)
		}
		s.pcap = pr
		s.link = pr.link
	default:
		s.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrNotCapture)
	}
	return s, nil
}

func isPcapMagic(m []byte) bool {
	if len(m) < 4 {
		return false
	}
	for _, x := range [][]byte{
		{0xa1, 0xb2, 0xc3, 0xd4}, {0xd4, 0xc3, 0xb2, 0xa1}, // microseconds
		{0xa1, 0xb2, 0x3c, 0x4d}, {0x4d, 0x3c, 0xb2, 0xa1}, // nanoseconds
	} {
		if bytes.Equal(m, x) {
			return true
		}
	}
	return false
}

func (s *fileSource) Name() string { return s.name }

func (s *fileSource) Next() ([]byte, int, int64, int, error) {
	var (
		data []byte
		ci   gopacket.CaptureInfo
		err  error
		link = s.link
	)
	if s.ng != nil {
		data, ci, err = s.ng.ZeroCopyReadPacketData()
		if err == nil {
			if ci.InterfaceIndex >= len(s.ngLink) {
				// An interface described after the first packets: ask again.
				for i := len(s.ngLink); i < s.ng.NInterfaces(); i++ {
					ifc, _ := s.ng.Interface(i)
					s.ngLink = append(s.ngLink, int(ifc.LinkType))
				}
			}
			if ci.InterfaceIndex < len(s.ngLink) {
				link = s.ngLink[ci.InterfaceIndex]
			}
		}
	} else {
		var ts int64
		var orig int
		data, ts, orig, err = s.pcap.next()
		if err == nil {
			return data, link, ts, orig, nil
		}
	}
	if err != nil {
		if s.ctx != nil && s.ctx.Err() != nil && err != io.EOF {
			return nil, 0, 0, 0, fmt.Errorf("%s: %w", s.name, s.ctx.Err())
		}
		if errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrCorruptCompression) {
			return nil, 0, 0, 0, fmt.Errorf("%s: %w", s.name, ErrTruncatedFile)
		}
		if err == io.EOF {
			return nil, 0, 0, 0, io.EOF
		}
		return nil, 0, 0, 0, fmt.Errorf("%s: %w", s.name, err)
	}
	return data, link, ci.Timestamp.UnixNano(), ci.Length, nil
}

func (s *fileSource) Close() error {
	if s.stop != nil {
		s.stop()
	}
	s.closer()
	return s.f.Close()
}

// openWaiting opens a file whose open may wait (a named pipe waits for a
// writer), giving up when ctx ends.
func openWaiting(ctx context.Context, path string, mode os.FileMode) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := os.Open(path)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		return r.f, r.err
	case <-ctx.Done():
		if mode&os.ModeNamedPipe != 0 {
			// Be the writer the blocked open waits for, so it returns now
			// instead of holding a thread until someone else writes.
			if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		}
		go func() {
			if r := <-done; r.f != nil {
				r.f.Close()
			}
		}()
		return nil, fmt.Errorf("%s: %w", path, ctx.Err())
	}
}

// captureExt lists the file names a directory scan picks up.
var captureExt = []string{".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".pcap.zst", ".pcapng.zst", ".gz", ".zst"}

// Expand turns the arguments (files and directories) into capture files in
// time order of their first packet. Directories are read recursively for
// names with a capture extension; what is not a regular file there (a named
// pipe, a device, a socket) is skipped and passed to skipped, if not nil,
// since reading it could wait forever. A pipe named as an argument is kept:
// the operator asked for it (psmtap read <(zcat x.pcap.gz)); pipes come
// after the files, in argument order, not probed for their first packet.
func Expand(ctx context.Context, args []string, skipped func(path, why string)) ([]string, error) {
	var files []string
	regular := map[string]bool{}
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			regular[a] = st.Mode().IsRegular()
			continue
		}
		err = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			for _, e := range captureExt {
				if len(p) > len(e) && p[len(p)-len(e):] == e {
					mode := d.Type()
					if mode&os.ModeSymlink != 0 {
						st, err := os.Stat(p)
						if err != nil {
							if skipped != nil {
								skipped(p, err.Error())
							}
							return nil
						}
						mode = st.Mode()
					}
					if !mode.IsRegular() {
						if skipped != nil {
							skipped(p, "not a regular file ("+mode.Type().String()+")")
						}
						return nil
					}
					files = append(files, p)
					regular[p] = true
					break
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	first := make(map[string]int64, len(files))
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if regular[f] {
			first[f] = firstTimestamp(f)
		}
	}
	var plain, pipes []string
	for _, f := range files {
		if regular[f] {
			plain = append(plain, f)
		} else {
			pipes = append(pipes, f)
		}
	}
	sort.SliceStable(plain, func(i, j int) bool {
		if first[plain[i]] != first[plain[j]] {
			return first[plain[i]] < first[plain[j]]
		}
		return plain[i] < plain[j]
	})
	return append(plain, pipes...), nil
}

// firstTimestamp returns the time of a file's first packet, or 0.
func firstTimestamp(path string) int64 {
	s, err := OpenFile(path)
	if err != nil {
		return 0
	}
	defer s.Close()
	_, _, ts, _, err := s.Next()
	if err != nil {
		return 0
	}
	return ts
}
