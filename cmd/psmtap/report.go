package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"
	_ "time/tzdata" // --tz works on machines without a zone database

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/internal/report"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "a report on user activity and trends for a period: HTML for auditors, CSV or JSON for the numbers",
		Description: "Reads the files that read -w and live -w wrote (--records DIR) or the Elasticsearch data\n" +
			"streams (--es-url, with the connection flags of search) and writes, for the period: the sensors,\n" +
			"totals, each user and server, trends per day, findings (cleartext admin protocols, Standard RDP\n" +
			"Security, weak SSH, SSH client software, tunnels, new users and clients, login names tried), the\n" +
			"top commands and the alerts. The HTML page is self-contained: no script, nothing fetched.\n" +
			"Times: a duration back from now (30d, 2w, 12h), RFC 3339, or a date (in --tz).\n" +
			"See docs/report.md for how each number is counted.\n\n" +
			"Examples:\n" +
			"   psmtap report --records /var/lib/psmtap/out --since 30d --out report.html\n" +
			"   psmtap report --es-url https://es:9200 --since 2026-11-01 --until 2026-12-01 --tz Europe/Paris --out nov.html\n" +
			"   psmtap report --records out/ --since 7d --format csv --out week.csv",
		Flags: append(esConnFlags(),
			&cli.StringFlag{Name: "records", Usage: "read the NDJSON files (psmtap-*.ndjson.zst, *.ndjson) in `DIR` and below instead of Elasticsearch"},
			&cli.StringFlag{Name: "since", Value: "30d", Usage: "start of the period (`TIME`, included)"},
			&cli.StringFlag{Name: "until", Usage: "end of the period (`TIME`, excluded; default now)"},
			&cli.StringFlag{Name: "tz", Value: "UTC", Usage: "time zone of days, working hours and dates given without one (`ZONE`, e.g. Europe/Paris)"},
			&cli.StringFlag{Name: "work-hours", Value: "07-19", Usage: "working hours (`FROM-TO`, 08-18 or 08:30-17:45); sessions starting outside are off-hours"},
			&cli.StringFlag{Name: "work-days", Value: "mon-fri", Usage: "working days (`DAYS`, mon-fri or mon,tue,thu)"},
			&cli.IntFlag{Name: "top", Value: 50, Usage: "longest list shown (the report says how many more there are)"},
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "html", Usage: "html, csv or json"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write to `FILE` (default stdout)"},
			&cli.StringFlag{Name: "log-level", Value: "warn"},
		),
		Action: runReport,
	}
}

func runReport(c *cli.Context) error {
	now := time.Now()
	o := report.DefaultOptions(now)
	loc, err := time.LoadLocation(c.String("tz"))
	if err != nil {
		return cli.Exit("--tz: "+err.Error(), 2)
	}
	o.Loc = loc
	if o.Since, err = report.ParseWhen(c.String("since"), now, loc); err != nil {
		return cli.Exit("--since: "+err.Error(), 2)
	}
	if u := c.String("until"); u != "" {
		if o.Until, err = report.ParseWhen(u, now, loc); err != nil {
			return cli.Exit("--until: "+err.Error(), 2)
		}
	}
	if !o.Since.Before(o.Until) {
		return cli.Exit("the period is empty: --since must come before --until", 2)
	}
	if o.WorkFrom, o.WorkTo, err = report.ParseWorkHours(c.String("work-hours")); err != nil {
		return cli.Exit("--work-hours: "+err.Error(), 2)
	}
	if o.WorkDays, err = report.ParseWorkDays(c.String("work-days")); err != nil {
		return cli.Exit("--work-days: "+err.Error(), 2)
	}
	if o.Top = c.Int("top"); o.Top < 1 {
		return cli.Exit("--top: at least 1", 2)
	}
	format := c.String("format")
	var write func(io.Writer, *report.Report) error
	switch format {
	case "html":
		write = report.WriteHTML
	case "csv":
		write = report.WriteCSV
	case "json":
		write = report.WriteJSON
	default:
		return cli.Exit("--format: html, csv or json", 2)
	}

	var src report.Source
	// --records wins over Elasticsearch (PSMTAP_ES_URL may be set on a sensor).
	switch dir := c.String("records"); {
	case dir != "":
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return cli.Exit(fmt.Sprintf("--records %s: not a directory", dir), 2)
		}
		src = &report.Records{Dir: dir}
	default:
		cl, cfg, err := esClient(c, nil)
		if err != nil {
			return err
		}
		ns := "*"
		if c.IsSet("es-namespace") {
			ns = c.String("es-namespace")
		}
		src = &report.Elastic{Client: cl, Namespace: ns, Name: cfg.String()}
	}
	// Decoding a year of records makes short-lived garbage at a high rate:
	// collecting less often is a third faster for some more memory.
	debug.SetGCPercent(400)
	r, err := report.Build(c.Context, src, o)
	if err != nil {
		return cli.Exit("report: "+err.Error(), 1)
	}
	out := c.App.Writer
	var f *os.File
	if p := c.String("out"); p != "" && p != "-" {
		// Written beside and renamed: a half-written report never replaces a good one.
		f, err = os.CreateTemp(filepath.Dir(p), ".psmtap-report-*")
		if err != nil {
			return cli.Exit("--out: "+err.Error(), 1)
		}
		defer os.Remove(f.Name())
		out = f
	}
	w := bufio.NewWriterSize(out, 1<<20)
	if err := write(w, r); err != nil {
		return cli.Exit("report: "+err.Error(), 1)
	}
	if err := w.Flush(); err != nil {
		return cli.Exit("report: "+err.Error(), 1)
	}
	if f != nil {
		if err := f.Chmod(0o644); err == nil {
			err = f.Close()
		}
		if err != nil {
			return cli.Exit("--out: "+err.Error(), 1)
		}
		if err := os.Rename(f.Name(), c.String("out")); err != nil {
			return cli.Exit("--out: "+err.Error(), 1)
		}
	}
	return nil
}
