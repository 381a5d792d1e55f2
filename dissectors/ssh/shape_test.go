package ssh

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
)

// TestShapeFastTyping: commands typed 60 ms per key the moment the prompt
// shows (no 300 ms silence anywhere) are interactive by their many small
// records each way; the same volume in bulk records is not.
func TestShapeFastTyping(t *testing.T) {
	var s shape
	ts := int64(1e9)
	for cmd := 0; cmd < 8; cmd++ {
		for key := 0; key < 7; key++ {
			s.chunk(dissectors.FromClient, 36, ts, true) // a key
			s.chunk(dissectors.FromServer, 36, ts+2e6, true)
			ts += 60e6
		}
		s.chunk(dissectors.FromServer, 120, ts+5e6, true) // output and prompt
		ts += 20e6
	}
	if c := s.post[dissectors.FromClient]; c.initiations != 0 {
		t.Fatalf("initiations %d: the test wants no pause", c.initiations)
	}
	if k := s.kind(true); k != KindInteractive {
		t.Errorf("kind %s, want interactive", k)
	}
	var bulk shape
	ts = 1e9
	for i := 0; i < 60; i++ {
		bulk.chunk(dissectors.FromClient, 36, ts, true)
		bulk.chunk(dissectors.FromServer, 1400, ts+1e6, true)
		ts += 10e6
	}
	if k := bulk.kind(true); k == KindInteractive {
		t.Errorf("bulk download: kind %s", k)
	}
}
