package asciicast

import (
	"bytes"
	"fmt"
	"testing"
	"unicode/utf8"
)

// FuzzFilter: whatever the session sent, and however it was cut into
// writes, the filter's output holds nothing a terminal would act on beyond
// drawing (checked by checkDrawOnly, written apart from the filter), is the
// same for every cut, and is left as it is by a second pass.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"plain text\r\n",                                  // nothing to filter
		"\x1b]52;c;Y3VybCBldmlsfHNo\x07",                  // OSC 52 clipboard write
		"\x1b]0;title\x1b\\",                              // title, ST-terminated
		"\x1bP$qm\x1b\\",                                  // DECRQSS
		"\x1b[6n\x1b[c\x1b[>c\x1b[21t",                    // reports
		"\u009d0;t\u009c\u009b6n\u0090x\u009c",            // 8-bit C1 forms (UTF-8)
		"\x1b[?1049;1000;25h\x1b[31mx\x1b[?1049l",         // mixed modes
		"\x1b(0lqk\x1b(B",                                 // line drawing
		"\x1b]0;a\x1b[1mb\x18\x1b[",                       // ESC in a string, CAN, open CSI
		"\xc3\xa9\xff\xc2\x9b\xe2\x80",                    // UTF-8 good, bad, cut
		"\x1b[" + string(bytes.Repeat([]byte("9;"), 100)), // long parameters
		"\x1b[5!p\x1b[3 q\x1b[?25;1h",                     // soft reset takes no parameter
	} {
		f.Add([]byte(s), []byte{1, 3, 7})
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		var whole bytes.Buffer
		NewFilter(&whole).Write(data)
		if err := checkDrawOnly(whole.Bytes()); err != nil {
			t.Fatalf("%v\nin:  %q\nout: %q", err, data, whole.Bytes())
		}
		var split bytes.Buffer
		fl := NewFilter(&split)
		rest := data
		for _, c := range cuts {
			n := min(int(c), len(rest))
			fl.Write(rest[:n])
			rest = rest[n:]
		}
		fl.Write(rest)
		if !bytes.Equal(split.Bytes(), whole.Bytes()) {
			t.Fatalf("cut into writes %v: %q, whole: %q", cuts, split.Bytes(), whole.Bytes())
		}
		var again bytes.Buffer
		NewFilter(&again).Write(whole.Bytes())
		if !bytes.Equal(again.Bytes(), whole.Bytes()) {
			t.Fatalf("second pass changed %q into %q", whole.Bytes(), again.Bytes())
		}
		// Close adds only the restoring sequences, which pass the check too.
		fl.Close()
		if err := checkDrawOnly(split.Bytes()); err != nil {
			t.Fatalf("after close: %v: %q", err, split.Bytes())
		}
	})
}

// checkDrawOnly parses out as a terminal would and fails on anything that
// is not text, a layout control or a drawing sequence of docs/replay.md.
func checkDrawOnly(out []byte) error {
	if !utf8.Valid(out) {
		return fmt.Errorf("invalid UTF-8")
	}
	for i := 0; i < len(out); {
		r, n := utf8.DecodeRune(out[i:])
		switch {
		case r >= 0x80 && r <= 0x9f:
			return fmt.Errorf("C1 control %U at %d", r, i)
		case r == 0x1b:
			m, err := drawingSequence(out[i:])
			if err != nil {
				return fmt.Errorf("at %d: %w", i, err)
			}
			i += m
			continue
		case r == 0x7f || r < 0x20 && (r < 0x08 || r > 0x0f):
			return fmt.Errorf("control %#x at %d", r, i)
		}
		i += n
	}
	return nil
}

// drawingSequence returns the length of the allowed sequence starting b
// (at an ESC), or why it is not allowed.
func drawingSequence(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, fmt.Errorf("lone ESC")
	}
	if b[1] != '[' {
		i := 1
		for i < len(b) && b[i] >= 0x20 && b[i] <= 0x2f {
			i++
		}
		if i >= len(b) || b[i] < 0x30 || b[i] > 0x7e {
			return 0, fmt.Errorf("unfinished ESC sequence %q", b[:i])
		}
		seq := string(b[1 : i+1])
		switch {
		case len(seq) == 1 && bytes.ContainsAny([]byte(seq), "78DEHMNOno|}~c"):
		case len(seq) >= 2 && len(seq) <= 3 && bytes.ContainsAny(b[1:2], "()*+-./") && (len(seq) == 2 || bytes.ContainsAny(b[2:3], "%\"&")):
		case len(seq) == 2 && seq[0] == '#' && bytes.ContainsAny([]byte{seq[1]}, "34568"):
		default:
			return 0, fmt.Errorf("ESC %q", seq)
		}
		return i + 1, nil
	}
	i := 2
	for i < len(b) && b[i] >= 0x30 && b[i] <= 0x3f {
		i++
	}
	params := string(b[2:i])
	j := i
	for j < len(b) && b[j] >= 0x20 && b[j] <= 0x2f {
		j++
	}
	inter := string(b[i:j])
	if j >= len(b) || b[j] < 0x40 || b[j] > 0x7e {
		return 0, fmt.Errorf("unfinished CSI %q", b[:j])
	}
	final := b[j]
	prefix := ""
	if len(params) > 0 && params[0] >= '<' && params[0] <= '?' {
		prefix, params = params[:1], params[1:]
	}
	for _, c := range []byte(params) {
		if c < '0' || c > ';' {
			return 0, fmt.Errorf("CSI with parameter byte %q", c)
		}
	}
	ok := false
	switch {
	case inter == " " && final == 'q' && prefix == "", inter == "!" && final == 'p' && prefix == "" && params == "":
		ok = true
	case inter != "":
	case final == 'h' || final == 'l':
		ok = prefix == "" || prefix == "?"
		for _, m := range bytes.Split([]byte(params), []byte(";")) {
			allowed := map[string]bool{"4": true}
			if prefix == "?" {
				allowed = map[string]bool{"5": true, "6": true, "7": true, "12": true, "25": true, "47": true, "1047": true, "1048": true, "1049": true, "2026": true}
			}
			if !allowed[string(m)] {
				ok = false
			}
		}
	case prefix == "?":
		ok = final == 'J' || final == 'K'
	case prefix != "":
	case final == 'T':
		ok = !bytes.Contains([]byte(params), []byte(";"))
	default:
		ok = bytes.IndexByte([]byte("@ABCDEFGHIJKLMPSXZ`abdefgmrsu"), final) >= 0
	}
	if !ok {
		return 0, fmt.Errorf("CSI %q%q%q%c", prefix, params, inter, final)
	}
	return j + 1, nil
}
