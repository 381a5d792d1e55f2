package postgresql

import (
	"encoding/binary"
	"time"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// Builders of protocol messages (55.7), for tests that need the bytes of a
// conversation the captures do not have.

func msg(typ byte, body ...[]byte) []byte {
	n := 4
	for _, b := range body {
		n += len(b)
	}
	out := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(n))
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

func cstr(s string) []byte { return append([]byte(s), 0) }

func u16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
func u32(v uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, v)
}

func startupMsg(params ...string) []byte {
	body := u32(codeProtocol3)
	for _, p := range params {
		body = append(body, cstr(p)...)
	}
	body = append(body, 0)
	return append(u32(uint32(4+len(body))), body...)
}

func request(code uint32) []byte { return append(u32(8), u32(code)...) }

func authMsg(code uint32, data ...byte) []byte { return msg('R', u32(code), data) }

func ready(status byte) []byte { return msg('Z', []byte{status}) }

func complete(tag string) []byte { return msg('C', cstr(tag)) }

func errorMsg(sev, code, text string) []byte {
	var b []byte
	b = append(b, 'S')
	b = append(b, cstr(sev)...)
	b = append(b, 'V')
	b = append(b, cstr(sev)...)
	b = append(b, 'C')
	b = append(b, cstr(code)...)
	b = append(b, 'M')
	b = append(b, cstr(text)...)
	return msg('E', b, []byte{0})
}

func queryMsg(q string) []byte { return msg('Q', cstr(q)) }

func dataRow(vals ...string) []byte {
	b := u16(len(vals))
	for _, v := range vals {
		b = append(b, u32(uint32(len(v)))...)
		b = append(b, v...)
	}
	return msg('D', b)
}

func rowDesc(cols ...string) []byte {
	b := u16(len(cols))
	for _, c := range cols {
		b = append(b, cstr(c)...)
		b = append(b, make([]byte, 18)...)
	}
	return msg('T', b)
}

func parseMsg(name, q string, oids ...uint32) []byte {
	b := append(cstr(name), cstr(q)...)
	b = append(b, u16(len(oids))...)
	for _, o := range oids {
		b = append(b, u32(o)...)
	}
	return msg('P', b)
}

// bindMsg: formats apply one per parameter; a nil value is NULL.
func bindMsg(portal, stmt string, formats []int, vals ...[]byte) []byte {
	b := append(cstr(portal), cstr(stmt)...)
	b = append(b, u16(len(formats))...)
	for _, f := range formats {
		b = append(b, u16(f)...)
	}
	b = append(b, u16(len(vals))...)
	for _, v := range vals {
		if v == nil {
			b = append(b, 0xff, 0xff, 0xff, 0xff)
			continue
		}
		b = append(b, u32(uint32(len(v)))...)
		b = append(b, v...)
	}
	b = append(b, u16(0)...)
	return msg('B', b)
}

func executeMsg(portal string) []byte { return msg('E', cstr(portal), u32(0)) }
func describeMsg(kind byte, name string) []byte {
	return msg('D', []byte{kind}, cstr(name))
}
func syncMsg() []byte { return msg('S') }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// loginOK is a server's trust login: AuthenticationOk, ParameterStatus,
// BackendKeyData, ReadyForQuery.
func loginOK() []byte {
	return cat(authMsg(authOk), msg('S', cstr("server_version"), cstr("15.18")), msg('K', u32(4242), u32(7)), ready('I'))
}

// step is one segment of a conversation.
type step struct {
	dir  dissectors.Direction
	data []byte
}

// harness runs a session over steps, each split into pieces of size split
// (0: whole), 1 ms of packet time apart.
type harness struct {
	s      *session
	events []*record.Event
	rec    *record.Record
}

func run(steps []step, split int, opts *dissectors.Options) *harness {
	h := &harness{rec: &record.Record{}}
	ctx := &dissectors.Context{Record: h.rec, Options: opts, Events: func(ev *record.Event) { h.events = append(h.events, ev) }}
	if opts == nil {
		ctx.Options = &dissectors.Options{}
	}
	h.s = newSession(ctx)
	ts := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC).UnixNano()
	h.rec.Start = time.Unix(0, ts)
	for _, st := range steps {
		ts += 1e6
		d := st.data
		for len(d) > 0 {
			n := len(d)
			if split > 0 && split < n {
				n = split
			}
			h.s.Feed(st.dir, d[:n], ts)
			d = d[n:]
		}
	}
	h.rec.End = time.Unix(0, ts+1e6)
	h.s.Close(h.rec)
	return h
}

func (h *harness) of(action string) []*record.Event {
	var out []*record.Event
	for _, ev := range h.events {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}

func (h *harness) fields() *Fields {
	f, _ := h.rec.Objects["postgresql"].(*Fields)
	return f
}
