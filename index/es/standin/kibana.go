package standin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Kibana stands in for the Kibana saved-objects import API
// (POST /api/saved_objects/_import, multipart/form-data with a "file" part
// holding NDJSON saved objects; the kbn-xsrf header is required; answers
// {"success","successCount","successResults","errors"}; with overwrite=false
// an existing object is a "conflict" error; a reference to an object that is
// neither in the file nor already saved is a "missing_references" error) and
// GET /api/status.
type Kibana struct {
	mu      sync.Mutex
	Objects map[string]json.RawMessage // "type/id" -> object
	Imports int
}

// NewKibana returns an empty Kibana stand-in.
func NewKibana() *Kibana { return &Kibana{Objects: map[string]json.RawMessage{}} }

func kbnErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "error": http.StatusText(status), "message": msg})
}

func (k *Kibana) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/api/status" && r.Method == http.MethodGet:
		writeJSON(w, 200, map[string]any{"status": map[string]any{"overall": map[string]any{"level": "available"}}})
	case r.URL.Path == "/api/saved_objects/_import" && r.Method == http.MethodPost:
		k.importObjects(w, r)
	default:
		kbnErr(w, 404, "Not Found")
	}
}

type savedObject struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Attributes json.RawMessage `json:"attributes"`
	References []struct {
		Name, Type, ID string
	} `json:"references"`
}

func (k *Kibana) importObjects(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("kbn-xsrf") == "" {
		kbnErr(w, 400, "Request must contain a kbn-xsrf header.")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		kbnErr(w, 415, "Unsupported Media Type")
		return
	}
	f, _, err := r.FormFile("file")
	if err != nil {
		kbnErr(w, 400, "[request body.file]: expected value of type [Stream] but got [undefined]")
		return
	}
	data, _ := io.ReadAll(f)
	overwrite := r.URL.Query().Get("overwrite") == "true"
	var objs []savedObject
	var raws []json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var o savedObject
		if err := json.Unmarshal(line, &o); err != nil {
			kbnErr(w, 400, "Unexpected token in JSON at line "+string(line[:min(20, len(line))]))
			return
		}
		if o.Type == "" && o.ID == "" { // the export summary line
			continue
		}
		if o.Type == "" || o.ID == "" || len(o.Attributes) == 0 {
			kbnErr(w, 400, "saved object is missing type, id or attributes")
			return
		}
		objs = append(objs, o)
		raws = append(raws, append(json.RawMessage(nil), line...))
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.Imports++
	inFile := map[string]bool{}
	for _, o := range objs {
		inFile[o.Type+"/"+o.ID] = true
	}
	var errs, results []any
	for i, o := range objs {
		key := o.Type + "/" + o.ID
		var missing []any
		for _, ref := range o.References {
			if !inFile[ref.Type+"/"+ref.ID] && k.Objects[ref.Type+"/"+ref.ID] == nil {
				missing = append(missing, map[string]any{"type": ref.Type, "id": ref.ID})
			}
		}
		if len(missing) > 0 {
			errs = append(errs, map[string]any{"id": o.ID, "type": o.Type, "error": map[string]any{"type": "missing_references", "references": missing}})
			continue
		}
		if _, exists := k.Objects[key]; exists && !overwrite {
			errs = append(errs, map[string]any{"id": o.ID, "type": o.Type, "error": map[string]any{"type": "conflict"}})
			continue
		}
		k.Objects[key] = raws[i]
		results = append(results, map[string]any{"type": o.Type, "id": o.ID, "meta": map[string]any{}})
	}
	body := map[string]any{"success": len(errs) == 0, "successCount": len(results), "successResults": results}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	writeJSON(w, 200, body)
}
