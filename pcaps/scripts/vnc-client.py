#!/usr/bin/python3
"""vnc-client.py - a minimal RFB client for the captures no Debian viewer makes (a chosen protocol version,
encodings no viewer here asks for alone: TightPNG, ZRLE).

usage: vnc-client.py HOST PORT VERSION ENCODINGS DONE STOP LINE...
  VERSION    3.3, 3.7 or 3.8; security type None only
  ENCODINGS  comma-separated encoding numbers for SetEncodings, in order (e.g. -260,1,-239,-223,-224)
  DONE       a file made once everything is typed (the caller then takes its screenshot)
  STOP       the client closes the connection when this file appears
  LINE       typed key by key (KeyEvent down and up, 150 ms per key), then Return

It asks for the whole screen once, then for incremental updates every 100 ms until the end, and reads the
server's answers without decoding them (so it knows nothing of their encodings). Before typing it clicks the
left button once at (320,240).
"""
import os
import select
import socket
import struct
import sys
import time


def recv_exact(s, n):
    b = b''
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError('server closed')
        b += chunk
    return b


def main():
    host, port, version, encodings, done, stop = sys.argv[1:7]
    lines = sys.argv[7:]
    s = socket.create_connection((host, int(port)), timeout=10)
    server_version = recv_exact(s, 12)
    s.sendall(b'RFB 003.%03d\n' % int(version.split('.')[1]))
    minor = int(version.split('.')[1])
    if minor == 3:
        sec = struct.unpack('>I', recv_exact(s, 4))[0]
        if sec != 1:
            sys.exit('security type %d, want None' % sec)
    else:
        n = recv_exact(s, 1)[0]
        types = recv_exact(s, n)
        if 1 not in types:
            sys.exit('None not offered: %r' % types)
        s.sendall(b'\x01')
        if minor >= 8:
            result = struct.unpack('>I', recv_exact(s, 4))[0]
            if result:
                sys.exit('security result %d' % result)
    s.sendall(b'\x01')  # shared
    w, h = struct.unpack('>HH', recv_exact(s, 4))
    recv_exact(s, 16)
    name = recv_exact(s, struct.unpack('>I', recv_exact(s, 4))[0])
    print('server %r, %dx%d, %r' % (server_version, w, h, name), flush=True)
    encs = [int(e) for e in encodings.split(',')]
    s.sendall(struct.pack('>BxH', 2, len(encs)) + b''.join(struct.pack('>i', e) for e in encs))
    s.sendall(struct.pack('>BBHHHH', 3, 0, 0, 0, w, h))
    s.setblocking(False)
    got = 0
    last_request = time.monotonic()

    def pump(seconds):
        """read what comes, ask for updates every 100 ms"""
        nonlocal got, last_request
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            if now >= end:
                return
            if now - last_request >= 0.1:
                s.sendall(struct.pack('>BBHHHH', 3, 1, 0, 0, w, h))
                last_request = now
            r, _, _ = select.select([s], [], [], min(0.05, end - now))
            if r:
                chunk = s.recv(65536)
                if not chunk:
                    raise EOFError('server closed')
                got += len(chunk)

    def key(sym):
        s.sendall(struct.pack('>BBxxI', 4, 1, sym))
        pump(0.05)
        s.sendall(struct.pack('>BBxxI', 4, 0, sym))
        pump(0.1)

    pump(1.5)
    s.sendall(struct.pack('>BBHH', 5, 0, 320, 240))
    pump(0.3)
    s.sendall(struct.pack('>BBHH', 5, 1, 320, 240))
    pump(0.1)
    s.sendall(struct.pack('>BBHH', 5, 0, 320, 240))
    pump(0.5)
    for line in lines:
        for ch in line:
            key(ord(ch))   # printable ASCII: the keysym is the character's code
        pump(0.3)
        key(0xff0d)        # Return
        pump(1)
    open(done, 'w').close()
    while not os.path.exists(stop):
        pump(0.2)
    print('read %d bytes from the server' % got, flush=True)
    s.close()


main()
