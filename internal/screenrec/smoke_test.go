package screenrec

import (
	"image"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func TestWriterSmoke(t *testing.T) {
	dir := t.TempDir()
	start := time.Unix(1764460800, 0)
	w, err := Create(dir, "vnc-x", start, 64, 48, Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	w.Frame(start.UnixNano(), img, []image.Rectangle{img.Rect})
	img.Pix[0] = 200
	w.Frame(start.UnixNano()+int64(time.Second), img, []image.Rectangle{image.Rect(0, 0, 1, 1)})
	w.Key(start.UnixNano()+int64(2*time.Second), "ls\n")
	rec, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, rec.Path))
	d, _ := zstd.NewReader(nil)
	plain, err := d.DecodeAll(raw, nil)
	t.Logf("%+v %s %v", rec, plain, err)
}
