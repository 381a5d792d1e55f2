// Package console is psmtap's web console: one plain page (HTML, CSS and a
// script, no framework) embedded in the binary with the front-end libraries
// it uses (xterm.js for live terminals, asciinema-player for recordings),
// vendored from npm under assets/vendor, so it works with no network.
//
// It sits on the sensor API (internal/sensor, docs/api.md): the live sensor
// mounts it next to its endpoints (live --listen), and psmtap serve mounts
// it over an Archive of the files read -w and live -w wrote. Its own
// endpoints are /api/v1/console (what this server offers), GET
// /api/v1/recordings/{id} (a finished session's recording, decompressed)
// and, for an archive, /api/v1/sessions and /api/v1/alerts with search
// (docs/console.md).
//
// Everything that comes from the network is data to the page: it is put in
// with textContent, never parsed as HTML; terminal bytes go to xterm.js or
// the player, which draw them inside the page.
package console

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

// Paths of the console's endpoints.
const (
	PathInfo       = "/api/v1/console"
	PathRecordings = "/api/v1/recordings"
	PathAlerts     = "/api/v1/alerts"
)

// Modes of the page.
const (
	ModeLive    = "live"    // a running sensor: sessions as they happen, SSE
	ModeArchive = "archive" // psmtap serve: finished sessions from files, search
)

// Info is GET /api/v1/console: what the page can offer here.
type Info struct {
	Mode       string `json:"mode"`
	Recordings bool   `json:"recordings"` // replay of finished sessions
	// Terminate: the sensor ends sessions on request (live
	// --enable-response terminate): the page offers the button.
	Terminate bool   `json:"terminate,omitempty"`
	Version   string `json:"version,omitempty"`
}

// csp keeps the page to its own scripts and to this server: nothing inline
// runs (WebAssembly may: the player's terminal is), nothing is fetched
// elsewhere, it is framed nowhere. Styles may be
// inline: xterm.js and the player set them on their elements.
const csp = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Static serves the page at / and its files under /console/. It holds no
// data, so it is served without the token (sensor.Server.Static).
func Static() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/console/", http.FileServer(http.FS(sub)))
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("X-Frame-Options", "DENY")
		switch {
		case r.URL.Path == "/" || r.URL.Path == "/index.html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(index)
		case strings.HasPrefix(r.URL.Path, "/console/") && !strings.HasSuffix(r.URL.Path, "/"):
			files.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// MountInfo adds GET /api/v1/console.
func MountInfo(mux *http.ServeMux, info Info) {
	b, _ := json.Marshal(info)
	mux.HandleFunc("GET "+PathInfo, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(append(b, '\n'))
	})
}
