#!/usr/bin/env python3
"""A minimal RDP client for one capture: it sends the Client X.224 Connection
Request with a cookie and an RDP_NEG_REQ asking for Standard RDP Security only
(requestedProtocols = PROTOCOL_RDP, MS-RDPBCGR 2.2.1.1.1), prints the server's
answer in hex and closes. Debian's clients cannot be made to send this request,
and it is the one xrdp answers with RDP_NEG_FAILURE when it requires TLS."""
import socket
import sys

server = sys.argv[1]
cookie = b"Cookie: mstshash=alice\r\n"
neg_req = bytes([0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00])  # type, flags, length 8, PROTOCOL_RDP
x224 = bytes([0xE0, 0, 0, 0, 0, 0]) + cookie + neg_req                 # CR TPDU, dst-ref, src-ref, class 0
tpkt = bytes([3, 0]) + (4 + 1 + len(x224)).to_bytes(2, "big")
with socket.create_connection((server, 3389), timeout=10) as s:
    s.sendall(tpkt + bytes([len(x224)]) + x224)
    answer = s.recv(4096)
    print(answer.hex())
