package screen

import (
	"github.com/psmtap/psmtap/internal/rfb"
)

// pixKind says how a pixel is laid out in a rectangle's data: a full PIXEL
// of the pixel format, or one of the 3-byte short forms.
type pixKind uint8

const (
	pixNative   pixKind = iota // PIXEL: bits-per-pixel/8 bytes in the format's byte order
	pixCLow                    // ZRLE CPIXEL: the least significant 3 bytes of a 32-bit pixel
	pixCHigh                   // ZRLE CPIXEL: the most significant 3 bytes
	pixTightRGB                // Tight TPIXEL: red, green, blue bytes
)

// pixels turns wire pixels of one pixel format into RGBA. The component
// tables are built once per format so the hot loops only shift and look up.
type pixels struct {
	pf               rfb.PixelFormat
	bpp              int // bytes per PIXEL
	cpix, tpix       pixKind
	cpixLen          int // bytes per ZRLE CPIXEL
	tpixLen          int // bytes per Tight TPIXEL
	rt, gt, bt       []uint8
	rm, gm, bm       uint32
	fast32           bool // 32bpp, 8-bit components at byte boundaries: bytes copy straight across
	rOff, gOff, bOff int  // with fast32: the byte of each component inside the pixel
	cmap             *[][4]uint8
}

func newPixels(pf rfb.PixelFormat, cmap *[][4]uint8) (pixels, error) {
	if err := pf.Validate(); err != nil {
		return pixels{}, err
	}
	p := pixels{pf: pf, bpp: pf.BytesPerPixel(), cmap: cmap, cpix: pixNative, tpix: pixNative}
	p.cpixLen, p.tpixLen = p.bpp, p.bpp
	if pf.TrueColour {
		p.rm, p.gm, p.bm = uint32(pf.RedMax), uint32(pf.GreenMax), uint32(pf.BlueMax)
		p.rt, p.gt, p.bt = scaleTable(pf.RedMax), scaleTable(pf.GreenMax), scaleTable(pf.BlueMax)
		if p.cpix = cpixForm(pf); p.cpix != pixNative {
			p.cpixLen = 3
		}
		// Tight: TPIXEL is R, G, B bytes for 32bpp depth 24 with 8-bit components.
		if pf.BitsPerPixel == 32 && pf.Depth == 24 && pf.RedMax == 255 && pf.GreenMax == 255 && pf.BlueMax == 255 {
			p.tpix, p.tpixLen = pixTightRGB, 3
		}
		if pf.BitsPerPixel == 32 && pf.RedMax == 255 && pf.GreenMax == 255 && pf.BlueMax == 255 &&
			pf.RedShift%8 == 0 && pf.GreenShift%8 == 0 && pf.BlueShift%8 == 0 {
			p.fast32 = true
			p.rOff, p.gOff, p.bOff = byteOf(pf.RedShift, pf.BigEndian), byteOf(pf.GreenShift, pf.BigEndian), byteOf(pf.BlueShift, pf.BigEndian)
		}
	}
	return p, nil
}

// byteOf is where the byte holding bits shift..shift+7 sits in a 4-byte pixel.
func byteOf(shift uint8, big bool) int {
	if big {
		return 3 - int(shift/8)
	}
	return int(shift / 8)
}

// scaleTable maps a component value 0..max to 0..255.
func scaleTable(max uint16) []uint8 {
	t := make([]uint8, int(max)+1)
	for v := range t {
		if max == 0 {
			break
		}
		t[v] = uint8((v*255 + int(max)/2) / int(max))
	}
	return t
}

// value reads one PIXEL of n bytes (1, 2 or 4) in the format's byte order.
func (p *pixels) value(b []byte) uint32 {
	switch p.bpp {
	case 1:
		return uint32(b[0])
	case 2:
		if p.pf.BigEndian {
			return uint32(b[0])<<8 | uint32(b[1])
		}
		return uint32(b[1])<<8 | uint32(b[0])
	default:
		if p.pf.BigEndian {
			return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		}
		return uint32(b[3])<<24 | uint32(b[2])<<16 | uint32(b[1])<<8 | uint32(b[0])
	}
}

// rgba turns a pixel value into red, green, blue, alpha bytes.
func (p *pixels) rgba(v uint32) [4]uint8 {
	if !p.pf.TrueColour {
		if m := *p.cmap; int(v) < len(m) {
			return m[v]
		}
		return [4]uint8{0, 0, 0, 255}
	}
	return [4]uint8{
		p.rt[(v>>p.pf.RedShift)&p.rm],
		p.gt[(v>>p.pf.GreenShift)&p.gm],
		p.bt[(v>>p.pf.BlueShift)&p.bm],
		255,
	}
}

// colour reads one pixel of kind k from b (which holds at least its bytes).
func (p *pixels) colour(b []byte, k pixKind) [4]uint8 {
	switch k {
	case pixTightRGB:
		return [4]uint8{b[0], b[1], b[2], 255}
	case pixCLow, pixCHigh:
		var v uint32
		if p.pf.BigEndian {
			v = uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
		} else {
			v = uint32(b[2])<<16 | uint32(b[1])<<8 | uint32(b[0])
		}
		if k == pixCHigh {
			v <<= 8
		}
		return p.rgba(v)
	}
	if p.fast32 {
		return [4]uint8{b[p.rOff], b[p.gOff], b[p.bOff], 255}
	}
	return p.rgba(p.value(b))
}

// size is the byte length of a pixel of kind k.
func (p *pixels) size(k pixKind) int {
	if k == pixNative {
		return p.bpp
	}
	return 3
}

// row converts n pixels of kind k from src into RGBA at dst.
func (p *pixels) row(dst, src []byte, n int, k pixKind) {
	sz := p.size(k)
	switch {
	case k == pixNative && p.fast32:
		rOff, gOff, bOff := p.rOff, p.gOff, p.bOff
		for i := 0; i < n; i++ {
			s := src[i*4 : i*4+4 : i*4+4]
			d := dst[i*4 : i*4+4 : i*4+4]
			d[0], d[1], d[2], d[3] = s[rOff], s[gOff], s[bOff], 255
		}
	case (k == pixCLow || k == pixCHigh) && p.fast32:
		// A 3-byte CPIXEL is the pixel less one byte: the components keep
		// their offsets, less one when the dropped byte came first on the wire.
		d := p.cpixShift(k)
		rOff, gOff, bOff := p.rOff-d, p.gOff-d, p.bOff-d
		for i := 0; i < n; i++ {
			s := src[i*3 : i*3+3 : i*3+3]
			d := dst[i*4 : i*4+4 : i*4+4]
			d[0], d[1], d[2], d[3] = s[rOff], s[gOff], s[bOff], 255
		}
	case k == pixTightRGB:
		for i := 0; i < n; i++ {
			s := src[i*3 : i*3+3 : i*3+3]
			d := dst[i*4 : i*4+4 : i*4+4]
			d[0], d[1], d[2], d[3] = s[0], s[1], s[2], 255
		}
	default:
		for i := 0; i < n; i++ {
			c := p.colour(src[i*sz:], k)
			copy(dst[i*4:i*4+4], c[:])
		}
	}
}

// cpixShift is how many bytes of a 32-bit pixel come before the first byte
// of its 3-byte CPIXEL on the wire: the dropped byte is the most significant
// (little-endian: the last; big-endian: the first) for pixCLow, the least
// significant for pixCHigh.
func (p *pixels) cpixShift(k pixKind) int {
	if (k == pixCLow) == p.pf.BigEndian {
		return 1
	}
	return 0
}
