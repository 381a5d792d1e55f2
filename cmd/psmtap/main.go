// Command psmtap is a passive privileged-session monitor: it reads captures
// or listens on a mirror port, finds SSH, RDP, Telnet, rlogin, rsh and FTP
// sessions on any port, and writes one record per session.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	// The protocols psmtap knows; each registers itself.
	_ "github.com/psmtap/psmtap/dissectors/ftp"
	_ "github.com/psmtap/psmtap/dissectors/mysql"
	_ "github.com/psmtap/psmtap/dissectors/postgresql"
	_ "github.com/psmtap/psmtap/dissectors/proxy"
	_ "github.com/psmtap/psmtap/dissectors/rdp"
	_ "github.com/psmtap/psmtap/dissectors/rlogin"
	_ "github.com/psmtap/psmtap/dissectors/rsh"
	_ "github.com/psmtap/psmtap/dissectors/ssh"
	_ "github.com/psmtap/psmtap/dissectors/telnet"
	_ "github.com/psmtap/psmtap/dissectors/vnc"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newApp().RunContext(ctx, os.Args); err != nil {
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "psmtap:", msg)
			}
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "psmtap:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "psmtap",
		Usage:   "passive privileged-session monitor (SSH, RDP, Telnet, rlogin, rsh, FTP)",
		Version: version,
		Description: "psmtap watches privileged sessions from the network: it reads pcap/pcapng files or a\n" +
			"mirror port, recognises SSH, RDP, Telnet, rlogin, rsh and FTP by content on any port,\n" +
			"and writes one record per session (NDJSON, a table, or rotated zstd files).",
		HideVersion: false,
		Commands: []*cli.Command{
			readCommand(),
			liveCommand(),
			replayCommand(),
			spoolCommand(),
			setupCommand(),
			searchCommand(),
			rulesCommand(),
			keygenCommand(),
			verifyCommand(),
			reportCommand(),
			sessionsCommand(),  // sessions.go: a sensor's open sessions
			watchCommand(),     // watch.go: one of them, live
			terminateCommand(), // respond.go: end one of them
			serveCommand(),     // serve.go: the web console over recorded sessions
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					fmt.Fprintf(c.App.Writer, "psmtap %s\n", version)
					return nil
				},
			},
		},
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
