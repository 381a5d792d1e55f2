package rfb

import (
	"errors"
	"testing"
)

func TestParsePixelFormat(t *testing.T) {
	// TigerVNC's usual ServerInit format: 32 bpp, depth 24, little-endian, true colour, 8 bits each.
	b := []byte{32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0}
	pf, err := ParsePixelFormat(b)
	if err != nil {
		t.Fatal(err)
	}
	want := PixelFormat{BitsPerPixel: 32, Depth: 24, TrueColour: true, RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 16, GreenShift: 8}
	if pf != want {
		t.Fatalf("got %+v, want %+v", pf, want)
	}
	if pf.BytesPerPixel() != 4 || pf.String() != "32bpp depth 24 true-colour little-endian" {
		t.Fatalf("bytes %d, string %q", pf.BytesPerPixel(), pf.String())
	}
	if _, err := ParsePixelFormat(b[:15]); err == nil {
		t.Fatal("short pixel format accepted")
	}
	bad := append([]byte(nil), b...)
	bad[0] = 24
	if _, err := ParsePixelFormat(bad); !errors.Is(err, ErrPixelFormat) {
		t.Fatalf("24 bpp: %v", err)
	}
	bad[0], bad[10] = 16, 16
	if _, err := ParsePixelFormat(bad); !errors.Is(err, ErrPixelFormat) {
		t.Fatalf("shift past the pixel: %v", err)
	}
}

func TestEncodingName(t *testing.T) {
	for e, want := range map[int32]string{16: "zrle", -239: "cursor", -250: "compress-level-6", -24: "quality-level-8", 99: "enc-99", -1063131698: "extended-clipboard"} {
		if got := EncodingName(e); got != want {
			t.Errorf("EncodingName(%d) = %q, want %q", e, got, want)
		}
	}
}
