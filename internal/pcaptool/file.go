package pcaptool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// DefaultSnaplen is what tcpdump uses by default, and what the writers use when none is given.
const DefaultSnaplen = 262144

// Packet is one captured packet: its bytes as captured and its length on the wire.
type Packet struct {
	Time time.Time
	Data []byte
	Len  int // original length; 0 means len(Data)
}

// OrigLen returns the packet's length on the wire.
func (p Packet) OrigLen() int {
	if p.Len < len(p.Data) {
		return len(p.Data)
	}
	return p.Len
}

// Capture is the content of one capture file.
type Capture struct {
	LinkType layers.LinkType
	Snaplen  uint32
	Nanos    bool // nanosecond timestamps (pcap magic 0xa1b23c4d)
	Packets  []Packet
}

// ReadFile reads every packet of a pcap or pcapng file, optionally gzip- or zstd-compressed.
func ReadFile(path string) (Capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return Capture{}, err
	}
	defer f.Close()
	c, err := Read(f)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Read reads every packet of a pcap or pcapng stream, recognised by its magic number.
// A file cut in the middle of a record returns the packets before the cut together with an
// error wrapping io.ErrUnexpectedEOF.
func Read(r io.Reader) (Capture, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return Capture{}, err
		}
		defer zr.Close()
		return Read(zr)
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return Capture{}, err
		}
		defer zr.Close()
		return Read(zr)
	case bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}):
		return readNg(br)
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return Capture{}, err
	}
	c := Capture{LinkType: pr.LinkType(), Snaplen: pr.Snaplen(), Nanos: pr.Resolution() == gopacket.TimestampResolutionNanosecond}
	return c, readAll(&c, pr)
}

func readNg(r io.Reader) (Capture, error) {
	nr, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return Capture{}, err
	}
	c := Capture{LinkType: nr.LinkType(), Snaplen: DefaultSnaplen}
	if iface, err := nr.Interface(0); err == nil && iface.SnapLength > 0 {
		c.Snaplen = iface.SnapLength
	}
	for i := 1; i < nr.NInterfaces(); i++ {
		if iface, _ := nr.Interface(i); iface.LinkType != c.LinkType {
			return c, fmt.Errorf("pcapng interfaces with different link types (%v, %v)", c.LinkType, iface.LinkType)
		}
	}
	return c, readAll(&c, nr)
}

func readAll(c *Capture, r gopacket.PacketDataSource) error {
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("after packet %d: %w", len(c.Packets), err)
		}
		c.Packets = append(c.Packets, Packet{Time: ci.Timestamp, Data: data, Len: ci.Length})
	}
}

// Writer writes pcap records to a buffered stream. It does not allocate per packet.
type Writer struct {
	bw      *bufio.Writer
	pw      *pcapgo.Writer
	snaplen int
}

// NewWriter writes a pcap file header for lt and snaplen (0: DefaultSnaplen) to w.
// Call Flush when done.
func NewWriter(w io.Writer, lt layers.LinkType, snaplen uint32, nanos bool) (*Writer, error) {
	if snaplen == 0 {
		snaplen = DefaultSnaplen
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	pw := pcapgo.NewWriter(bw)
	if nanos {
		pw = pcapgo.NewWriterNanos(bw)
	}
	if err := pw.WriteFileHeader(snaplen, lt); err != nil {
		return nil, err
	}
	return &Writer{bw: bw, pw: pw, snaplen: int(snaplen)}, nil
}

// WritePacket writes one record, cutting data to the snaplen. origLen 0 means len(data).
func (w *Writer) WritePacket(t time.Time, data []byte, origLen int) error {
	if origLen < len(data) {
		origLen = len(data)
	}
	if len(data) > w.snaplen {
		data = data[:w.snaplen]
	}
	return w.pw.WritePacket(gopacket.CaptureInfo{Timestamp: t, CaptureLength: len(data), Length: origLen}, data)
}

// Flush writes buffered records to the underlying writer.
func (w *Writer) Flush() error { return w.bw.Flush() }

// Write writes c as a pcap file to w.
func Write(w io.Writer, c Capture) error {
	pw, err := NewWriter(w, c.LinkType, c.Snaplen, c.Nanos)
	if err != nil {
		return err
	}
	for _, p := range c.Packets {
		if err := pw.WritePacket(p.Time, p.Data, p.Len); err != nil {
			return err
		}
	}
	return pw.Flush()
}

// Bytes returns c encoded as a pcap file.
func (c Capture) Bytes() []byte {
	var buf bytes.Buffer
	_ = Write(&buf, c) // writing to memory cannot fail
	return buf.Bytes()
}

// WriteFile writes c as a pcap file at path.
func WriteFile(path string, c Capture) error {
	return os.WriteFile(path, c.Bytes(), 0o644)
}
