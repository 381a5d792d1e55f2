package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/internal/asciicast"
)

func replayCommand() *cli.Command {
	return &cli.Command{
		Name:      "replay",
		Usage:     "play a session recording (from --recordings) in this terminal, or export it",
		ArgsUsage: "FILE",
		Description: "Plays an asciicast v2 recording, zstd-compressed as psmtap writes them or plain,\n" +
			"as it happened: the server's output with its timing. Passwords were masked when\n" +
			"the recording was made (unless psmtap ran with --reveal-credentials). What would\n" +
			"reach outside the session (window title, clipboard, terminal reports) is dropped;\n" +
			"see docs/replay.md. --export writes the recording as it is.\n\n" +
			"Examples:\n" +
			"   psmtap replay rec/telnet-20261126T000938Z-yhsc25kJHic1dFR23CUt.cast.zst\n" +
			"   psmtap replay --speed 4 --idle-limit 2s --from 1m30s FILE\n" +
			"   psmtap replay --export cast FILE > session.cast    # for asciinema play / asciinema-player",
		Flags: []cli.Flag{
			&cli.Float64Flag{Name: "speed", Value: 1, Usage: "play `N` times faster (1000 or more: all at once)"},
			&cli.DurationFlag{Name: "idle-limit", Usage: "shorten pauses longer than `DURATION` to that"},
			&cli.DurationFlag{Name: "from", Usage: "start at `OFFSET` into the recording (what came before is shown at once)"},
			&cli.StringFlag{Name: "export", Usage: "write the recording in `FORMAT` (only \"cast\": plain asciicast v2) to stdout instead of playing it"},
		},
		Action: runReplay,
	}
}

func runReplay(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("replay: name one recording file (see psmtap replay --help)", 2)
	}
	raw, err := os.ReadFile(c.Args().First())
	if err != nil {
		return cli.Exit(fmt.Sprintf("replay: %v", err), 1)
	}
	if f := c.String("export"); f != "" {
		if f != "cast" {
			return cli.Exit(fmt.Sprintf("replay: unknown export format %q (known: cast)", f), 2)
		}
		plain, err := asciicast.Decompress(raw)
		if err == nil {
			_, _, err = asciicast.Parse(plain) // only well-formed recordings go out
		}
		if err != nil {
			return cli.Exit(fmt.Sprintf("replay: %v", err), 1)
		}
		_, err = c.App.Writer.Write(plain)
		return err
	}
	speed := c.Float64("speed")
	if speed <= 0 {
		return cli.Exit("replay: --speed must be positive", 2)
	}
	_, events, err := asciicast.Parse(raw)
	if err != nil {
		return cli.Exit(fmt.Sprintf("replay: %v", err), 1)
	}
	// The recording is what the server sent: the terminal may draw it, not
	// obey it (title, clipboard, reports: docs/replay.md).
	out := asciicast.NewFilter(c.App.Writer)
	err = play(c.Context, out, events, speed, c.Duration("idle-limit"), c.Duration("from"))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// play writes the output events with their timing. Output before from is
// written at once so that the screen is as it was at that moment.
func play(ctx context.Context, w interface{ Write([]byte) (int, error) }, events []asciicast.Event, speed float64, idle, from time.Duration) error {
	prev := from.Seconds()
	for _, e := range events {
		if e.Code != "o" {
			continue
		}
		if e.Time > prev && speed < 1000 {
			gap := e.Time - prev
			if idle > 0 && gap > idle.Seconds() {
				gap = idle.Seconds()
			}
			t := time.NewTimer(time.Duration(gap / speed * float64(time.Second)))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		if e.Time > prev {
			prev = e.Time
		}
		if _, err := w.Write([]byte(e.Data)); err != nil {
			return err
		}
	}
	return nil
}
