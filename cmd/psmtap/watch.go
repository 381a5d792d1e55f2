package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/internal/sensor"
)

func watchCommand() *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "draw a session in this terminal as it happens, from a running sensor (psmtap live --listen)",
		ArgsUsage: "[SESSION_ID]",
		Description: "Follows a session's live stream: what the screen shows now, then every output as it\n" +
			"comes, until the session ends. Telnet and rlogin sessions are drawn as the user saw\n" +
			"them; SSH, RDP, FTP and the others are a feed of what is known (logins, commands,\n" +
			"files, alerts). Output from the network is filtered before it reaches this terminal:\n" +
			"what draws passes, what could make the terminal act or answer does not. Passwords\n" +
			"are masked by the sensor.\n\n" +
			"Examples:\n" +
			"   psmtap watch --sensor http://127.0.0.1:8765 --latest\n" +
			"   psmtap watch --sensor http://127.0.0.1:8765 --user alice\n" +
			"   psmtap watch --sensor https://sensor:8765 --token-file ~/.psmtap-token 4mTqX...",
		OnUsageError: dashID("watch"),
		Flags: append(sensorFlags(),
			&cli.StringFlag{Name: "user", Usage: "watch the newest open session of user `NAME`"},
			&cli.BoolFlag{Name: "latest", Usage: "watch the newest open session"},
			&cli.DurationFlag{Name: "wait", Usage: "with --user or --latest: wait up to this long for such a session to open"},
			&cli.BoolFlag{Name: "raw", Usage: "print the stream as it comes (asciicast v2 lines), for programs"},
		),
		Action: runWatch,
	}
}

func runWatch(c *cli.Context) error {
	id := c.Args().First()
	if (id != "") == (c.IsSet("user") || c.Bool("latest")) || c.IsSet("user") && c.Bool("latest") {
		return cli.Exit("watch: name a session ID, or --user NAME, or --latest", 2)
	}
	cl, err := sensorClient(c)
	if err != nil {
		return err
	}
	if id == "" {
		deadline := time.Now().Add(c.Duration("wait"))
		for {
			list, err := cl.Sessions(c.Context, false)
			if err != nil {
				return cli.Exit("watch: "+err.Error(), 1)
			}
			for _, e := range list { // newest first
				if e.Open && (c.Bool("latest") || e.User == c.String("user")) {
					id = e.ID
					break
				}
			}
			if id != "" || time.Now().After(deadline) {
				break
			}
			select {
			case <-c.Context.Done():
				return cli.Exit("", 1)
			case <-time.After(250 * time.Millisecond):
			}
		}
		if id == "" {
			return cli.Exit("watch: no such open session", 1)
		}
	}
	return watchSession(c, cl, id, c.App.Writer, os.Stderr)
}

func watchSession(c *cli.Context, cl *sensor.Client, id string, stdout, stderr io.Writer) error {
	raw := c.Bool("raw")
	term := sensor.NewSafeTerm(stdout)
	err := cl.Live(c.Context, id, func(h sensor.CastHeader) {
		if raw {
			b, _ := json.Marshal(h)
			stdout.Write(append(b, '\n'))
			return
		}
		fmt.Fprintf(stderr, "psmtap: watching %s (%s); Ctrl-C to stop\r\n", sensor.Printable(h.Title), h.SessionID)
	}, func(e sensor.CastEvent) error {
		if raw {
			b, _ := json.Marshal([]any{e.Time, e.Code, e.Data})
			_, err := stdout.Write(append(b, '\n'))
			return err
		}
		if e.Code != "o" {
			return nil // keystrokes: the screen shows their echo
		}
		_, err := term.Write([]byte(e.Data))
		return err
	})
	if !raw {
		term.Close()
	}
	switch {
	case err == nil:
		fmt.Fprintf(stderr, "\r\npsmtap: the session ended\r\n")
		return nil
	case errors.Is(err, c.Context.Err()):
		fmt.Fprintf(stderr, "\r\n")
		return nil
	}
	return cli.Exit("watch: "+err.Error(), 1)
}
