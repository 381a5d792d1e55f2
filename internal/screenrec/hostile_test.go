package screenrec

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// pngHeader is the start of a PNG claiming w x h pixels (signature and a
// valid IHDR, no pixels): enough for a reader that trusts it to allocate.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	ihdr[12], ihdr[13] = 8, 2 // 8-bit RGB
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr))
	return b.Bytes()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func smallPNG(w, h int) []byte {
	var b bytes.Buffer
	png.Encode(&b, black(w, h))
	return b.Bytes()
}

const hdr = `{"version":1,"format":"psmtap-screen","width":100,"height":80}` + "\n"

// TestHostile: files that are not what they claim are refused with an
// error naming the problem, without allocating what they claim.
func TestHostile(t *testing.T) {
	tiny := b64(smallPNG(1, 1))
	cases := []struct{ name, body, want string }{
		{"empty", "", "empty"},
		{"not json", "hello\n", "header"},
		{"asciicast", `{"version":2,"width":80,"height":24}` + "\n", "header"},
		{"huge header", `{"version":1,"format":"psmtap-screen","width":100000,"height":100000}` + "\n", "size"},
		{"huge key frame", `{"version":1,"format":"psmtap-screen","width":60000,"height":60000}` + "\n" +
			`[0,"k",{"png":"` + b64(pngHeader(60000, 60000)) + `"}]` + "\n", "key frame"},
		{"key frame of another size", hdr + `[0,"k",{"png":"` + b64(pngHeader(100000, 100000)) + `"}]` + "\n", "key frame"},
		{"key frame not png", hdr + `[0,"k",{"png":"aGVsbG8="}]` + "\n", "key frame"},
		{"patch outside", hdr + `[0,"d",[{"x":90,"y":0,"png":"` + b64(smallPNG(20, 10)) + `"}]]` + "\n", "change"},
		{"patch negative", hdr + `[0,"d",[{"x":-1,"y":0,"png":"` + b64(smallPNG(2, 2)) + `"}]]` + "\n", "change"},
		{"patch huge", hdr + `[0,"d",[{"x":0,"y":0,"png":"` + b64(pngHeader(1<<31-1, 1)) + `"}]]` + "\n", "change"},
		{"copy outside", hdr + `[0,"d",[{"x":0,"y":0,"w":50,"h":50,"sx":60,"sy":0}]]` + "\n", "copy"},
		{"copy negative", hdr + `[0,"d",[{"x":0,"y":-1,"w":5,"h":5,"sx":0,"sy":0}]]` + "\n", "copy"},
		{"copy huge", hdr + `[0,"d",[{"x":0,"y":0,"w":9223372036854775807,"h":9223372036854775807,"sx":0,"sy":0}]]` + "\n", "copy"},
		{"copy empty", hdr + `[0,"d",[{"x":0,"y":0}]]` + "\n", "copy"},
		{"time back", hdr + `[2,"i","a"]` + "\n" + `[1,"i","b"]` + "\n", "time goes back"},
		{"negative time", hdr + `[-1,"i","a"]` + "\n", "bad time"},
		{"far time", hdr + `[1e300,"i","a"]` + "\n", "bad time"},
		{"not array", hdr + `{"t":1}` + "\n", "not an event"},
		{"two parts", hdr + `[1,"i"]` + "\n", "not an event"},
		{"bad text", hdr + `[1,"i",5]` + "\n", "text"},
		{"bad click", hdr + `[1,"c",{"x":"a"}]` + "\n", "click"},
		{"bad size", hdr + `[1,"s",{"width":-5,"height":3}]` + "\n", "size"},
		{"key frame after bad size", hdr + `[1,"s",{"width":70000,"height":3}]` + "\n", "size"},
		{"too many patches", hdr + `[0,"d",[` + strings.Repeat(`{"x":0,"y":0,"png":"`+tiny+`"},`, maxPatches) + `{"x":0,"y":0,"png":"` + tiny + `"}]]` + "\n", "change event"},
		{"zstd garbage", "\x28\xb5\x2f\xfd garbage garbage", ""},
	}
	dir := t.TempDir()
	for _, c := range cases {
		p := filepath.Join(dir, "f")
		os.WriteFile(p, []byte(c.body), 0o644)
		_, err := Open(p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// TestCorruptPixels: a PNG whose header is right but whose pixels are not:
// Open indexes it, FrameAt says so.
func TestCorruptPixels(t *testing.T) {
	good := smallPNG(100, 80)
	bad := append(bytes.Clone(good[:len(good)-20]), bytes.Repeat([]byte{0xAA}, 20)...)
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte(hdr+`[0,"k",{"png":"`+b64(bad)+`"}]`+"\n"), 0o644)
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.FrameAt(time.Second); err == nil {
		t.Error("corrupt pixels decoded")
	}
}

// FuzzOpen: whatever the file, Open and FrameAt return; never a panic.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	w, _ := Create(dir, "seed", t0, 40, 30, Options{MinFrameGap: time.Millisecond, KeyFrameEvery: 50 * time.Millisecond})
	img := black(40, 30)
	for i := range 6 {
		img.Pix[i*97] = 200
		w.Frame(at(time.Duration(i)*20*time.Millisecond), img, []image.Rectangle{image.Rect(i, 0, i+5, 3)})
	}
	w.Key(at(time.Second), "x")
	w.Click(at(time.Second), 1, 2, 3)
	w.Resize(at(2*time.Second), 20, 10)
	w.Incomplete(at(3*time.Second), "gap")
	rec, _ := w.Close()
	z, _ := os.ReadFile(filepath.Join(dir, rec.Path))
	f.Add(z) // a real recording, compressed
	d, _ := zstd.NewReader(nil)
	plain, _ := d.DecodeAll(z, nil)
	f.Add(plain)                                                                                                                  // the same, plain
	f.Add([]byte(hdr + `[0,"k",{"png":"` + b64(pngHeader(100, 80)) + `"}]` + "\n"))                                               // header only PNG
	f.Add([]byte(hdr + `[0,"d",[{"x":99,"y":79,"png":"` + b64(smallPNG(1, 1)) + `"}]]` + "\n"))                                   // corner patch
	f.Add([]byte(`{"version":1,"format":"psmtap-screen","width":0,"height":0}` + "\n" + `[0,"s",{"width":3,"height":3}]` + "\n")) // no size first
	p := filepath.Join(dir, "fuzzed")                                                                                             // one file per worker process
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(p)
		if err != nil {
			return
		}
		for _, z := range r.Sizes {
			if z.Width*z.Height > 1<<22 {
				return // valid but large: allocating it is allowed, and slow here
			}
		}
		r.FrameAt(0)
		r.FrameAt(r.End() / 2)
		r.FrameAt(r.End())
	})
}

// TestLongLine: a line longer than any picture of the screen could make is
// refused before it is held (a zstd file of a few bytes can claim
// gigabytes).
func TestLongLine(t *testing.T) {
	var plain bytes.Buffer
	plain.WriteString(hdr + `[0,"i","`)
	plain.Write(bytes.Repeat([]byte("a"), 64<<20))
	plain.WriteString("\"]\n")
	e, _ := zstd.NewWriter(nil)
	z := e.EncodeAll(plain.Bytes(), nil)
	if len(z) > 64<<10 {
		t.Fatalf("%d bytes compressed", len(z))
	}
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, z, 0o644)
	_, err := Open(p)
	if err == nil || !strings.Contains(err.Error(), "line 2 too long") {
		t.Fatalf("%v", err)
	}
	// a noisy key frame (the largest PNG) of the screen fits
	noise := black(100, 80)
	for i := range noise.Pix {
		noise.Pix[i] = byte(i * 7919 >> 3)
	}
	var b bytes.Buffer
	(&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&b, noise)
	os.WriteFile(p, []byte(hdr+`[0,"k",{"png":"`+b64(b.Bytes())+`"}]`+"\n"), 0o644)
	if _, err := Open(p); err != nil {
		t.Fatal(err)
	}
}
