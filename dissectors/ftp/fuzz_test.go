package ftp

import (
	"net/netip"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// FuzzReply: reply-line and passive-address parsers never panic.
func FuzzReply(f *testing.F) {
	f.Add([]byte("227 Entering Passive Mode (192,0,2,20,156,72).")) // vsftpd PASV
	f.Add([]byte("229 Entering Extended Passive Mode (|||6446|)"))  // EPSV
	f.Add([]byte("211-Features:"))                                  // multi-line start
	f.Add([]byte("227 =1,2,3,4,5,6"))                               // no parentheses
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseReplyLine(b)
		Parse227(b)
		Parse229(b)
	})
}

// FuzzCommand: command and active-address parsers never panic.
func FuzzCommand(f *testing.F) {
	f.Add([]byte("PORT 192,0,2,10,200,10")) // active mode
	f.Add([]byte("EPRT |2|2001:db8::10|5282|"))
	f.Add([]byte("retr report.txt"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, arg, ok := ParseCommand(b); ok {
			ParseHostPort(arg)
			ParseEPRT(arg)
		}
	})
}

// FuzzSession: a whole control connection (bytes 0 and 1 switch direction).
func FuzzSession(f *testing.F) {
	f.Add([]byte("\x01220 hi\r\n\x00USER a\r\nPASS b\r\n\x01331 x\r\n230 ok\r\n\x00PASV\r\n\x01227 (1,2,3,4,5,6)\r\n"))  // login, pipelined, PASV
	f.Add([]byte("\x01211-a\r\n\x00FEAT\r\n\x01 x\r\n211 e\r\n"))                                                        // multi-line
	f.Add([]byte("\x01220 hi\r\n\x00RETR a\r\nRNFR b\r\nRNTO c\r\n\x01150 (12 bytes)\r\n226 ok\r\n350 n\r\n250 ok\r\n")) // file events
	f.Fuzz(func(t *testing.T, in []byte) {
		commands := 0
		c := &dissectors.Context{Record: &record.Record{}, Options: &dissectors.Options{},
			Client: netip.MustParseAddrPort("192.0.2.10:1"), Server: netip.MustParseAddrPort("192.0.2.20:21"),
			Expect: func(x dissectors.Expectation) { x.Session().Feed(0, []byte("x"), 0) },
			Events: func(ev *record.Event) {
				if ev.Action == record.ActionCommand {
					commands++
				}
			}}
		s := newSession(c)
		dir, start := dissectors.FromClient, 0
		for i, b := range in {
			if b <= 1 {
				s.Feed(dir, in[start:i], int64(i))
				dir, start = dissectors.Direction(b), i+1
			}
		}
		s.Feed(dir, in[start:], 0)
		s.Close(c.Record)
		if commands != len(c.Record.Commands) {
			t.Fatalf("%d command events for %d commands", commands, len(c.Record.Commands))
		}
	})
}
