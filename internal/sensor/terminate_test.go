package sensor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestTerminate: POST .../terminate queues the end of an open session when
// responses are on (202, via Client.Terminate), says they are off (409),
// refuses an unknown id (404) and a full queue (503), and wants the token
// like every path.
func TestTerminate(t *testing.T) {
	hub := New(Options{})
	var asked []string
	full := false
	s := &Server{Hub: hub, Token: "s3cret", Terminate: func(id string) bool {
		if full {
			return false
		}
		asked = append(asked, id)
		return true
	}}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	defer hub.Close()
	var id string
	replay(t, hub, "pcaps/telnet-login.pcap", func(n int) {
		if n != 40 {
			return
		}
		settle(hub)
		l := decode[SessionList](t, get(t, srv, PathSessions, "s3cret"))
		if len(l.Sessions) != 1 {
			t.Fatalf("sessions: %+v", l.Sessions)
		}
		id = l.Sessions[0].ID
		post := func(path, token string) int {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if c := post(PathSessions+"/"+id+"/terminate", ""); c != 401 {
			t.Errorf("without the token: %d", c)
		}
		if c := post(PathSessions+"/nosuch/terminate", "s3cret"); c != 404 {
			t.Errorf("unknown id: %d", c)
		}
		cl, _ := NewClient(srv.URL, "s3cret", "")
		if err := cl.Terminate(context.Background(), id); err != nil {
			t.Errorf("terminate: %v", err)
		}
		full = true
		if err := cl.Terminate(context.Background(), id); err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("a full queue: %v", err)
		}
		s.Terminate = nil
		if err := cl.Terminate(context.Background(), id); err == nil || !strings.Contains(err.Error(), "--enable-response terminate") {
			t.Errorf("responses off: %v", err)
		}
	})
	if len(asked) != 1 || asked[0] != id {
		t.Fatalf("asked %v, want [%s]", asked, id)
	}
}
