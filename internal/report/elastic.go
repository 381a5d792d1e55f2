package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Elastic reads the data streams that psmtap ships to: sessions, activity
// events and alerts, each through a point in time paged with search_after
// (the way the Elasticsearch reference recommends for more than 10000 hits),
// so a year of a busy sensor goes through in pages of PageSize.
type Elastic struct {
	Client    *elasticsearch.Client
	Namespace string // data stream namespace, "*" for all
	PageSize  int    // hits per page (default 5000)
	Name      string // the cluster, for the report's "source" line
}

// Data streams, by dataset.
func (e *Elastic) pattern(dataset string) string {
	ns := e.Namespace
	if ns == "" {
		ns = "*"
	}
	return "logs-" + dataset + "-" + ns
}

func (e *Elastic) String() string { return "Elasticsearch " + e.Name }

// EarlierFields are what the report needs of a session before the period:
// who and what was seen, and when.
var EarlierFields = []string{"@timestamp", "event.dataset", "event.type", "event.id", "user.name", "source.ip",
	"ssh.client.hassh", "ssh.client.software", "network.protocol"}

// Scan implements Source.
func (e *Elastic) Scan(ctx context.Context, w Window, fn func(*Doc)) (ScanStats, error) {
	var st ScanStats
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	period := map[string]any{"gte": ts(w.Since), "lt": ts(w.Until)}
	scans := []struct {
		dataset string
		rng     map[string]any
		fields  []string
	}{
		{DatasetSession, map[string]any{"lt": ts(w.Since)}, EarlierFields},
		{DatasetSession, period, Fields},
		{DatasetActivity, period, Fields},
		{DatasetAlert, period, Fields},
	}
	for _, s := range scans {
		q := map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"range": map[string]any{"@timestamp": s.rng}},
		}}}
		if err := e.scan(ctx, e.pattern(s.dataset), q, s.fields, func(raw json.RawMessage) {
			var d Doc
			st.Documents++
			if json.Unmarshal(raw, &d) != nil || d.Event.Dataset == "" {
				st.Bad++
				return
			}
			if w.Keep(&d) {
				fn(&d)
			}
		}); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (e *Elastic) scan(ctx context.Context, index string, query map[string]any, fields []string, fn func(json.RawMessage)) error {
	cl := e.Client
	res, err := cl.OpenPointInTime([]string{index}, "2m", cl.OpenPointInTime.WithContext(ctx),
		cl.OpenPointInTime.WithIgnoreUnavailable(true))
	if err != nil {
		return fmt.Errorf("%s: open point in time: %w", index, err)
	}
	var pit struct {
		ID string `json:"id"`
	}
	if err := decode(res, &pit); err != nil {
		return fmt.Errorf("%s: open point in time: %w", index, err)
	}
	defer func() {
		body, _ := json.Marshal(map[string]string{"id": pit.ID})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if res, err := cl.ClosePointInTime(cl.ClosePointInTime.WithContext(ctx), cl.ClosePointInTime.WithBody(bytes.NewReader(body))); err == nil {
			res.Body.Close()
		}
	}()
	size := e.PageSize
	if size <= 0 {
		size = 5000
	}
	var after json.RawMessage
	for {
		req := map[string]any{"size": size, "query": query, "_source": fields, "track_total_hits": false,
			"pit": map[string]any{"id": pit.ID, "keep_alive": "2m"}, "sort": []any{map[string]any{"@timestamp": "asc"}}}
		if after != nil {
			req["search_after"] = after
		}
		body, _ := json.Marshal(req)
		res, err := cl.Search(cl.Search.WithContext(ctx), cl.Search.WithBody(bytes.NewReader(body)))
		if err != nil {
			return fmt.Errorf("%s: search: %w", index, err)
		}
		var out struct {
			PITID string `json:"pit_id"`
			Hits  struct {
				Hits []struct {
					Source json.RawMessage `json:"_source"`
					Sort   json.RawMessage `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := decode(res, &out); err != nil {
			return fmt.Errorf("%s: search: %w", index, err)
		}
		if out.PITID != "" {
			pit.ID = out.PITID // the id may change from page to page
		}
		for _, h := range out.Hits.Hits {
			fn(h.Source)
		}
		if len(out.Hits.Hits) < size {
			return nil
		}
		after = out.Hits.Hits[len(out.Hits.Hits)-1].Sort
	}
}

func decode(res *esapi.Response, v any) error {
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("%s: %s", res.Status(), strings.TrimSpace(string(msg)))
	}
	return json.NewDecoder(res.Body).Decode(v)
}
