package screen

import (
	"errors"
	"fmt"
	"math"

	"github.com/psmtap/psmtap/internal/rfb"
)

var (
	// ErrNeedMore: RectLen was given too few bytes to tell the length yet.
	ErrNeedMore = errors.New("screen: need more data")
	// ErrUnsupported: an encoding whose length or pixels psmtap cannot know.
	ErrUnsupported = errors.New("screen: unsupported encoding")
	// ErrMalformed: the rectangle's bytes break its encoding's rules.
	ErrMalformed = errors.New("screen: malformed rectangle")
)

// VMware's cursor pseudo-encodings (community RFB specification), offered by
// TigerVNC's viewer; not in package rfb because only the decoder needs them.
const (
	encVMwareCursor    int32 = 0x574D5664
	encVMwareCursorPos int32 = 0x574D5666
)

// VMware cursor types: AND and XOR masks in the pixel format, or RGBA.
const (
	vmwareClassic = 0
	vmwareAlpha   = 1
)

// rgbaFormat is the fixed pixel format of CursorWithAlpha pixels: R, G, B, A
// bytes in that order, whatever format the client asked for.
var rgbaFormat = rfb.PixelFormat{BitsPerPixel: 32, Depth: 32, TrueColour: true,
	RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 0, GreenShift: 8, BlueShift: 16}

// RectLen says how many bytes after the 12-byte rectangle header belong to a
// rectangle of encoding enc, size w x h, in pixel format pf. It walks the
// structure only: no pixel is decoded and nothing is decompressed, so the
// packet path can frame the server stream with it. data holds what has
// arrived so far; ErrNeedMore asks for more.
func RectLen(enc int32, w, h int, pf rfb.PixelFormat, data []byte) (int, error) {
	if w < 0 || h < 0 || w > math.MaxUint16 || h > math.MaxUint16 {
		return 0, fmt.Errorf("%w: size %dx%d", ErrMalformed, w, h)
	}
	if err := pf.Validate(); err != nil {
		return 0, err
	}
	n, err := rectLen(enc, w, h, pf, data)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %s rectangle of %d bytes", ErrMalformed, rfb.EncodingName(enc), n)
	}
	return int(n), nil
}

// walker reads a rectangle's bytes front to back for RectLen.
type walker struct {
	b   []byte
	off int64
}

func (r *walker) need(n int64) error {
	if n < 0 || int64(len(r.b))-r.off < n {
		return ErrNeedMore
	}
	return nil
}

func (r *walker) u8() (int64, error) {
	if err := r.need(1); err != nil {
		return 0, err
	}
	v := r.b[r.off]
	r.off++
	return int64(v), nil
}

func (r *walker) u16() (int64, error) {
	if err := r.need(2); err != nil {
		return 0, err
	}
	v := int64(r.b[r.off])<<8 | int64(r.b[r.off+1])
	r.off += 2
	return v, nil
}

func (r *walker) u32() (int64, error) {
	if err := r.need(4); err != nil {
		return 0, err
	}
	b := r.b[r.off:]
	r.off += 4
	return int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3]), nil
}

// skip moves past n bytes without needing them yet (the length is known).
func (r *walker) skip(n int64) { r.off += n }

// skipHave moves past n bytes that must already be here (more structure follows).
func (r *walker) skipHave(n int64) error {
	if err := r.need(n); err != nil {
		return err
	}
	r.off += n
	return nil
}

// compact reads Tight's compact length: 1 to 3 bytes, 7 bits each, the third 8.
func (r *walker) compact() (int64, error) {
	b0, err := r.u8()
	if err != nil {
		return 0, err
	}
	n := b0 & 0x7f
	if b0&0x80 == 0 {
		return n, nil
	}
	b1, err := r.u8()
	if err != nil {
		return 0, err
	}
	n |= (b1 & 0x7f) << 7
	if b1&0x80 == 0 {
		return n, nil
	}
	b2, err := r.u8()
	if err != nil {
		return 0, err
	}
	return n | b2<<14, nil
}

func rectLen(enc int32, w, h int, pf rfb.PixelFormat, data []byte) (int64, error) {
	bpp := int64(pf.BytesPerPixel())
	W, H := int64(w), int64(h)
	r := &walker{b: data}
	switch enc {
	case rfb.EncRaw:
		return W * H * bpp, nil
	case rfb.EncCopyRect:
		return 4, nil
	case rfb.EncRRE, rfb.EncCoRRE:
		n, err := r.u32()
		if err != nil {
			return 0, err
		}
		sub := int64(8)
		if enc == rfb.EncCoRRE {
			sub = 4
		}
		return 4 + bpp + n*(bpp+sub), nil
	case rfb.EncHextile:
		if err := walkHextile(r, W, H, bpp, false); err != nil {
			return 0, err
		}
		return r.off, nil
	case rfb.EncZlibHex:
		if err := walkHextile(r, W, H, bpp, true); err != nil {
			return 0, err
		}
		return r.off, nil
	case rfb.EncZlib, rfb.EncZRLE:
		n, err := r.u32()
		if err != nil {
			return 0, err
		}
		return 4 + n, nil
	case rfb.EncTight, rfb.EncTightPNG:
		_, tpix := shortForms(pf)
		if err := walkTight(r, W, H, int64(tpix), enc == rfb.EncTightPNG); err != nil {
			return 0, err
		}
		return r.off, nil
	case rfb.EncH264:
		n, err := r.u32()
		if err != nil {
			return 0, err
		}
		return 8 + n, nil
	case rfb.EncDesktopSize, rfb.EncLastRect, rfb.EncPointerPos, rfb.EncQEMUPointerMotion, rfb.EncQEMUExtendedKey:
		return 0, nil
	case rfb.EncQEMULEDState:
		return 1, nil
	case rfb.EncCursor:
		if W*H == 0 {
			return 0, nil
		}
		return W*H*bpp + (W+7)/8*H, nil
	case rfb.EncXCursor:
		if W*H == 0 {
			return 0, nil
		}
		return 6 + 2*((W+7)/8*H), nil
	case encVMwareCursorPos:
		return 0, nil
	case encVMwareCursor:
		typ, err := r.u8()
		if err != nil {
			return 0, err
		}
		switch typ {
		case vmwareClassic:
			return 2 + 2*W*H*bpp, nil
		case vmwareAlpha:
			return 2 + W*H*4, nil
		}
		return 0, fmt.Errorf("%w: vmware cursor type %d", ErrMalformed, typ)
	case rfb.EncCursorWithAlpha:
		inner, err := r.u32()
		if err != nil {
			return 0, err
		}
		if int32(inner) < 0 {
			return 0, fmt.Errorf("%w: cursor-with-alpha carried in %s", ErrUnsupported, rfb.EncodingName(int32(inner)))
		}
		n, err := rectLen(int32(inner), w, h, rgbaFormat, data[4:])
		if err != nil {
			return 0, err
		}
		return 4 + n, nil
	case rfb.EncDesktopName:
		n, err := r.u32()
		if err != nil {
			return 0, err
		}
		return 4 + n, nil
	case rfb.EncExtendedDesktopSize:
		n, err := r.u8()
		if err != nil {
			return 0, err
		}
		return 4 + 16*n, nil
	}
	return 0, fmt.Errorf("%w: %s", ErrUnsupported, rfb.EncodingName(enc))
}

// Hextile sub-encoding bits (RFC 6143 7.7.4) and ZlibHex's two more.
const (
	hexRaw        = 1
	hexBackground = 2
	hexForeground = 4
	hexAnySubrect = 8
	hexColoured   = 16
	hexZlibRaw    = 32
	hexZlib       = 64
)

func walkHextile(r *walker, W, H, bpp int64, zlibHex bool) error {
	for ty := int64(0); ty < H; ty += 16 {
		th := min(16, H-ty)
		for tx := int64(0); tx < W; tx += 16 {
			tw := min(16, W-tx)
			sub, err := r.u8()
			if err != nil {
				return err
			}
			switch {
			case zlibHex && sub&hexZlibRaw != 0, zlibHex && sub&hexRaw == 0 && sub&hexZlib != 0:
				n, err := r.u16()
				if err != nil {
					return err
				}
				if err := r.skipHave(n); err != nil {
					return err
				}
				continue
			case sub&hexRaw != 0:
				if err := r.skipHave(tw * th * bpp); err != nil {
					return err
				}
				continue
			}
			if sub&hexBackground != 0 {
				if err := r.skipHave(bpp); err != nil {
					return err
				}
			}
			if sub&hexForeground != 0 {
				if err := r.skipHave(bpp); err != nil {
					return err
				}
			}
			if sub&hexAnySubrect != 0 {
				n, err := r.u8()
				if err != nil {
					return err
				}
				each := int64(2)
				if sub&hexColoured != 0 {
					each += bpp
				}
				if err := r.skipHave(n * each); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Tight compression-control types (the high nibble; 0-7 is basic compression).
const (
	tightFill = 8
	tightJPEG = 9
	tightPNG  = 10
)

// Tight basic-compression filters.
const (
	filterCopy     = 0
	filterPalette  = 1
	filterGradient = 2
)

// tightMinCompress: basic-compression data shorter than this is sent as is.
const tightMinCompress = 12

func walkTight(r *walker, W, H, tpix int64, png bool) error {
	ctl, err := r.u8()
	if err != nil {
		return err
	}
	switch typ := ctl >> 4; {
	case typ == tightFill:
		return r.skipHave(tpix)
	case typ == tightJPEG, typ == tightPNG && png:
		n, err := r.compact()
		if err != nil {
			return err
		}
		r.skip(n)
		return nil
	case typ > tightJPEG:
		return fmt.Errorf("%w: tight compression type %d", ErrMalformed, typ)
	case typ&4 == 0:
		return tightData(r, W*H*tpix)
	}
	filter, err := r.u8()
	if err != nil {
		return err
	}
	switch filter {
	case filterCopy, filterGradient:
		return tightData(r, W*H*tpix)
	case filterPalette:
		n, err := r.u8()
		if err != nil {
			return err
		}
		n++
		if err := r.skipHave(n * tpix); err != nil {
			return err
		}
		if n == 2 {
			return tightData(r, (W+7)/8*H)
		}
		return tightData(r, W*H)
	}
	return fmt.Errorf("%w: tight filter %d", ErrMalformed, filter)
}

func tightData(r *walker, size int64) error {
	if size < tightMinCompress {
		r.skip(size)
		return nil
	}
	n, err := r.compact()
	if err != nil {
		return err
	}
	r.skip(n)
	return nil
}

// shortForms gives the byte length of ZRLE's CPIXEL and Tight's TPIXEL in pf.
func shortForms(pf rfb.PixelFormat) (cpix, tpix int) {
	cpix, tpix = pf.BytesPerPixel(), pf.BytesPerPixel()
	if !pf.TrueColour || pf.BitsPerPixel != 32 {
		return
	}
	if cpixForm(pf) != pixNative {
		cpix = 3
	}
	if pf.Depth == 24 && pf.RedMax == 255 && pf.GreenMax == 255 && pf.BlueMax == 255 {
		tpix = 3
	}
	return
}

// cpixForm: RFC 6143 7.7.6, a CPIXEL is 3 bytes when the pixel is 32-bit true
// colour of depth 24 or less and every colour bit fits in its low or high
// three bytes.
func cpixForm(pf rfb.PixelFormat) pixKind {
	if !pf.TrueColour || pf.BitsPerPixel != 32 || pf.Depth > 24 {
		return pixNative
	}
	mask := uint64(pf.RedMax)<<pf.RedShift | uint64(pf.GreenMax)<<pf.GreenShift | uint64(pf.BlueMax)<<pf.BlueShift
	switch {
	case mask&^0xffffff == 0:
		return pixCLow
	case mask&^0xffffff00 == 0:
		return pixCHigh
	}
	return pixNative
}
