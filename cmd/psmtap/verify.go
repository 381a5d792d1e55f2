package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/klauspost/compress/zstd"
	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/index"
	"github.com/psmtap/psmtap/index/es"
	"github.com/psmtap/psmtap/index/integrity"
	"github.com/psmtap/psmtap/internal/report"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check that signed output (read/live --signing-key) is as written: every document, recording and checkpoint",
		ArgsUsage: "[DIR...]",
		Description: "With DIRs: the files written with -w (and the recordings the records name, found in any\n" +
			"DIR given, however deep). With --es-url: the documents and checkpoints in Elasticsearch.\n" +
			"Exit 0 when everything checks, 1 naming each problem and where it is. docs/integrity.md",
		Flags: append(esConnFlags(),
			&cli.StringFlag{Name: "key", Required: true, Usage: "the public key `FILE` (psmtap keygen's psmtap.pub)"},
			&cli.StringFlag{Name: "since", Usage: "with --es-url: read whole only the documents written since `TIME` (RFC 3339, or back from now: 30d, 12h); of older ones only their leaf hashes, to check the tree (docs/integrity.md)"},
			&cli.StringSliceFlag{Name: "recordings", Usage: "look for the recordings the records name in `DIR` too (repeatable; with --es-url the only place: without it recordings are not checked)"},
			&cli.IntFlag{Name: "max-problems", Value: 100, Usage: "print at most this many problems (all are counted)"},
		),
		Action: runVerify,
	}
}

func runVerify(c *cli.Context) error {
	vk, err := integrity.LoadVerifier(c.String("key"))
	if err != nil {
		return cli.Exit("psmtap verify: "+err.Error(), 2)
	}
	v := integrity.NewVerifier(vk)
	start := time.Now()
	find := func(string) (string, bool) { return "", false }
	var since time.Time
	if s := c.String("since"); s != "" {
		if c.NArg() > 0 {
			return cli.Exit("psmtap verify: --since is for --es-url; DIRs are read whole", 2)
		}
		if since, err = report.ParseWhen(s, start, time.Local); err != nil {
			return cli.Exit("psmtap verify: --since: "+err.Error(), 2)
		}
	}
	switch {
	case len(c.StringSlice("es-url")) > 0:
		if c.NArg() > 0 {
			return cli.Exit("psmtap verify: give DIRs or --es-url, not both", 2)
		}
		cl, _, err := esClient(c, nil)
		if err != nil {
			return cli.Exit("psmtap verify: "+err.Error(), 2)
		}
		v.NoOrder = true // Elasticsearch keeps no order: leaf indexes say it
		if err := verifyES(c.Context, cl, c.String("es-namespace"), since, v); err != nil {
			return cli.Exit("psmtap verify: "+err.Error(), 2)
		}
		find = nil // the cluster holds no recordings: only --recordings DIRs do
		if dirs := c.StringSlice("recordings"); len(dirs) > 0 {
			find = inDirs(dirs, nil)
		}
	case c.NArg() > 0:
		v.Files = true
		if find, err = verifyDirs(append(c.Args().Slice(), c.StringSlice("recordings")...), v); err != nil {
			return cli.Exit("psmtap verify: "+err.Error(), 2)
		}
	default:
		return cli.Exit("psmtap verify: give the DIRs written with -w, or --es-url", 2)
	}
	rep := v.Finish(find)
	w := c.App.Writer
	for _, l := range rep.Logs {
		end := "no shutdown checkpoint"
		if l.Closed {
			end = "closed"
		}
		fmt.Fprintf(w, "log %s: %d leaves, %d checkpoints, %s to %s, %s\n", l.ID, l.Leaves, l.Checkpoints,
			l.First.UTC().Format(time.RFC3339), l.Last.UTC().Format(time.RFC3339), end)
	}
	for i, p := range rep.Problems {
		if i == c.Int("max-problems") {
			fmt.Fprintf(w, "... and %d more problems\n", len(rep.Problems)-i)
			break
		}
		fmt.Fprintln(w, p.String())
	}
	docs := fmt.Sprintf("%d documents", rep.Documents)
	if !since.IsZero() {
		docs += fmt.Sprintf(" (%d written before %s: leaf hashes only)", rep.HashOnly, since.UTC().Format(time.RFC3339))
	}
	recs := fmt.Sprintf("%d recordings", rep.Recordings)
	if rep.RecordingsUnchecked > 0 {
		recs += fmt.Sprintf(" (%d more named but not checked: --recordings DIR)", rep.RecordingsUnchecked)
	}
	fmt.Fprintf(w, "%s, %s, %d checkpoints, %d logs checked in %s: ", docs, recs,
		rep.Checkpoints, len(rep.Logs), time.Since(start).Round(time.Millisecond))
	if !rep.OK() {
		fmt.Fprintf(w, "%d PROBLEMS\n", len(rep.Problems))
		return cli.Exit("", 1)
	}
	if rep.Documents == 0 && rep.Checkpoints == 0 {
		fmt.Fprintln(w, "NOTHING TO VERIFY")
		return cli.Exit("", 1)
	}
	fmt.Fprintln(w, "all intact")
	return nil
}

// verifyDirs feeds the -w files of each DIR (in the order written) and their
// checkpoints to v, and returns how to find a recording by the path a
// record names (relative to --recordings): under any DIR given.
func verifyDirs(dirs []string, v *integrity.Verifier) (func(string) (string, bool), error) {
	byBase := map[string][]string{}
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a directory", dir)
		}
		var files []string
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			byBase[d.Name()] = append(byBase[d.Name()], p)
			if filepath.Dir(p) == filepath.Clean(dir) && (strings.HasSuffix(p, ".ndjson.zst") || strings.HasSuffix(p, ".ndjson.zst.part")) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(files) // psmtap-<start>-<seq>: the order written
		for _, f := range files {
			if err := verifyFile(f, v); err != nil {
				return nil, err
			}
		}
		cp := filepath.Join(dir, index.CheckpointsFile)
		if err := verifyCheckpointFile(cp, v); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			if len(files) == 0 {
				continue // a recordings directory
			}
			v.Problem(integrity.Uncovered, cp, "no checkpoints file in %s", dir)
		}
	}
	return inDirs(dirs, byBase), nil
}

// inDirs finds a recording by the path a record names (relative to
// --recordings) in one of dirs, or elsewhere under them (byBase: the files
// under the dirs by base name; nil when they were not walked). Only local
// paths: a record cannot send verify outside the dirs.
func inDirs(dirs []string, byBase map[string][]string) func(string) (string, bool) {
	return func(rel string) (string, bool) {
		if !filepath.IsLocal(rel) {
			return "", false
		}
		for _, dir := range dirs {
			if p := filepath.Join(dir, rel); fileExists(p) {
				return p, true
			}
		}
		// Elsewhere under a DIR: the recordings directory given as its own DIR, or inside one.
		for _, p := range byBase[filepath.Base(rel)] {
			if strings.HasSuffix(filepath.ToSlash(p), "/"+filepath.ToSlash(rel)) || filepath.Base(p) == rel {
				return p, true
			}
		}
		return "", false
	}
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// verifyFile reads one zstd NDJSON file line by line; a stream that ends
// early (cut, or a file never finished) is reported with the last good line.
func verifyFile(path string, v *integrity.Verifier) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zr.Close()
	src := v.Source(filepath.Base(path))
	br := bufio.NewReaderSize(zr, 1<<20)
	var line int64
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: gather it whole.
			buf := append([]byte(nil), b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				buf = append(buf, b...)
			}
			b = buf
		}
		if len(b) > 0 && err == nil {
			line++
			v.AddDocument(src, line, b)
			continue
		}
		switch {
		case errors.Is(err, io.EOF) && len(b) == 0:
			if strings.HasSuffix(path, ".part") {
				v.Problem(integrity.Truncated, filepath.Base(path), "not finished (the run was killed, or is still going): %d lines", line)
			}
			return nil
		case errors.Is(err, io.EOF):
			v.Problem(integrity.Truncated, fmt.Sprintf("%s:%d", filepath.Base(path), line+1), "the file ends in the middle of a line: cut")
		default:
			v.Problem(integrity.Truncated, fmt.Sprintf("%s:%d", filepath.Base(path), line+1), "the file cannot be read past line %d (cut or damaged): %v", line, err)
		}
		return nil
	}
}

func verifyCheckpointFile(path string, v *integrity.Verifier) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	base := filepath.Base(path)
	for i, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		where := fmt.Sprintf("%s:%d", base, i+1)
		if l[len(l)-1] != '\n' {
			v.Problem(integrity.Truncated, where, "the checkpoints file ends in the middle of a line: cut")
			break
		}
		v.AddCheckpoint(where, l)
	}
	return nil
}

// verifyES reads the checkpoints of the integrity data stream, then the
// documents of each log a leaf range at a time (no deep paging, no sort
// needed: a range query on psm.integrity.leaf_index). With since set, the
// leaves below the largest tree size signed before since (per log) are read
// as their psm.integrity member alone (_source filtering): enough to rebuild
// the tree, not to check their content.
func verifyES(ctx context.Context, cl *elasticsearch.Client, ns string, since time.Time, v *integrity.Verifier) error {
	logs := map[string]int64{} // log id -> the largest tree size signed
	var order []string
	after := ""
	for {
		body := map[string]any{"size": 1000, "sort": []any{map[string]any{"psm.integrity.checkpoint_id": "asc"}},
			"query": map[string]any{"match_all": map[string]any{}}}
		if after != "" {
			body["search_after"] = []any{after}
		}
		hits, err := esSearch(ctx, cl, es.IntegrityDataStream(ns), body)
		if err != nil {
			return err
		}
		if len(hits) == 0 {
			break
		}
		for _, h := range hits {
			v.AddCheckpoint(h.Index+"/"+h.ID, h.Source)
			var d struct {
				PSM struct {
					Integrity struct {
						LogID        string `json:"log_id"`
						CheckpointID string `json:"checkpoint_id"`
						TreeSize     int64  `json:"tree_size"`
					} `json:"integrity"`
				} `json:"psm"`
			}
			json.Unmarshal(h.Source, &d)
			in := d.PSM.Integrity
			if _, ok := logs[in.LogID]; !ok && in.LogID != "" {
				order = append(order, in.LogID)
			}
			logs[in.LogID] = max(logs[in.LogID], in.TreeSize)
			after = in.CheckpointID
		}
		if after == "" {
			return errors.New("checkpoint documents without psm.integrity.checkpoint_id")
		}
	}
	targets := strings.Join([]string{es.DataStream(ns), es.ActivityDataStream(ns), es.AlertDataStream(ns)}, ",")
	const page = 2000
	leaves := func(id string, from, to int64, hashOnly bool) (int, error) {
		if from >= to {
			return 0, nil
		}
		q := map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"term": map[string]any{"psm.integrity.log_id": id}},
			map[string]any{"range": map[string]any{"psm.integrity.leaf_index": map[string]any{"gte": from, "lt": to}}},
		}}}
		// Twice the range: room for duplicates, which must be seen.
		body := map[string]any{"size": 2 * (to - from), "query": q}
		if hashOnly {
			body["_source"] = []string{integrity.Member}
		}
		hits, err := esSearch(ctx, cl, targets, body)
		for _, h := range hits {
			if hashOnly {
				v.AddLeafHash(h.Index+"/"+h.ID, h.Source)
			} else {
				v.AddDocumentAt(h.Index+"/"+h.ID, h.Source)
			}
		}
		return len(hits), err
	}
	for _, id := range order {
		var before int64 // leaves below it were signed before since
		if !since.IsZero() {
			before = v.SignedBefore(id, since)
		}
		for lo := int64(0); ; lo += page {
			hi := lo + page
			n1, err := leaves(id, lo, min(hi, before), true)
			if err != nil {
				return err
			}
			n2, err := leaves(id, max(lo, before), hi, false)
			if err != nil {
				return err
			}
			if hi >= logs[id] && n1+n2 == 0 {
				break
			}
		}
	}
	// Documents of logs no checkpoint names: counted, as they cannot be checked.
	known := make([]string, 0, len(order))
	known = append(known, order...)
	q := map[string]any{"bool": map[string]any{
		"filter":   []any{map[string]any{"exists": map[string]any{"field": "psm.integrity.log_id"}}},
		"must_not": []any{map[string]any{"terms": map[string]any{"psm.integrity.log_id": known}}}}}
	hits, err := esSearch(ctx, cl, targets, map[string]any{"size": 10, "query": q})
	if err != nil {
		return err
	}
	for _, h := range hits {
		v.AddDocumentAt(h.Index+"/"+h.ID, h.Source)
	}
	return nil
}

type esHit struct {
	Index  string          `json:"_index"`
	ID     string          `json:"_id"`
	Source json.RawMessage `json:"_source"`
}

func esSearch(ctx context.Context, cl *elasticsearch.Client, target string, body map[string]any) ([]esHit, error) {
	b, _ := json.Marshal(body)
	res, err := cl.Search(cl.Search.WithContext(ctx), cl.Search.WithIndex(target), cl.Search.WithBody(bytes.NewReader(b)),
		cl.Search.WithIgnoreUnavailable(true), cl.Search.WithAllowNoIndices(true))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		if res.StatusCode == 404 {
			return nil, nil
		}
		return nil, fmt.Errorf("search %s: %s: %s", target, res.Status(), strings.TrimSpace(string(msg)))
	}
	var out struct {
		Hits struct {
			Hits []esHit `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("search %s: %w", target, err)
	}
	return out.Hits.Hits, nil
}
