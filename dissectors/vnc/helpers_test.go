package vnc

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// A conversation: each message with the side that sent it.
type msg struct {
	dir int // 0 client, 1 server
	b   []byte
}

func cli(parts ...[]byte) msg { return msg{0, bytes.Join(parts, nil)} }
func srv(parts ...[]byte) msg { return msg{1, bytes.Join(parts, nil)} }

func str(s string) []byte { return []byte(s) }

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func enc(v int32) []byte   { return be32(uint32(v)) }

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// pf32 is TigerVNC's default 32bpp depth 24 little-endian true-colour format.
var pf32 = []byte{32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0}

func serverInit(w, h uint16, name string) []byte {
	return bytes.Join([][]byte{be16(w), be16(h), pf32, be32(uint32(len(name))), str(name)}, nil)
}

func keyEv(down bool, ks uint32) []byte {
	d := byte(0)
	if down {
		d = 1
	}
	return append([]byte{CKeyEvent, d, 0, 0}, be32(ks)...)
}

// typeKeys presses and releases each character's keysym (Latin-1).
func typeKeys(s string) []byte {
	var b []byte
	for _, r := range s {
		ks := uint32(r)
		switch r {
		case '\n':
			ks = ksReturn
		case '\t':
			ks = ksTab
		}
		b = append(b, keyEv(true, ks)...)
		b = append(b, keyEv(false, ks)...)
	}
	return b
}

func pointer(mask uint8, x, y uint16) []byte {
	return append([]byte{CPointerEvent, mask}, append(be16(x), be16(y)...)...)
}

func cutText(typ byte, text string) []byte {
	return bytes.Join([][]byte{{typ, 0, 0, 0}, be32(uint32(len(text))), str(text)}, nil)
}

// extCut is an extended-clipboard provide message with text.
func extCut(typ byte, text string) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(be32(uint32(len(text) + 1)))
	w.Write(append(str(text), 0))
	w.Close()
	body := append(be32(clipProvide|clipText), z.Bytes()...)
	return bytes.Join([][]byte{{typ, 0, 0, 0}, enc(-int32(len(body))), body}, nil)
}

func rectHdr(x, y, w, h uint16, e int32) []byte {
	return bytes.Join([][]byte{be16(x), be16(y), be16(w), be16(h), enc(e)}, nil)
}

type result struct {
	rec    *record.Record
	events []*record.Event
	status dissectors.Status
	s      *session
}

// Feeding modes: each message in one Feed, every byte in its own, or the
// messages of one side in a row joined.
const (
	perMessage = iota
	perByte
	joined
	modes
)

func feed(t testing.TB, conv []msg, mode int, opts dissectors.Options) result {
	t.Helper()
	r := &record.Record{}
	var evs []*record.Event
	ctx := &dissectors.Context{Record: r, Options: &opts, Transport: "tcp",
		Events: func(ev *record.Event) { evs = append(evs, ev) }}
	s := newSession(ctx)
	var st dissectors.Status
	ts := int64(1e18)
	send := func(dir int, b []byte) {
		ts += 1e6
		if st == dissectors.Done {
			return
		}
		st = s.Feed(dissectors.Direction(dir), b, ts)
	}
	switch mode {
	case perMessage:
		for _, m := range conv {
			send(m.dir, append([]byte(nil), m.b...))
		}
	case perByte:
		for _, m := range conv {
			for i := range m.b {
				send(m.dir, []byte{m.b[i]})
			}
		}
	case joined:
		for i := 0; i < len(conv); {
			j, b := i, []byte(nil)
			for ; j < len(conv) && conv[j].dir == conv[i].dir; j++ {
				b = append(b, conv[j].b...)
			}
			send(conv[i].dir, b)
			i = j
		}
	}
	s.Close(r)
	return result{r, evs, st, s}
}

// feedAll runs every mode and checks they agree on the record and events.
func feedAll(t *testing.T, conv []msg, opts dissectors.Options) result {
	t.Helper()
	var first result
	var want string
	for m := 0; m < modes; m++ {
		res := feed(t, conv, m, opts)
		got := dump(t, res)
		if m == 0 {
			first, want = res, got
			continue
		}
		if got != want {
			t.Errorf("mode %d differs:\n%s\nwant\n%s", m, got, want)
		}
	}
	return first
}

func dump(t testing.TB, res result) string {
	var b bytes.Buffer
	j, err := json.Marshal(res.rec.Objects)
	if err != nil {
		t.Fatal(err)
	}
	b.Write(j)
	b.WriteString("\n")
	j, _ = json.Marshal(struct {
		U string
		L *record.Login
		C []string
		A []string
		K string
		P *bool
	}{res.rec.UserName, res.rec.Login, res.rec.Commands, res.rec.Anomalies, res.rec.Kind, res.rec.CleartextCredentials})
	b.Write(j)
	for _, ev := range res.events {
		j, _ := json.Marshal(struct {
			A, O, R, U string
			L          *record.EventLogin
			C          *record.EventCommand
			B          *record.EventClipboard
		}{ev.Action, ev.Outcome, ev.Reason, ev.UserName, ev.Login, ev.Command, ev.Clipboard})
		b.WriteString("\n")
		b.Write(j)
	}
	return b.String()
}

func fields(r *record.Record) *Fields {
	f, _ := r.Objects["vnc"].(*Fields)
	if f == nil {
		return &Fields{}
	}
	return f
}

func actions(evs []*record.Event, action string) []*record.Event {
	var out []*record.Event
	for _, ev := range evs {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}
