package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/internal/asciicast"
	"github.com/psmtap/psmtap/internal/screenrec"
)

func replayCommand() *cli.Command {
	return &cli.Command{
		Name:      "replay",
		Usage:     "play a session recording (from --recordings) in this terminal, or export it",
		ArgsUsage: "FILE",
		Description: "Plays a terminal recording (asciicast v2), zstd-compressed as psmtap writes them or plain,\n" +
			"as it happened: the server's output with its timing. Passwords were masked when\n" +
			"the recording was made (unless psmtap ran with --reveal-credentials). What would\n" +
			"reach outside the session (window title, clipboard, terminal reports) is dropped;\n" +
			"see docs/replay.md. --export writes the recording as it is.\n\n" +
			"Examples:\n" +
			"   psmtap replay rec/telnet-20261126T000938Z-yhsc25kJHic1dFR23CUt.cast.zst\n" +
			"   psmtap replay --speed 4 --idle-limit 2s --from 1m30s FILE\n" +
			"   psmtap replay --export cast FILE > session.cast    # for asciinema play / asciinema-player\n\n" +
			"A screen recording (VNC, .screen.zst) is not played in a terminal: --export png --at TIME|end\n" +
			"-o OUT.png writes the screen as it was at TIME; the web console (psmtap serve) plays it.\n" +
			"   psmtap replay --export png --at end -o last.png rec/vnc-20261130T010000Z-ID.screen.zst\n" +
			"   psmtap replay --export png --at 1m30s -o at90s.png FILE",
		Flags: []cli.Flag{
			&cli.Float64Flag{Name: "speed", Value: 1, Usage: "play `N` times faster (1000 or more: all at once)"},
			&cli.DurationFlag{Name: "idle-limit", Usage: "shorten pauses longer than `DURATION` to that"},
			&cli.DurationFlag{Name: "from", Usage: "start at `OFFSET` into the recording (what came before is shown at once)"},
			&cli.StringFlag{Name: "export", Usage: "write the recording in `FORMAT` instead of playing it: \"cast\" (a terminal recording, plain asciicast v2, to stdout) or \"png\" (one frame of a screen recording, see --at, -o)"},
			&cli.StringFlag{Name: "at", Value: "end", Usage: "with --export png: the frame at `TIME` into the recording (1m30s, 90s, or end)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "with --export png: write the PNG to `FILE` (- for stdout)"},
		},
		Action: runReplay,
	}
}

func runReplay(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("replay: name one recording file (see psmtap replay --help)", 2)
	}
	path := c.Args().First()
	if f := c.String("export"); f != "" && f != "cast" && f != "png" {
		return cli.Exit(fmt.Sprintf("replay: unknown export format %q (known: cast, png)", f), 2)
	}
	screen, err := screenrec.IsFile(path)
	if err != nil {
		return cli.Exit(fmt.Sprintf("replay: %v", err), 1)
	}
	if screen {
		return replayScreen(c, path)
	}
	if c.String("export") == "png" {
		return cli.Exit("replay: --export png takes a screen recording (.screen.zst); this is not one (--export cast writes a terminal recording)", 2)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return cli.Exit(fmt.Sprintf("replay: %v", err), 1)
	}
	if f := c.String("export"); f != "" {
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

// replayScreen exports one frame of a screen recording as PNG.
func replayScreen(c *cli.Context, path string) error {
	if c.String("export") == "cast" {
		return cli.Exit("replay: this is a screen recording, not a terminal one: --export png --at TIME|end -o OUT.png takes a frame", 2)
	}
	if c.String("export") != "png" {
		return cli.Exit("replay: this is a screen recording: it does not play in a terminal. "+
			"Take a frame with --export png --at TIME|end -o OUT.png, or play it in the web console (psmtap serve --recordings DIR)", 2)
	}
	out := c.String("output")
	if out == "" {
		return cli.Exit("replay: --export png needs -o FILE (- for stdout)", 2)
	}
	rec, err := screenrec.Open(path)
	if err != nil {
		return cli.Exit(fmt.Sprintf("replay: %v", err), 1)
	}
	at := rec.End()
	if a := c.String("at"); a != "end" {
		d, err := parseAt(a)
		if err != nil {
			return cli.Exit(fmt.Sprintf("replay: --at %q: %v", a, err), 2)
		}
		at = d
	}
	img, err := rec.FrameAt(at)
	if err != nil {
		return cli.Exit(fmt.Sprintf("replay: %v", err), 1)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return cli.Exit(fmt.Sprintf("replay: %v", err), 1)
	}
	if out == "-" {
		_, err = c.App.Writer.Write(buf.Bytes())
	} else {
		err = os.WriteFile(out, buf.Bytes(), 0o644)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("replay: %v", err), 1)
	}
	for _, m := range rec.Incomplete {
		if m.T <= at {
			// the picture may be wrong: say so where a person reads it
			fmt.Fprintf(c.App.ErrWriter, "replay: warning: the recording is incomplete from %v (%s): this frame may not be what the screen showed\n",
				m.T.Round(time.Millisecond), strconv.QuoteToASCII(m.Text))
			break
		}
	}
	return nil
}

// parseAt reads a time into the recording: a Go duration (1m30s) or seconds (90, 1.5).
func parseAt(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f < 1<<31 {
		return time.Duration(f * float64(time.Second)), nil
	}
	return 0, errors.New("not a time (1m30s, 90 or end)")
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
