package asciicast

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func filtered(in ...string) string {
	var b bytes.Buffer
	f := NewFilter(&b)
	for _, s := range in {
		f.Write([]byte(s))
	}
	return b.String()
}

// TestFilter: one case per class of sequence, kept or dropped.
func TestFilter(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		// kept: what draws the session
		{"text and utf-8", "héllo wörld 🙂\r\n", "héllo wörld 🙂\r\n"},
		{"layout controls", "a\bb\tc\nd\ve\ff\rg\x0eh\x0fi", "a\bb\tc\nd\ve\ff\rg\x0eh\x0fi"},
		{"cursor movement", "\x1b[A\x1b[2B\x1b[3C\x1b[D\x1b[5;10H\x1b[H\x1b[7G\x1b[2;3f\x1b[4d\x1b[E\x1b[F", "\x1b[A\x1b[2B\x1b[3C\x1b[D\x1b[5;10H\x1b[H\x1b[7G\x1b[2;3f\x1b[4d\x1b[E\x1b[F"},
		{"erase and edit", "\x1b[2J\x1b[K\x1b[1K\x1b[3@\x1b[2P\x1b[L\x1b[M\x1b[4X\x1b[?2J\x1b[?1K", "\x1b[2J\x1b[K\x1b[1K\x1b[3@\x1b[2P\x1b[L\x1b[M\x1b[4X\x1b[?2J\x1b[?1K"},
		{"scrolling", "\x1b[1;20r\x1b[3S\x1b[2T\x1bD\x1bM\x1bE", "\x1b[1;20r\x1b[3S\x1b[2T\x1bD\x1bM\x1bE"},
		{"sgr colour", "\x1b[0m\x1b[1;31m\x1b[38;5;208m\x1b[48;2;1;2;3m\x1b[38:2::1:2:3m\x1b[m", "\x1b[0m\x1b[1;31m\x1b[38;5;208m\x1b[48;2;1;2;3m\x1b[38:2::1:2:3m\x1b[m"},
		{"charset designation and shifts", "\x1b(0lqk\x1b(B\x1b)0\x1b*A\x1b+B\x1b-A\x1b(%5\x1bN\x1bn", "\x1b(0lqk\x1b(B\x1b)0\x1b*A\x1b+B\x1b-A\x1b(%5\x1bN\x1bn"},
		{"save restore cursor, tabs, line size", "\x1b7\x1b8\x1b[s\x1b[u\x1bH\x1b[g\x1b[3g\x1b#6\x1b#8", "\x1b7\x1b8\x1b[s\x1b[u\x1bH\x1b[g\x1b[3g\x1b#6\x1b#8"},
		{"drawing modes", "\x1b[?1049h\x1b[?25l\x1b[?7h\x1b[?2026h\x1b[4h\x1b[?47l\x1b[?1049l", "\x1b[?1049h\x1b[?25l\x1b[?7h\x1b[?2026h\x1b[4h\x1b[?47l\x1b[?1049l"},
		{"cursor style, soft reset, full reset", "\x1b[2 q\x1b[!p\x1bc", "\x1b[2 q\x1b[!p\x1bc"},
		{"8-bit csi made 7-bit", "\u009b1;31mred\u009bH", "\x1b[1;31mred\x1b[H"},

		// dropped: what reaches outside the session
		{"osc window title, bel", "a\x1b]0;owned\x07b\x1b]2;t\x1b\\c", "abc"},
		{"osc 52 clipboard", "x\x1b]52;c;Y3VybCBldmlsLnNofHNo\x07y", "xy"},
		{"other osc: colours, links, notify, cwd", "\x1b]4;1;rgb:ff/00/00\x07\x1b]8;;http://e.vil/\x1b\\link\x1b]8;;\x1b\\\x1b]9;hi\x07\x1b]7;file:///\x07\x1b]1337;File=x\x07.", "link."},
		{"dcs: decrqss, termcap query, sixel", "a\x1bP$qm\x1b\\b\x1bP+q544e\x1b\\c\x1bPq#0;2;0;0;0~-\x1b\\d", "abcd"},
		{"sos pm apc", "a\x1bXsos\x1b\\b\x1b^pm\x1b\\c\x1b_Gkitty;AAAA\x1b\\d", "abcd"},
		{"8-bit osc dcs apc and st", "a\u009d52;c;eA==\u009cb\u0090$qm\u009cc\u009fapc\u009cd\u009e\u009c", "abcd"},
		{"device status and reports", "\x1b[6n\x1b[5n\x1b[?6n\x1b[c\x1b[0c\x1b[>c\x1b[=c\x1b[x\x1b[>q\x1b[?u\x1b[?1$p\x1b[2$p\x1bZ\u009a.", "."},
		{"window operations and title stack", "\x1b[8;100;300t\x1b[21t\x1b[2t\x1b[22;0t\x1b[>2t\x1b[>0T.", "."},
		{"input modes: keys, mouse, focus, paste", "\x1b[?1h\x1b=\x1b>\x1b[?1000h\x1b[?1006h\x1b[?1004h\x1b[?2004h\x1b[?66h\x1b[2h\x1b[20h\x1b[>4;2m.", "."},
		{"mixed modes are rewritten", "\x1b[?1049;1000;25h", "\x1b[?1049;25h"},
		{"printing, locator, other private", "\x1b[5i\x1b[4i\x1b['z\x1b[1'{\x1b[?1;2S\x1b[#p.", "."},
		{"8-bit control switch, charset encoding", "\x1b G\x1b F\x1b%@\x1b%G.", "."},
		{"c0 that act outside", "a\x07b\x05c\x00d\x7fe\x1ff", "abcdef"},
		{"can aborts a sequence", "\x1b[1;3\x18m\x1b]0;x\x18y", "my"},
		{"esc inside a string starts a new sequence", "\x1b]0;t\x1b[1mB", "\x1b[1mB"},
		{"too long a sequence", "\x1b[" + strings.Repeat("1;", 200) + "m.", "."},
		{"malformed csi", "\x1b[1?m\x1b[1 2m\x1b[é.", "."},
		{"invalid utf-8 and raw c1 bytes", "a\x9b6nb\xff\xc3", "a\uFFFD6nb\uFFFD"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := filtered(c.in); got != c.want {
				t.Errorf("filter(%q) = %q, want %q", c.in, got, c.want)
			}
			// The same, one byte a write.
			var parts []string
			for i := 0; i < len(c.in); i++ {
				parts = append(parts, c.in[i:i+1])
			}
			if got := filtered(parts...); got != c.want {
				t.Errorf("byte by byte: %q, want %q", got, c.want)
			}
		})
	}
}

// TestFilterSplit: an OSC 52 split across writes is still dropped whole,
// and a character split across writes is kept whole.
func TestFilterSplit(t *testing.T) {
	if got := filtered("x\x1b", "]5", "2;c;ZXZp", "bA==\x1b", "\\y"); got != "xy" {
		t.Errorf("split osc: %q", got)
	}
	if got := filtered("caf\xc3", "\xa9"); got != "café" {
		t.Errorf("split rune: %q", got)
	}
	if got := filtered("\xc2", "\x9b6n."); got != "." {
		t.Errorf("split 8-bit csi: %q", got)
	}
}

// TestFilterClose: the analyst's terminal is put back after the session.
func TestFilterClose(t *testing.T) {
	var b bytes.Buffer
	f := NewFilter(&b)
	f.Write([]byte("\x1b[?1049h\x1b[31mred\x1b[?25l\x1b(0"))
	f.Close()
	out := b.String()
	if !strings.HasSuffix(out, "\x1b[?1049l") || !strings.Contains(out, "\x1b[0m\x1b[?25h\x1b(B") {
		t.Errorf("close: %q", out)
	}
	if !utf8.ValidString(out) {
		t.Errorf("invalid utf-8: %q", out)
	}
}
