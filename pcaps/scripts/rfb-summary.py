#!/usr/bin/python3
"""rfb-summary.py - what crossed the wire in a VNC capture, for the ground truth in pcaps/README.md.

usage: rfb-summary.py [-v] FILE.pcap [PORT]   (-v: every rectangle)

Reads a classic pcap (Ethernet, IPv4, TCP, no loss: our own captures), puts each direction of each
connection to PORT (default 5900) in order, and walks the RFB messages: handshake, ServerInit, the
client's messages (keys as text, clicks, clipboard) and the server's (rectangles per encoding). A check
of the captures, not a part of psmtap: it stops at the first thing it does not know (and says so).
"""
import struct
import sys
import zlib
from collections import Counter, defaultdict

ENC = {0: 'Raw', 1: 'CopyRect', 2: 'RRE', 4: 'CoRRE', 5: 'Hextile', 6: 'Zlib', 7: 'Tight', 16: 'ZRLE',
       -260: 'TightPNG', -239: 'Cursor', -240: 'XCursor', -314: 'CursorWithAlpha', -223: 'DesktopSize',
       -308: 'ExtendedDesktopSize', -307: 'DesktopName', -224: 'LastRect', -261: 'LEDState',
       -312: 'Fence', -313: 'ContinuousUpdates', -258: 'QEMUExtendedKeyEvent', -232: 'PointerPos',
       -1063131698: 'ExtendedClipboard', 0x574d5664: 'VMwareCursor', 0x574d5666: 'VMwareCursorPosition',
       0x574d5668: 'VMwareLEDState', -305: 'GII', -257: 'QEMUPointerMotionChange'}
KEYS = {0xff0d: '<Return>', 0xff08: '<BackSpace>', 0xff09: '<Tab>', 0xff1b: '<Escape>', 0xffe1: '<Shift_L>',
        0xffe2: '<Shift_R>', 0xffe3: '<Control_L>', 0xffe4: '<Control_R>', 0xffe9: '<Alt_L>', 0xffff: '<Delete>'}


VERBOSE = False


def enc_name(e):
    if -32 <= e <= -23:
        return 'JPEGQuality%d' % (e + 32)
    if -256 <= e <= -247:
        return 'CompressLevel%d' % (e + 256)
    if -768 <= e <= -763 or -512 <= e <= -412:
        return 'pseudo%d' % e
    return ENC.get(e, str(e))


def streams(path, port):
    """{(client, server): [client bytes, server bytes]} in TCP order."""
    data = open(path, 'rb').read()
    endian = '<' if data[:4] == b'\xd4\xc3\xb2\xa1' else '>'
    off, segs = 24, defaultdict(dict)
    first = {}
    while off + 16 <= len(data):
        ts, tus, incl, _ = struct.unpack(endian + 'IIII', data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 34 or pkt[12:14] != b'\x08\x00' or pkt[23] != 6:
            continue
        ihl = (pkt[14] & 15) * 4
        tot = struct.unpack('>H', pkt[16:18])[0]
        ip = pkt[14:14 + tot]
        src, dst = ip[12:16], ip[16:20]
        tcp = ip[ihl:]
        sp, dp, seq = struct.unpack('>HHI', tcp[:8])
        doff = (tcp[12] >> 4) * 4
        flags = tcp[13]
        payload = tcp[doff:]
        if port not in (sp, dp):
            continue
        key = ((src, sp), (dst, dp))
        if flags & 2:  # SYN: data starts at seq+1
            first[key] = seq + 1
            continue
        if payload:
            segs[key].setdefault(seq, (payload, ts + tus / 1e6))
    out = {}
    for key, s in segs.items():
        base = first.get(key, min(s))
        buf, times = bytearray(), []
        for seq in sorted(s, key=lambda q: (q - base) % (1 << 32)):
            rel = (seq - base) % (1 << 32)
            if rel > len(buf):
                print('  gap in', key)   # not in our captures
                break
            payload, t = s[seq]
            if rel + len(payload) > len(buf):
                times.append((rel, t))
            buf[rel:rel + len(payload)] = payload
        c, srv = (key[0], key[1]) if key[1][1] == port else (key[1], key[0])
        out.setdefault((c, srv), [None, None])[0 if key[1][1] == port else 1] = (bytes(buf), times)
    return out


class R:
    def __init__(self, bt):
        self.b, self.times, self.o = bt[0], bt[1], 0

    def now(self):
        """the capture time of the byte at the read offset"""
        t = self.times[0][1]
        for off, tt in self.times:
            if off > self.o:
                break
            t = tt
        return t

    def take(self, n):
        if self.o + n > len(self.b):
            raise EOFError
        v = self.b[self.o:self.o + n]
        self.o += n
        return v

    def u8(self): return self.take(1)[0]
    def u16(self): return struct.unpack('>H', self.take(2))[0]
    def u32(self): return struct.unpack('>I', self.take(4))[0]
    def s32(self): return struct.unpack('>i', self.take(4))[0]
    def left(self): return len(self.b) - self.o


def compact(r):
    n = 0
    for i in range(3):
        b = r.u8()
        n |= (b & (0x7f if i < 2 else 0xff)) << (7 * i)
        if i < 2 and not b & 0x80:
            break
    return n


def handshake(c, s, say):
    """returns (version, pixel bytes per pixel, tight pixel size) or None when encrypted/refused"""
    sv, cv = s.take(12), c.take(12)
    say('versions: server %r client %r' % (sv.decode().strip(), cv.decode().strip()))
    minor = int(cv[8:11])
    if minor < 7:
        st = s.u32()
        say('security (3.3, server decides): %d' % st)
        if st == 0:
            say('refused: %r' % s.take(s.u32()).decode())
            return None
    else:
        n = s.u8()
        if n == 0:
            say('refused: %r' % s.take(s.u32()).decode())
            return None
        offered = list(s.take(n))
        st = c.u8()
        say('security offered %s, chosen %d' % (offered, st))
    if st == 2:
        s.take(16), c.take(16)
        say('VNC authentication: challenge and response (16 bytes each)')
    elif st == 19:
        say('VeNCrypt: server version %d.%d, client %d.%d' % (s.u8(), s.u8(), c.u8(), c.u8()))
        say('  server ack %d' % s.u8())
        subs = [s.u32() for _ in range(s.u8())]
        say('  subtypes offered %s, chosen %d' % (subs, c.u32()))
        say('  server accepts: %d' % s.u8())
        tls_hello(c, 1, say)
        tls_hello(s, 2, say)
        return None
    elif st == 16:
        say('Tight security type: not followed')
        return None
    if st != 1 or minor >= 8:
        res = s.u32()
        say('security result %d%s' % (res, '' if res == 0 else ''))
        if res:
            if minor >= 8:
                say('reason: %r' % s.take(s.u32()).decode())
            return None
    say('ClientInit shared=%d' % c.u8())
    w, h = s.u16(), s.u16()
    pf = s.take(16)
    name = s.take(s.u32()).decode()
    say('ServerInit %dx%d name %r pixel format %s' % (w, h, name, fmt(pf)))
    return pf


def tls_hello(r, want, say):
    """the ClientHello (1) or ServerHello (2) that starts a TLS stream: version, cipher suites, extensions"""
    ctype, rver, ln = struct.unpack('>BHH', r.take(5))
    body = R((r.take(ln), [(0, 0)]))
    htype = body.u8()
    body.take(3)
    if ctype != 22 or htype != want:
        say('  TLS record %d handshake %d' % (ctype, htype))
        return
    ver = body.u16()
    body.take(32)
    body.take(body.u8())
    if want == 1:
        suites = [body.u16() for _ in range(body.u16() // 2)]
        body.take(body.u8())
    else:
        suites = [body.u16()]
        body.u8()
    exts = {}
    if body.left() >= 2:
        end = body.o + body.u16()
        while body.o < end:
            et, el = body.u16(), body.u16()
            exts[et] = body.take(el)
    sv = exts.get(43)
    if sv is not None:
        sv = [struct.unpack('>H', sv[i:i + 2])[0] for i in range(1 if want == 1 else 0, len(sv), 2)]
    say('  TLS %s: record version %#06x, hello version %#06x, supported_versions %s, cipher suites %s' % (
        'ClientHello' if want == 1 else 'ServerHello', rver, ver,
        [hex(v) for v in sv] if sv else None, [hex(x) for x in suites]))


def fmt(pf):
    bpp, depth, be, tc, rm, gm, bm, rs, gs, bs = struct.unpack('>BBBBHHHBBB', pf[:13])
    return 'bpp %d depth %d big-endian %d true-colour %d max %d/%d/%d shift %d/%d/%d' % (
        bpp, depth, be, tc, rm, gm, bm, rs, gs, bs)


def tpixel(pf):
    bpp, depth, _, tc, rm, gm, bm = struct.unpack('>BBBBHHH', pf[:10])
    if bpp == 32 and depth == 24 and tc and rm == gm == bm == 255:
        return 3
    return bpp // 8


def client_msgs(c, pf, say):
    keys, text, clicks, n = [], [], [], Counter()
    buttons = 0
    pos = None
    while c.left():
        t = c.u8()
        if t == 0:
            c.take(3)
            pf.append((c.now(), c.take(16)))
            say('client SetPixelFormat %s' % fmt(pf[-1][1]))
        elif t == 2:
            c.take(1)
            encs = [c.s32() for _ in range(c.u16())]
            say('client SetEncodings %s' % ', '.join(enc_name(e) for e in encs))
        elif t == 3:
            c.take(9)
            n['FramebufferUpdateRequest'] += 1
        elif t == 4 or (t == 255):
            if t == 255:
                sub = c.u8()
                if sub != 0:
                    say('client QEMU message %d: stop' % sub)
                    return
                down, sym, _ = c.u16(), c.u32(), c.u32()
                n['QEMUExtendedKeyEvent'] += 1
            else:
                down, _, sym = c.u8(), c.take(2), c.u32()
                n['KeyEvent'] += 1
            if down:
                text.append(chr(sym) if 0x20 <= sym < 0x7f else KEYS.get(sym, '<0x%x>' % sym))
        elif t == 5:
            mask, x, y = c.u8(), c.u16(), c.u16()
            n['PointerEvent'] += 1
            pressed = mask & ~buttons
            for b in range(8):
                if pressed & (1 << b):
                    clicks.append('button %d at (%d,%d)' % (b + 1, x, y))
            buttons, pos = mask, (x, y)
        elif t == 6:
            c.take(3)
            ln = c.s32()
            say('client ClientCutText %s' % cut(c, ln))
        elif t == 248:
            c.take(3)
            c.u32()
            c.take(c.u8())
            n['Fence'] += 1
        elif t == 150:
            say('client EnableContinuousUpdates on=%d %d,%d %dx%d' % (c.u8(), c.u16(), c.u16(), c.u16(), c.u16()))
        elif t == 251:
            c.take(1)
            w, h, ns = c.u16(), c.u16(), c.u8()
            c.take(1)
            c.take(16 * ns)
            say('client SetDesktopSize %dx%d (%d screens)' % (w, h, ns))
        else:
            say('client message %d: stop' % t)
            break
    say('client messages: %s' % dict(n))
    say('typed: %r' % ''.join(text))
    say('clicks: %s; pointer last at %s' % (clicks, pos))


def cut(r, ln):
    if ln >= 0:
        return 'classic %r' % r.take(ln).decode('latin-1')
    body = r.take(-ln)
    flags = struct.unpack('>I', body[:4])[0]
    acts = [a for a, bit in (('caps', 24), ('request', 25), ('peek', 26), ('notify', 27), ('provide', 28)) if flags >> bit & 1]
    fm = [f for f, bit in (('text', 0), ('rtf', 1), ('html', 2), ('dib', 3), ('files', 4)) if flags >> bit & 1]
    desc = 'extended %s formats %s' % ('+'.join(acts), fm)
    if 'caps' in acts:
        desc = 'extended caps: actions %s formats %s' % ('+'.join(a for a in acts if a != 'caps'), fm)
    elif 'provide' in acts:
        raw = zlib.decompressobj().decompress(body[4:])
        ln2 = struct.unpack('>I', raw[:4])[0]
        desc += ' text %r' % raw[4:4 + ln2].decode('utf-8', 'replace')
    return desc


def server_msgs(s, pf, say):
    rects, tight, n = Counter(), Counter(), Counter()
    zr = None
    while s.left():
        t = s.u8()
        if t == 0:
            s.take(1)
            nr = s.u16()
            n['FramebufferUpdate'] += 1
            for _ in range(nr):
                x, y, w, h, e = s.u16(), s.u16(), s.u16(), s.u16(), s.s32()
                name = enc_name(e)
                rects[name] += 1
                if e == -224:
                    break
                if VERBOSE:
                    say('  %.3f rect %s %dx%d at %d,%d' % (s.now(), name, w, h, x, y))
                rect(s, [p for t0, p in pf if t0 <= s.now()][-1], x, y, w, h, e, tight, say)
        elif t == 1:
            s.take(1)
            s.u16()
            s.take(6 * s.u16())
            n['SetColourMapEntries'] += 1
        elif t == 2:
            n['Bell'] += 1
        elif t == 3:
            s.take(3)
            say('server ServerCutText %s' % cut(s, s.s32()))
        elif t == 248:
            s.take(3)
            s.u32()
            s.take(s.u8())
            n['Fence'] += 1
        elif t == 150:
            n['EndOfContinuousUpdates'] += 1
        else:
            say('server message %d: stop' % t)
            break
    say('server messages: %s' % dict(n))
    say('rectangles: %s' % dict(rects))
    if tight:
        say('tight sub-types: %s' % dict(tight))


def rect(s, pf, x, y, w, h, e, tight, say):
    bpp = pf[0] // 8
    if e == 0:
        s.take(w * h * bpp)
    elif e == 1:
        s.take(4)
    elif e == 2:
        k = s.u32()
        s.take(bpp + k * (bpp + 8))
    elif e == 5:
        for ty in range(y, y + h, 16):
            for tx in range(x, x + w, 16):
                tw, th = min(16, x + w - tx), min(16, y + h - ty)
                sub = s.u8()
                if sub & 1:
                    s.take(tw * th * bpp)
                    continue
                if sub & 2:
                    s.take(bpp)
                if sub & 4:
                    s.take(bpp)
                if sub & 8:
                    k = s.u8()
                    s.take(k * ((bpp if sub & 16 else 0) + 2))
    elif e == 16:
        s.take(s.u32())
    elif e in (7, -260):
        tp = tpixel(pf)
        cc = s.u8()
        kind = cc >> 4
        if kind == 8:
            s.take(tp)
            tight['fill'] += 1
        elif kind == 9:
            s.take(compact(s))
            tight['jpeg'] += 1
        elif kind == 10:
            d = s.take(compact(s))
            tight['png' if d[:4] == b'\x89PNG' else 'png?'] += 1
        elif kind < 8:
            filt = s.u8() if kind & 4 else 0
            if filt == 1:
                colours = s.u8() + 1
                s.take(colours * tp)
                size = ((w + 7) // 8) * h if colours == 2 else w * h
                tight['palette%d' % min(colours, 3) if colours <= 2 else 'palette'] += 1
            elif filt == 2:
                size = w * h * tp
                tight['gradient'] += 1
            else:
                size = w * h * tp
                tight['copy'] += 1
            s.take(size if size < 12 else compact(s))
        else:
            raise ValueError('tight control %#x' % cc)
        if VERBOSE:
            say('    tight %s' % ({8: 'fill', 9: 'jpeg', 10: 'png'}.get(kind, 'basic')))
    elif e == -239:
        s.take(w * h * bpp + ((w + 7) // 8) * h)
    elif e == -240:
        if w * h:
            s.take(6 + 2 * ((w + 7) // 8) * h)
    elif e == -314:
        inner = s.s32()
        if inner != 0:
            raise ValueError('cursor with alpha in encoding %d' % inner)
        s.take(w * h * 4)
    elif e == -223:
        say('  DesktopSize %dx%d' % (w, h))
    elif e == -308:
        k = s.u8()
        s.take(3 + 16 * k)
        say('  ExtendedDesktopSize %dx%d reason %d status %d' % (w, h, x, y))
    elif e == -307:
        say('  DesktopName %r' % s.take(s.u32()).decode())
    elif e == -261:
        s.take(1)
    elif e in (-258, -257, -313, -312, -1063131698):   # acknowledgements, no data
        pass
    elif e == 0x574d5668:
        s.take(4)
    else:
        raise ValueError('encoding %d' % e)


def main():
    global VERBOSE
    if sys.argv[1] == '-v':
        VERBOSE = True
        del sys.argv[1]
    path = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 5900
    for (cl, srv), (cb, sb) in streams(path, port).items():
        print('%s:%d -> %s:%d  client %d bytes, server %d bytes' % (
            '.'.join(map(str, cl[0])), cl[1], '.'.join(map(str, srv[0])), srv[1], len(cb[0]) if cb else 0, len(sb[0]) if sb else 0))
        say = lambda m: print('  ' + m)
        c, s = R(cb), R(sb or (b'', [(0, 0)]))
        try:
            pf0 = handshake(c, s, say)
            if pf0 is None:
                continue
            pf = [(0, pf0)]
            # the client's messages change the pixel format the server's are in; walk the client's first
            # (a SetPixelFormat comes before the updates in it in every capture here)
            client_msgs(c, pf, say)
            server_msgs(s, pf, say)
        except (EOFError, ValueError, zlib.error) as err:
            say('stopped: %r (client at %d/%d, server at %d/%d)' % (err, c.o, len(c.b), s.o, len(s.b)))


main()
