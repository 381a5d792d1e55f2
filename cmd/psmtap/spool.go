package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/index/es"
	"github.com/psmtap/psmtap/index/spool"
)

func spoolCommand() *cli.Command {
	dirFlag := func() []cli.Flag { return spoolFlags() }
	return &cli.Command{
		Name:  "spool",
		Usage: "look at or send the records waiting in the Elasticsearch spool, or the alerts in a webhook's",
		Description: "Records Elasticsearch did not acknowledge (unreachable, 429, 5xx) wait in the spool and are\n" +
			"sent first by the next read or live run. These commands do it by hand.\n\n" +
			"Examples:\n" +
			"   psmtap spool status --spool /var/lib/psmtap/spool\n" +
			"   psmtap spool drain --spool /var/lib/psmtap/spool --es-url https://es:9200\n" +
			"   psmtap spool alerts --alert-webhook https://soar.example/hook   # a webhook's spool",
		Subcommands: []*cli.Command{
			spoolAlertsCommand(),
			{
				Name:  "status",
				Usage: "how many records wait, in how many segments (does not need the lock)",
				Flags: dirFlag(),
				Action: func(c *cli.Context) error {
					dir := c.String("spool")
					if dir == "" {
						dir = defaultSpoolDir()
					}
					st, err := spool.Stat(dir)
					if err != nil {
						return cli.Exit(err.Error(), 1)
					}
					w := c.App.Writer
					fmt.Fprintf(w, "spool:     %s\nwaiting:   %d records\nsegments:  %d (%s)\n", st.Dir, st.Docs, st.Segments, humanBytes(uint64(st.Bytes)))
					if st.Oldest != "" {
						fmt.Fprintf(w, "oldest:    %s\n", st.Oldest)
					}
					if st.TornTails > 0 {
						fmt.Fprintf(w, "torn:      %d segments end in a block cut by a crash (never acknowledged; ignored)\n", st.TornTails)
					}
					if st.Corrupt > 0 {
						fmt.Fprintf(w, "damaged:   %d segments (kept as *.corrupt once drained); %s\n", st.Corrupt, lostText(st.Lost, st.LostUnknown))
					}
					return nil
				},
			},
			{
				Name:  "drain",
				Usage: "send every waiting record to Elasticsearch now",
				Flags: append(append(dirFlag(), esConnFlags()...), &cli.StringFlag{Name: "log-level", Value: "info"}),
				Action: func(c *cli.Context) error {
					retried := new(atomic.Int64)
					cl, _, err := esClient(c, retried)
					if err != nil {
						return err
					}
					sp, err := openSpool(c)
					if err != nil {
						return err
					}
					defer sp.Close()
					before := sp.Pending()
					sh, err := es.New(c.Context, es.Options{Client: cl, Index: es.DataStream(c.String("es-namespace")), Spool: sp,
						DeadLetter: c.String("dead-letter"), Logger: newLogger(c.String("log-level")), Retried: retried})
					if err != nil {
						return cli.Exit(err.Error(), 1)
					}
					sh.DrainSpool(context.Background()) // New drained already; a second pass picks up a block that failed on a blip
					sh.Close()
					st := sh.Stats()
					fmt.Fprintf(c.App.Writer, "sent %d of %d records (%d created, %d already there, %d dead-lettered); %d still wait\n",
						st.FromSpool, before, st.Indexed, st.Duplicates, st.DeadLettered, sp.Pending())
					if l := sp.Losses(); l.Segments > 0 {
						// Say it last and fail: records are gone, a person must know.
						return cli.Exit(fmt.Sprintf("spool damaged: %d segments set aside as *.corrupt in %s (every intact block was sent); %s",
							l.Segments, sp.Dir(), lostText(l.Docs, l.Unknown)), 1)
					}
					if sp.Pending() > 0 {
						return cli.Exit("Elasticsearch did not take every record; they stay in the spool", 1)
					}
					return nil
				},
			},
		},
	}
}

// lostText says how many records damage took.
func lostText(docs, unknown int) string {
	s := fmt.Sprintf("%d records could not be recovered", docs)
	if unknown > 0 {
		s += fmt.Sprintf(", and %d damaged stretches whose record count is unreadable", unknown)
	}
	return s
}
