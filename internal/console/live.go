package console

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/psmtap/psmtap/internal/sensor"
)

// MountSensor adds the console's endpoints to a live sensor's API
// (sensor.Server.Mount): /api/v1/console and, with a recordings directory
// (live --recordings), the recordings of the finished sessions the hub
// still keeps. terminate says the sensor ends sessions on request.
func MountSensor(mux *http.ServeMux, hub *sensor.Hub, recordings, version string, terminate bool, log *slog.Logger) {
	MountInfo(mux, Info{Mode: ModeLive, Recordings: recordings != "", Terminate: terminate, Version: version})
	if recordings == "" {
		return
	}
	rc := &Recordings{Dir: recordings, Logger: log, Lookup: func(id string) (string, bool) {
		e := hub.Session(id)
		if e == nil {
			return "", false
		}
		return recordingPath(e.Record), true
	}}
	rc.Mount(mux)
}

// recordingPath reads psm.recording.path of a record.
func recordingPath(rec json.RawMessage) string {
	var r struct {
		Psm struct {
			Recording struct {
				Path string `json:"path"`
			} `json:"recording"`
		} `json:"psm"`
	}
	json.Unmarshal(rec, &r)
	return r.Psm.Recording.Path
}

// Handler is psmtap serve's whole server: the page, the archive's
// endpoints, and the recordings under recordings (when set), behind the
// token (when set).
func Handler(a *Archive, recordings, token, version string, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	MountInfo(mux, Info{Mode: ModeArchive, Recordings: recordings != "", Version: version})
	a.Mount(mux)
	if recordings != "" {
		(&Recordings{Dir: recordings, Lookup: a.Lookup, Logger: log}).Mount(mux)
	}
	return sensor.Guard(token, Static(), mux)
}
