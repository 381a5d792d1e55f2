package ftp_test

import (
	"reflect"
	"testing"

	"github.com/psmtap/psmtap/dissectors/ftp"
	"github.com/psmtap/psmtap/internal/record"
)

// fileKey is what a file event says, for comparing with the ground truth.
type fileKey struct {
	Type, Path, Direction, Target string
	Size                          int64
}

func files(evs []*record.Event) []fileKey {
	var out []fileKey
	for _, ev := range byAction(evs, record.ActionFile) {
		out = append(out, fileKey{ev.Type[0], ev.File.Path, ev.File.Direction, ev.File.NewPath, ev.File.Size})
	}
	return out
}

// checkCounts: one login event per counted attempt, one command event per
// psm.commands entry (same text, same order), one file event per ftp.files.
func checkCounts(t *testing.T, r *record.Record, evs []*record.Event) {
	t.Helper()
	checkTimes(t, r, evs)
	logins := byAction(evs, record.ActionLogin)
	if r.Login == nil || len(logins) != r.Login.Attempts {
		t.Errorf("%d login events for %+v", len(logins), r.Login)
	}
	var lines []string
	for _, ev := range byAction(evs, record.ActionCommand) {
		lines = append(lines, ev.Command.Line)
	}
	if !reflect.DeepEqual(lines, r.Commands) {
		t.Errorf("command events %q, record %q", lines, r.Commands)
	}
	f, _ := r.Objects["ftp"].(*ftp.Fields)
	if f == nil || len(byAction(evs, record.ActionFile)) != len(f.Files) {
		t.Errorf("file events %v, record %+v", files(evs), f)
	}
}

// TestEventsVsftpd: ftp-vsftpd.pcap's ground truth (pcaps/README.md).
func TestEventsVsftpd(t *testing.T) {
	recs, evs := readCapture(t, "ftp-vsftpd.pcap", "ftp")
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	bad, good := recs[0], recs[1]
	for _, r := range recs {
		checkCounts(t, r, evs[r.ID])
	}
	// Connection 1: the wrong password, refused at 4.52 s.
	l := byAction(evs[bad.ID], record.ActionLogin)
	if len(l) != 1 {
		t.Fatalf("%d logins", len(l))
	}
	if d := l[0].Time.Sub(bad.Start).Seconds(); l[0].Outcome != record.OutcomeFailure || l[0].UserName != "alice" ||
		l[0].Reason != "Login incorrect." || l[0].Login.Method != "password" || l[0].Login.Attempt != 1 ||
		!l[0].CleartextCredentials || d < 4.5 || d > 4.55 {
		t.Errorf("failed login %+v %+v", l[0], l[0].Login)
	}
	// Connection 2: the good one.
	l = byAction(evs[good.ID], record.ActionLogin)
	if len(l) != 1 || l[0].Outcome != record.OutcomeSuccess || l[0].Reason != "" || l[0].Login.Method != "password" {
		t.Errorf("login %+v", l)
	}
	cmds := byAction(evs[good.ID], record.ActionCommand)
	wantCodes := []int{331, 230, 215, 211, 200, 200, 227, 226, 200, 213, 227, 226, 213, 227, 226, 250, 200, 227, 226, 221}
	for i, c := range cmds {
		if i < len(wantCodes) && c.Command.ReplyCode != wantCodes[i] {
			t.Errorf("command %q: reply %d, want %d", c.Command.Line, c.Command.ReplyCode, wantCodes[i])
		}
		if c.Command.Line == "PASS Wonderland1" {
			t.Error("password in a command event")
		}
	}
	if cmds[1].Command.Line != "PASS ****" || cmds[1].Command.Reply != "Login successful." || cmds[7].Command.Reply != "Directory send OK." {
		t.Errorf("commands %+v %+v", cmds[1].Command, cmds[7].Command)
	}
	// The files: report.txt 57 B down, upload.txt 53 B up, old.txt deleted.
	want := []fileKey{{"access", "report.txt", "download", "", 57}, {"creation", "upload.txt", "upload", "", 53}, {"deletion", "old.txt", "", "", -1}}
	if got := files(evs[good.ID]); !reflect.DeepEqual(got, want) {
		t.Errorf("files %+v", got)
	}
}

// TestEventsActive: ftp-active.pcap, the server connects for the data.
func TestEventsActive(t *testing.T) {
	recs, evs := readCapture(t, "ftp-active.pcap", "ftp")
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	checkCounts(t, recs[0], evs[recs[0].ID])
	if got := files(evs[recs[0].ID]); !reflect.DeepEqual(got, []fileKey{{"access", "report.txt", "download", "", 57}}) {
		t.Errorf("files %+v", got)
	}
}
