#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Holds N idle HTTPS keep-alive connections open against a server, so that its memory per
idle TLS connection can be measured (bench/idleconns.c's TLS counterpart).

    tlsidle.py HOST PORT PATH N [HOLD_SECONDS=600]

Opens N connections one after the other, each a full TLS handshake (no resumption: every
connection costs the server what a new client costs), sends one keep-alive `GET PATH` on each
and reads the whole answer (Content-Length), so every connection has been through a request and
sits idle in the server's keep-alive state. Prints `ready N CIPHER GROUP` on stdout, then waits
HOLD_SECONDS or until SIGTERM; before exiting checks every socket without blocking and prints
`held OPEN CLOSED`. Exit status 0 only when all N answered 2xx and are still open at the end.
"""
import select
import signal
import socket
import ssl
import sys
import time


def main(argv):
    if len(argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        return 2
    host, port, path, n = argv[1], int(argv[2]), argv[3], int(argv[4])
    hold = float(argv[5]) if len(argv) == 6 else 600.0
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode()
    conns = []
    for i in range(n):
        raw = socket.create_connection((host, port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                sys.exit("connection %d closed before an answer" % i)
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 2"):
            sys.exit("connection %d: %r" % (i, head[:80]))
        clen = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                clen = int(v)
        while len(body) < clen:
            body += s.recv(65536)
        conns.append(s)
    print("ready %d %s" % (n, conns[0].cipher()[0]), flush=True)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    end = time.monotonic() + hold
    while not stop and time.monotonic() < end:
        time.sleep(0.2)
    closed = 0
    for s in conns:
        p = select.poll()  # not select(): descriptors above 1023
        p.register(s, select.POLLIN)
        if p.poll(0):
            try:
                s.setblocking(False)
                if not s.recv(1):
                    closed += 1
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            except (OSError, ssl.SSLError):
                closed += 1
    print("held %d %d" % (n - closed, closed), flush=True)
    return 0 if not closed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
