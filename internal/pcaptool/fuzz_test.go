package pcaptool

import (
	"bytes"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// FuzzDecode feeds arbitrary bytes to Decode under every link type: it must not panic, and a
// frame it decodes down to TCP/UDP must encode and decode again to the same payload.
func FuzzDecode(f *testing.F) {
	tr := sampleTrace(f)
	for _, lt := range []layers.LinkType{LinkEthernet, LinkSLL2, LinkRaw, LinkNull} {
		for _, i := range []int{0, 5, 10} { // a SYN, a data segment, an ACK
			data, _ := tr.Frames[i].Append(nil, lt)
			f.Add(uint16(lt), data)
		}
	}
	f.Add(uint16(LinkEthernet), []byte{}) // empty frame
	f.Fuzz(func(t *testing.T, lt uint16, data []byte) {
		fr := Decode(layers.LinkType(lt), Packet{Data: data})
		if fr.L4 != L4TCP && fr.L4 != L4UDP || fr.IP.Version == 0 {
			return
		}
		again := Decode(LinkRaw, Packet{Data: fr.AppendNetwork(nil)})
		if again.L4 != fr.L4 || !bytes.Equal(again.Payload, fr.Payload) {
			t.Fatalf("re-decoded %v/%d bytes, want %v/%d", again.L4, len(again.Payload), fr.L4, len(fr.Payload))
		}
	})
}
