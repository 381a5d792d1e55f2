// Package rfb holds the wire basics of the Remote Framebuffer protocol (VNC,
// RFC 6143) that both the session dissector (dissectors/vnc) and the screen
// decoder need: the pixel format and the encoding numbers. No I/O here.
package rfb

import (
	"errors"
	"fmt"
)

// PixelFormatLen is the size of a PIXEL_FORMAT on the wire (RFC 6143 7.4).
const PixelFormatLen = 16

// PixelFormat is how a pixel is laid out on the wire (RFC 6143 7.4). The
// server announces one in ServerInit; the client may ask for another with
// SetPixelFormat, and every later FramebufferUpdate uses the client's.
type PixelFormat struct {
	BitsPerPixel uint8 // 8, 16 or 32
	Depth        uint8
	BigEndian    bool
	TrueColour   bool // false: pixels index the colour map (SetColourMapEntries)
	RedMax       uint16
	GreenMax     uint16
	BlueMax      uint16
	RedShift     uint8
	GreenShift   uint8
	BlueShift    uint8
}

// ErrPixelFormat is returned for a pixel format no client or server can
// really use (a bits-per-pixel other than 8, 16 or 32, shifts past the pixel).
var ErrPixelFormat = errors.New("rfb: unusable pixel format")

// ParsePixelFormat reads the 16 bytes of a PIXEL_FORMAT. It checks what a
// decoder relies on; the padding is ignored.
func ParsePixelFormat(b []byte) (PixelFormat, error) {
	if len(b) < PixelFormatLen {
		return PixelFormat{}, fmt.Errorf("rfb: pixel format needs %d bytes, have %d", PixelFormatLen, len(b))
	}
	pf := PixelFormat{
		BitsPerPixel: b[0],
		Depth:        b[1],
		BigEndian:    b[2] != 0,
		TrueColour:   b[3] != 0,
		RedMax:       uint16(b[4])<<8 | uint16(b[5]),
		GreenMax:     uint16(b[6])<<8 | uint16(b[7]),
		BlueMax:      uint16(b[8])<<8 | uint16(b[9]),
		RedShift:     b[10],
		GreenShift:   b[11],
		BlueShift:    b[12],
	}
	return pf, pf.Validate()
}

// Validate says whether a decoder can use pf.
func (pf PixelFormat) Validate() error {
	switch pf.BitsPerPixel {
	case 8, 16, 32:
	default:
		return fmt.Errorf("%w: %d bits per pixel", ErrPixelFormat, pf.BitsPerPixel)
	}
	if pf.TrueColour {
		bits := pf.BitsPerPixel
		if pf.RedShift >= bits || pf.GreenShift >= bits || pf.BlueShift >= bits {
			return fmt.Errorf("%w: a colour shift past %d bits", ErrPixelFormat, bits)
		}
	}
	return nil
}

// BytesPerPixel is the size of one pixel on the wire.
func (pf PixelFormat) BytesPerPixel() int { return int(pf.BitsPerPixel) / 8 }

// String gives a short human form, e.g. "32bpp depth 24 true-colour little-endian".
func (pf PixelFormat) String() string {
	colour, order := "colour-map", "little-endian"
	if pf.TrueColour {
		colour = "true-colour"
	}
	if pf.BigEndian {
		order = "big-endian"
	}
	return fmt.Sprintf("%dbpp depth %d %s %s", pf.BitsPerPixel, pf.Depth, colour, order)
}

// Encoding numbers (RFC 6143 7.7, 7.8 and the IANA RFB registry). Negative
// numbers are pseudo-encodings: a client announces support; a server sends
// them as rectangles that carry something other than pixels.
const (
	EncRaw      int32 = 0
	EncCopyRect int32 = 1
	EncRRE      int32 = 2
	EncCoRRE    int32 = 4
	EncHextile  int32 = 5
	EncZlib     int32 = 6
	EncTight    int32 = 7
	EncZlibHex  int32 = 8
	EncZRLE     int32 = 16
	EncZYWRLE   int32 = 17
	EncJPEG     int32 = 21
	EncH264     int32 = 50

	EncTightPNG            int32 = -260
	EncDesktopSize         int32 = -223
	EncLastRect            int32 = -224
	EncPointerPos          int32 = -232
	EncCursor              int32 = -239
	EncXCursor             int32 = -240
	EncQEMUPointerMotion   int32 = -257
	EncQEMUExtendedKey     int32 = -258
	EncQEMUAudio           int32 = -259
	EncQEMULEDState        int32 = -261
	EncDesktopName         int32 = -307
	EncExtendedDesktopSize int32 = -308
	EncXVP                 int32 = -309
	EncFence               int32 = -312
	EncContinuousUpdates   int32 = -313
	EncCursorWithAlpha     int32 = -314
	EncExtendedClipboard   int32 = -1063131698 // 0xC0A1E5CE
	EncVMwareCursor        int32 = 0x574D5664  // "WMVd", TigerVNC's viewer offers it
	EncVMwareCursorPos     int32 = 0x574D5666  // "WMVf"
)

var encodingNames = map[int32]string{
	EncRaw: "raw", EncCopyRect: "copyrect", EncRRE: "rre", EncCoRRE: "corre",
	EncHextile: "hextile", EncZlib: "zlib", EncTight: "tight", EncZlibHex: "zlibhex",
	EncZRLE: "zrle", EncZYWRLE: "zywrle", EncJPEG: "jpeg", EncH264: "h264",
	EncTightPNG: "tightpng", EncDesktopSize: "desktop-size", EncLastRect: "last-rect",
	EncPointerPos: "pointer-pos", EncCursor: "cursor", EncXCursor: "x-cursor",
	EncQEMUPointerMotion: "qemu-pointer-motion", EncQEMUExtendedKey: "qemu-extended-key",
	EncQEMUAudio: "qemu-audio", EncQEMULEDState: "qemu-led-state",
	EncDesktopName: "desktop-name", EncExtendedDesktopSize: "extended-desktop-size",
	EncXVP: "xvp", EncFence: "fence", EncContinuousUpdates: "continuous-updates",
	EncCursorWithAlpha: "cursor-with-alpha", EncExtendedClipboard: "extended-clipboard",
	EncVMwareCursor: "vmware-cursor", EncVMwareCursorPos: "vmware-cursor-position",
}

// EncodingName names an encoding for records ("zrle", "cursor",
// "compress-level-6", "quality-level-8"), or "enc-<n>" when unknown.
func EncodingName(e int32) string {
	if n, ok := encodingNames[e]; ok {
		return n
	}
	switch {
	case e >= -256 && e <= -247:
		return fmt.Sprintf("compress-level-%d", e+256)
	case e >= -32 && e <= -23:
		return fmt.Sprintf("quality-level-%d", e+32)
	}
	return fmt.Sprintf("enc-%d", e)
}
