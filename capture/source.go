// Package capture brings packets in: from capture files (pcap, pcapng, also
// gzip- or zstd-compressed) or live from an interface through libpcap.
// Subpackages decode frames (decode), keep the flow table (flow) and rebuild
// TCP streams (reassembly).
package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

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

type fileSource struct {
	name   string
	f      *os.File
	closer func()
	pcap   *pcapReader
	ng     *pcapgo.NgReader
	link   int
	ngLink []int
}

// OpenFile opens a capture file, sniffing the format from its first bytes.
func OpenFile(path string) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError names the file and the reason
	}
	s := &fileSource{name: path, f: f, closer: func() {}}
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	magic, _ := br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		gz, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: gzip: %w", path, err)
		}
		r = bufio.NewReaderSize(gz, 1<<20)
		s.closer = func() { gz.Close() }
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: zstd: %w", path, err)
		}
		r = bufio.NewReaderSize(zr, 1<<20)
		s.closer = zr.Close
	}
	if br2, ok := r.(*bufio.Reader); ok {
		magic, _ = br2.Peek(4)
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
		if errors.Is(err, io.ErrUnexpectedEOF) {
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
	s.closer()
	return s.f.Close()
}

// captureExt lists the file names a directory scan picks up.
var captureExt = []string{".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".pcap.zst", ".pcapng.zst", ".gz", ".zst"}

// Expand turns the arguments (files and directories) into capture files in
// time order of their first packet. Directories are read recursively for
// names with a capture extension.
func Expand(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			for _, e := range captureExt {
				if len(p) > len(e) && p[len(p)-len(e):] == e {
					files = append(files, p)
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
		first[f] = firstTimestamp(f)
	}
	sort.SliceStable(files, func(i, j int) bool {
		if first[files[i]] != first[files[j]] {
			return first[files[i]] < first[files[j]]
		}
		return files[i] < files[j]
	})
	return files, nil
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
