package alertout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/psmtap/psmtap/internal/shell"
)

// ExecOptions configure a program run for each alert.
type ExecOptions struct {
	Argv        []string      // the program and its arguments (SplitCommand)
	Concurrency int           // runs at once at most (default 1: alerts in order)
	Timeout     time.Duration // one run; past it the program and its children are killed (default 30s)
	Queue       int           // alerts waiting at most (default DefaultQueue)
	// CloseTimeout bounds Close: alerts still queued past it are dropped,
	// counted (default 30s).
	CloseTimeout time.Duration
	Logger       *slog.Logger
	// Done, when set, is told how each run ended, on the worker's goroutine
	// (the lockdown hook records it on the session).
	Done func(alertID string, r ExecResult)
}

// ExecResult is how one run ended.
type ExecResult struct {
	Err      error // nil: exited 0
	TimedOut bool  // killed at the timeout
	Output   string
	Took     time.Duration
}

// ExecStats are an Exec's counters.
type ExecStats struct {
	Ran      int64 // runs that exited 0
	Failed   int64 // runs that failed: a non-zero exit, could not start, or killed at the timeout
	TimedOut int64 // of Failed, killed at the timeout
	Dropped  int64 // alerts not run: the queue full, or still queued at the Close deadline
}

// Exec runs a program for each alert with the alert's JSON on its stdin.
type Exec struct {
	opt     ExecOptions
	log     *slog.Logger
	display string

	mu       sync.Mutex
	closed   bool
	ch       chan item
	wg       sync.WaitGroup
	deadline atomic.Int64 // unix nanos; 0 while running

	ran, failed, timedOut, drop atomic.Int64
}

// SplitCommand splits an --alert-exec value into the program and its
// arguments as a POSIX shell splits words (quotes, backslashes), without a
// shell: no variables, globs, pipes or redirections. A line that needs them
// belongs in a script.
func SplitCommand(line string) ([]string, error) {
	words := shell.Words(line)
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	for _, w := range words {
		if shell.IsOperator(w) || strings.Contains(w, "$(") || strings.Contains(w, "`") {
			return nil, fmt.Errorf("%q: psmtap runs the program itself, without a shell: put pipes, redirections and substitutions in a script and name the script", w)
		}
	}
	return words, nil
}

// NewExec checks that the program can be found and starts the workers.
func NewExec(opt ExecOptions) (*Exec, error) {
	if len(opt.Argv) == 0 {
		return nil, errors.New("exec: no program")
	}
	if _, err := exec.LookPath(opt.Argv[0]); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 1
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.Queue <= 0 {
		opt.Queue = DefaultQueue
	}
	if opt.CloseTimeout <= 0 {
		opt.CloseTimeout = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	x := &Exec{opt: opt, display: "exec " + opt.Argv[0], ch: make(chan item, opt.Queue)}
	x.log = opt.Logger.With("output", x.display)
	for i := 0; i < opt.Concurrency; i++ {
		x.wg.Add(1)
		go x.worker()
	}
	return x, nil
}

func (x *Exec) name() string           { return x.display }
func (x *Exec) dropped() *atomic.Int64 { return &x.drop }

func (x *Exec) offer(it item) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return false
	}
	select {
	case x.ch <- it:
		return true
	default:
		return false
	}
}

// Run queues one run with body on the program's stdin (a caller's own
// JSON: the lockdown hook's); id, rule and level go in its environment.
// False when the queue is full or the runner closed; never blocks.
func (x *Exec) Run(id, rule, level string, body []byte) bool {
	return x.offer(item{id: id, rule: rule, level: level, body: body})
}

// Close waits for the runs under way and queued, within CloseTimeout.
func (x *Exec) Close() error { return x.close() }

// Stats returns the counters.
func (x *Exec) Stats() ExecStats {
	return ExecStats{Ran: x.ran.Load(), Failed: x.failed.Load(), TimedOut: x.timedOut.Load(), Dropped: x.drop.Load()}
}

func (x *Exec) worker() {
	defer x.wg.Done()
	for it := range x.ch {
		if d := x.deadline.Load(); d != 0 && time.Now().UnixNano() > d {
			x.drop.Add(1)
			continue
		}
		x.runOne(it)
	}
}

// tail keeps the last bytes written to it: what a failing program said.
type tail struct {
	b   []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (x *Exec) runOne(it item) {
	ctx, cancel := context.WithTimeout(context.Background(), x.opt.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, x.opt.Argv[0], x.opt.Argv[1:]...)
	cmd.Stdin = bytes.NewReader(append(it.body, '\n'))
	out := &tail{max: 2048}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "PSMTAP_ALERT_ID="+it.id, "PSMTAP_ALERT_RULE="+it.rule, "PSMTAP_ALERT_LEVEL="+it.level)
	// A group of its own, killed whole at the timeout: a script's children
	// die with it. WaitDelay: a grandchild that keeps the output pipe open
	// cannot hold the worker.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	start := time.Now()
	err := cmd.Run()
	if x.opt.Done != nil {
		x.opt.Done(it.id, ExecResult{Err: err, TimedOut: err != nil && ctx.Err() == context.DeadlineExceeded,
			Output: strings.TrimSpace(string(out.b)), Took: time.Since(start)})
	}
	if err == nil {
		x.ran.Add(1)
		x.log.Debug("alert program ran", "id", it.id, "took", time.Since(start).Round(time.Millisecond), "output", strings.TrimSpace(string(out.b)))
		return
	}
	n := x.failed.Add(1)
	why := err.Error()
	if ctx.Err() == context.DeadlineExceeded {
		x.timedOut.Add(1)
		why = fmt.Sprintf("killed after %s (--alert-exec-timeout)", x.opt.Timeout)
	}
	x.log.Error("alert program failed", "id", it.id, "rule", it.rule, "err", why,
		"output", strings.TrimSpace(string(out.b)), "failed_total", n)
}

func (x *Exec) close() error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		x.wg.Wait()
		return nil
	}
	x.closed = true
	close(x.ch)
	x.mu.Unlock()
	x.deadline.Store(time.Now().Add(x.opt.CloseTimeout).UnixNano())
	x.wg.Wait()
	st := x.Stats()
	x.log.Info("alert program", "ran", st.Ran, "failed", st.Failed, "timed_out", st.TimedOut, "dropped", st.Dropped)
	if st.Dropped > 0 {
		return fmt.Errorf("%d alerts not given to the program (queue full, or still queued at exit)", st.Dropped)
	}
	return nil
}
