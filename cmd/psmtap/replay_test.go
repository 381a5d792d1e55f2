package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRecordingsAndReplay: --recordings on the real Telnet and rlogin
// captures writes one zstd asciicast per session, described in the record;
// the password typed in telnet-login.pcap is masked unless
// --reveal-credentials; replay plays it and --export cast writes plain
// asciicast (asciinema 2.2.0 from Debian plays these exports).
func TestRecordingsAndReplay(t *testing.T) {
	for _, reveal := range []bool{false, true} {
		dir := t.TempDir()
		args := []string{"read", "--recordings", dir}
		if reveal {
			args = append(args, "--reveal-credentials")
		}
		res := run(t, append(args, "pcaps/telnet-login.pcap", "pcaps/rlogin.pcap", "pcaps/ftp-vsftpd.pcap")...)
		recs := records(t, res.stdout)
		var paths []string
		for _, r := range recs {
			p := str(r, "psm.recording.path")
			if str(r, "network.protocol") == "ftp" {
				if p != "" {
					t.Errorf("ftp session recorded: %s", p)
				}
				continue
			}
			if str(r, "psm.recording.format") != "asciicast-v2" || p == "" {
				t.Fatalf("no recording in %v", r["psm"])
			}
			raw, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(raw)
			if str(r, "psm.recording.sha256") != hex.EncodeToString(sum[:]) || str(r, "psm.recording.bytes") != strconv.Itoa(len(raw)) {
				t.Fatalf("digest/size do not match the file")
			}
			paths = append(paths, filepath.Join(dir, p))
		}
		if len(paths) != 2 {
			t.Fatalf("%d recordings", len(paths))
		}
		cast := run(t, "replay", "--export", "cast", paths[0]).stdout
		if !strings.HasPrefix(cast, `{"version":2,"width":80,"height":24,`) || !strings.Contains(cast, `"i", "a"`) {
			t.Fatalf("export: %.200s", cast)
		}
		typed := strings.Contains(cast, `"i", "W"`) && strings.Contains(cast, `"i", "1"`)
		if typed != reveal {
			t.Fatalf("reveal=%v but password keys in the recording: %v", reveal, typed)
		}
		played := run(t, "replay", "--speed", "1000", paths[0])
		if played.code != 0 || !strings.Contains(played.stdout, "uid=2001(alice)") || strings.Contains(played.stdout, "Wonderland") {
			t.Fatalf("replay: %d %.300q", played.code, played.stdout)
		}
		// --from past the end plays nothing but what came before, at once
		if p := run(t, "replay", "--from", "1h", paths[1]); p.code != 0 || !strings.Contains(p.stdout, "/home/alice") {
			t.Fatalf("replay --from: %d", p.code)
		}
	}
	if r := run(t, "replay", "--export", "mp4", "pcaps/README.md"); r.code == 0 {
		t.Fatal("unknown export format accepted")
	}
	if r := run(t, "replay", "pcaps/README.md"); r.code == 0 {
		t.Fatal("a non-recording played")
	}
}

// TestAsciinemaPlaysExport: asciinema's own player reads our export. It runs
// where the asciinema CLI is installed (.ci/run installs Debian's); skipped
// elsewhere, saying so.
func TestAsciinemaPlaysExport(t *testing.T) {
	player, err := exec.LookPath("asciinema")
	if err != nil {
		t.Skip("asciinema CLI not installed (apt-get install asciinema)")
	}
	dir := t.TempDir()
	res := run(t, "read", "--recordings", dir, "pcaps/telnet-login.pcap")
	rec := records(t, res.stdout)[0]
	cast := run(t, "replay", "--export", "cast", filepath.Join(dir, str(rec, "psm.recording.path"))).stdout
	castPath := filepath.Join(dir, "session.cast")
	os.WriteFile(castPath, []byte(cast), 0o644)
	// `asciinema cat` parses the whole file and prints the output stream; it
	// insists on a terminal, which script(1) provides.
	scriptCmd, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) not installed (bsdutils): asciinema needs a terminal")
	}
	out, err := exec.Command(scriptCmd, "-q", "-e", "-c", player+" cat "+castPath, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("asciinema cat: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "login:") {
		t.Fatalf("asciinema printed no login prompt:\n%.300s", out)
	}
}

// TestReplayFilters: a recording whose server wrote a window title, the
// clipboard (OSC 52), a DECRQSS and report requests (also in 8-bit form)
// replays with its colours, cursor moves and line drawing but none of those;
// --export still gives the recording as it is.
func TestReplayFilters(t *testing.T) {
	p := filepath.Join(t.TempDir(), "evil.cast")
	cast := `{"version":2,"width":80,"height":24}
[0.1, "o", "\u001b]0;owned\u0007\u001b[31mred\u001b[0m \u001b]52;c;Y3VybCBldmlsfHNo\u0007"]
[0.2, "o", "\u001b[6n\u001b[c\u001bP$qm\u001b\\\u009b6n\u009d2;t\u009c\u001b(0lqk\u001b(B\u001b[2;5Hok\r\n"]
[0.3, "o", "\u001b]5"]
[0.4, "o", "2;c;ZXZpbA==\u0007end"]
`
	os.WriteFile(p, []byte(cast), 0o600)
	r := run(t, "replay", "--speed", "1000", p)
	if r.code != 0 {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	for _, keep := range []string{"\x1b[31mred\x1b[0m", "\x1b(0lqk\x1b(B", "\x1b[2;5Hok\r\n", "end"} {
		if !strings.Contains(r.stdout, keep) {
			t.Errorf("lost %q: %q", keep, r.stdout)
		}
	}
	for _, drop := range []string{"\x1b]", "owned", "Y3Vy", "ZXZp", "\x1b[6n", "\x1b[c", "\x1bP", "\u009b", "\u009d", "\x1b[?6n"} {
		if strings.Contains(r.stdout, drop) {
			t.Errorf("passed %q: %q", drop, r.stdout)
		}
	}
	if ex := run(t, "replay", "--export", "cast", p); ex.stdout != cast {
		t.Errorf("export changed the recording")
	}
}
