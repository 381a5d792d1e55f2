package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/internal/sensor"
)

// sensorFlags are how sessions and watch reach a sensor's API.
func sensorFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "sensor", EnvVars: []string{"PSMTAP_SENSOR"}, Required: true, Usage: "the sensor's API, `URL` (http://127.0.0.1:PORT, or https://host:port)"},
		&cli.StringFlag{Name: "token-file", EnvVars: []string{"PSMTAP_TOKEN_FILE"}, Usage: "send the bearer token in `FILE` (the sensor's --api-token-file)"},
		&cli.StringFlag{Name: "ca-file", Usage: "verify the sensor's certificate with this `PEM` bundle (else the system's)"},
	}
}

func sensorClient(c *cli.Context) (*sensor.Client, error) {
	var token string
	if f := c.String("token-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("--token-file: %v", err), 2)
		}
		if token, err = sensor.ReadToken(b); err != nil {
			return nil, cli.Exit(fmt.Sprintf("--token-file %s: %v", f, err), 2)
		}
	}
	cl, err := sensor.NewClient(c.String("sensor"), token, c.String("ca-file"))
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	return cl, nil
}

func sessionsCommand() *cli.Command {
	return &cli.Command{
		Name:  "sessions",
		Usage: "list the sessions a running sensor sees now (psmtap live --listen)",
		Description: "Asks the sensor's API for its open sessions (with --all, also the recently finished\n" +
			"ones) and prints a table, newest first, or the API's JSON with --json.\n\n" +
			"Example:\n" +
			"   psmtap sessions --sensor http://127.0.0.1:8765",
		Flags: append(sensorFlags(),
			&cli.BoolFlag{Name: "all", Usage: "also the recently finished sessions"},
			&cli.BoolFlag{Name: "json", Usage: "print the API's JSON (one session per line)"},
		),
		Action: runSessions,
	}
}

func runSessions(c *cli.Context) error {
	cl, err := sensorClient(c)
	if err != nil {
		return err
	}
	list, err := cl.Sessions(c.Context, c.Bool("all"))
	if err != nil {
		return cli.Exit("sessions: "+err.Error(), 1)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		for _, e := range list {
			enc.Encode(e)
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tPROTO\tUSER\tCLIENT\tSERVER\tLOGIN\tKIND\tSTART (UTC)\tDURATION\tCMDS\tALERTS\tVIEWERS")
	for _, e := range list {
		state := "open"
		if !e.Open {
			state = "ended"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", e.ID, state, e.Protocol, cell(e.User), e.Client, e.Server,
			cell(e.Login), cell(e.Kind), e.Start.UTC().Format("2006-01-02 15:04:05"), e.Last.Sub(e.Start).Round(time.Second),
			e.Commands, e.Alerts, e.Viewers)
	}
	return tw.Flush()
}

// cell is a table cell from network text: printable, bounded, "-" when empty.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\t' {
			return '?'
		}
		return r
	}, s)
	if len(s) > 24 {
		s = s[:21] + "..."
	}
	return s
}
