package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// zstdOf compresses a bundled capture with small blocks, so that damage in
// the middle leaves whole blocks before it.
func zstdOf(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "pcaps", name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b, zstd.WithWindowSize(8<<10), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(raw)
	zw.Close()
	return b.Bytes()
}

// readCount reads a capture to its end and returns the packets read and the
// error that ended it (nil at a clean end).
func readCount(t *testing.T, path string) (int, error) {
	t.Helper()
	src, err := Open(context.Background(), path)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	n := 0
	for {
		_, _, _, _, err := src.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

func TestDamagedZstd(t *testing.T) {
	dir := t.TempDir()
	z := zstdOf(t, "ssh-scp-download.pcap")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	whole, err := readCount(t, write("whole.pcap.zst", z))
	if err != nil || whole < 100 {
		t.Fatalf("intact file: %d packets, %v", whole, err)
	}

	n, err := readCount(t, write("cut.pcap.zst", z[:len(z)/2]))
	if err == nil || !strings.Contains(err.Error(), "corrupt zstd") || !errors.Is(err, ErrTruncatedFile) {
		t.Fatalf("truncated: error %v, want corrupt zstd and a truncated capture", err)
	}
	if n == 0 || n >= whole {
		t.Errorf("truncated: %d packets read before the damage, want some of %d", n, whole)
	}

	flipped := append([]byte(nil), z...)
	flipped[len(flipped)/2] ^= 0xff
	n, err = readCount(t, write("flip.pcap.zst", flipped))
	if err == nil || !strings.Contains(err.Error(), "corrupt zstd") || !errors.Is(err, ErrCorruptCompression) {
		t.Fatalf("bit-flipped: error %v, want corrupt zstd", err)
	}
	if errors.Is(err, ErrNotCapture) {
		t.Errorf("bit-flipped: %v passes for not a pcap", err)
	}
	if n == 0 || n >= whole {
		t.Errorf("bit-flipped: %d packets read before the damage, want some of %d", n, whole)
	}

	// Cut inside the first block: nothing to keep, but it must still say why.
	small := zstdOf(t, "rsh.pcap")
	_, err = readCount(t, write("small.pcap.zst", small[:len(small)/2]))
	if err == nil || !strings.Contains(err.Error(), "corrupt zstd") || errors.Is(err, ErrNotCapture) {
		t.Errorf("small truncated: error %v, want corrupt zstd", err)
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
}

// TestExpandSkipsFIFO: a named pipe in a directory is skipped with a word,
// not opened (opening it waits for a writer that never comes).
func TestExpandSkipsFIFO(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile("../pcaps/rsh.pcap")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.pcap"), raw, 0o600)
	mkfifo(t, filepath.Join(dir, "b.pcap"))
	os.Symlink(filepath.Join(dir, "b.pcap"), filepath.Join(dir, "c.pcap"))
	var skipped []string
	done := make(chan struct{})
	var files []string
	go func() {
		files, err = Expand(context.Background(), []string{dir}, func(p, why string) { skipped = append(skipped, filepath.Base(p)+": "+why) })
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Expand blocked on a named pipe")
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || filepath.Base(files[0]) != "a.pcap" {
		t.Errorf("files %v, want only a.pcap", files)
	}
	if len(skipped) != 2 || !strings.Contains(skipped[0], "not a regular file") {
		t.Errorf("skipped %q, want b.pcap and c.pcap as not regular files", skipped)
	}
}

// TestOpenFIFOCancel: opening a pipe nobody writes, and reading a pipe whose
// writer sends nothing, both end when the context does.
func TestOpenFIFOCancel(t *testing.T) {
	p := filepath.Join(t.TempDir(), "live.pcap")
	mkfifo(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Open(ctx, p)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("open of a pipe without writer: %v, want the context's error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("open returned after %v", d)
	}

	// A writer that sends a pcap header and then nothing.
	errc := make(chan error, 1)
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() {
		src, err := Open(ctx2, p)
		if err != nil {
			errc <- err
			return
		}
		defer src.Close()
		_, _, _, _, err = src.Next()
		errc <- err
	}()
	w, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write(pcapBytes(binary.LittleEndian, false, 1))
	time.Sleep(100 * time.Millisecond)
	cancel2()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read of a silent pipe: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read of a silent pipe ignored the cancellation")
	}
}
