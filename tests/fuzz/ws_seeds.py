#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the hand-made seeds of the WebSocket frame corpus (tests/fuzz/corpus/ws/seed-*).

Each seed is what tests/fuzz/ws.c takes: one byte choosing how the rest is split into reads
(0-15: reads of 1-16 bytes; above: one read), then client frames. The seeds cover what RFC 6455
asks of a server: fragmented messages, control frames between fragments, masking, 7/16/64-bit
lengths, reserved bits and opcodes, close payloads and UTF-8 in text, each limit of the fuzz
configuration (frame_bytes 256, message_bytes 1024, a burst of 16 messages) at and past it.

Run it from anywhere: `tests/fuzz/ws_seeds.py` rewrites the seed files (deterministically).
Inputs libFuzzer found are kept beside them under their SHA-1 names.
"""
import os
import struct

KEY = b'\x37\xfa\x21\x3d'
WHOLE = 0xff


def frame(op, payload=b'', fin=True, key=KEY, rsv=0, length=None):
    """A client frame. length: None (the shortest form), 16 or 64 (that form)."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | rsv << 4 | op
    mask = 0x80 if key is not None else 0
    if length is None:
        length = 7 if n < 126 else 16 if n <= 0xffff else 64
    if length == 7:
        head = struct.pack('!BB', b0, mask | n)
    elif length == 16:
        head = struct.pack('!BBH', b0, mask | 126, n)
    else:
        head = struct.pack('!BBQ', b0, mask | 127, n)
    if key is None:
        return head + payload
    return head + key + bytes(c ^ key[i & 3] for i, c in enumerate(payload))


def text(s, **kw):
    return frame(0x1, s if isinstance(s, bytes) else s.encode(), **kw)


def binary(b, **kw):
    return frame(0x2, b, **kw)


def cont(b, **kw):
    return frame(0x0, b if isinstance(b, bytes) else b.encode(), **kw)


def close(code=None, reason=b''):
    return frame(0x8, b'' if code is None else struct.pack('!H', code) + reason)


def ping(b=b''):
    return frame(0x9, b)


def pong(b=b''):
    return frame(0xa, b)


SEEDS = {
    # Messages and route selection (the mock routes of ws.c's configuration).
    'text': (WHOLE, text('hello') + close(1000)),
    'binary': (WHOLE, binary(bytes(range(40))) + close(1000)),
    'route-echo': (WHOLE, text('{"action":"echo"}') + close(1000)),
    'route-fail': (WHOLE, text('{"action":"fail"}') + close(1001, b'bye')),
    'route-quiet': (WHOLE, text('{"action":"quiet"}')),
    'route-unknown': (WHOLE, text('{"action":"nosuch","x":[1,2,{"y":null}]}')),
    'route-not-string': (WHOLE, text('{"action":1}') + text('{"action":') + text('[1]')),
    'empty-messages': (WHOLE, text('') + binary(b'') + close()),
    'pipelined': (WHOLE, b''.join(text('m%d' % i) for i in range(20)) + close(1000)),
    'pipelined-bytewise': (0, text('{"action":"echo"}') + text('a') + binary(b'b') +
                           ping(b'p') + close(1000, b'done')),
    'pipelined-3': (2, text('abc') + text('d' * 130) + close(3000)),
    'split-16': (15, text('x' * 200) + binary(b'y' * 256) + close(4000)),
    # Fragmentation.
    'frag-text': (WHOLE, text('one ', fin=False) + cont('two ', fin=False) + cont('three')),
    'frag-ping-between': (WHOLE, text('a', fin=False) + ping(b'mid') + cont('b', fin=False) +
                          pong() + cont('c') + close(1000)),
    'frag-binary-pong': (3, binary(b'\x00\xff', fin=False) + pong(b'x') + cont(b'\xfe')),
    'frag-utf8-split': (WHOLE, text(b'caf\xc3', fin=False) + cont(b'\xa9 \xf0\x9f', fin=False) +
                        cont(b'\x98\x80')),
    'frag-utf8-bad': (WHOLE, text('ok', fin=False) + cont(b'\xed\xa0\x80')),
    'frag-utf8-truncated': (WHOLE, text('ok', fin=False) + cont(b'\xe2\x82')),
    'frag-cont-first': (WHOLE, cont('orphan')),
    'frag-new-inside': (WHOLE, text('a', fin=False) + binary(b'b')),
    'frag-close-between': (WHOLE, text('a', fin=False) + close(1000) + cont('b')),
    'frag-too-big': (WHOLE, b''.join(binary(b'z' * 256, fin=False) if i == 0 else
                                     cont(b'z' * 256, fin=i == 4) for i in range(5))),
    'frag-at-limit': (WHOLE, b''.join(text('z' * 256, fin=False) if i == 0 else
                                      cont('z' * 256, fin=i == 3) for i in range(4))),
    # Masking.
    'unmasked': (WHOLE, text('hello', key=None)),
    'mask-zero': (WHOLE, text('hello', key=b'\0\0\0\0') + close(1000)),
    # Lengths.
    'len16-126': (WHOLE, binary(b'b' * 126) + close(1000)),
    'len16-small': (WHOLE, text('short', length=16)),
    'len64-small': (WHOLE, text('short', length=64)),
    'len16-at-limit': (WHOLE, text('t' * 256)),
    'len16-over-limit': (WHOLE, text('t' * 257)),
    'len64-over-limit': (WHOLE, binary(b'b' * 70000)[:14] + b'b' * 20),
    'len64-top-bit': (WHOLE, b'\x82\xff\x80\x00\x00\x00\x00\x00\x00\x05' + KEY + b'hello'),
    'len-partial': (WHOLE, text('complete') + text('x' * 200)[:30]),
    'header-partial': (WHOLE, b'\x81\xfe\x01'),
    # Reserved bits and opcodes.
    'rsv1': (WHOLE, text('x', rsv=4)),
    'rsv2': (WHOLE, binary(b'x', rsv=2)),
    'rsv3-ping': (WHOLE, frame(0x9, b'x', rsv=1)),
    'opcode-3': (WHOLE, frame(0x3, b'x')),
    'opcode-b': (WHOLE, text('ok') + frame(0xb, b'x')),
    # Control frames.
    'ping-125': (WHOLE, ping(b'p' * 125) + close(1000)),
    'ping-126': (WHOLE, frame(0x9, b'p' * 126)),
    'ping-fragmented': (WHOLE, frame(0x9, b'p', fin=False)),
    'pong-unsolicited': (WHOLE, pong(b'hi') + text('after')),
    'close-fragmented': (WHOLE, frame(0x8, b'\x03\xe8', fin=False)),
    # Close payloads.
    'close-empty': (WHOLE, close()),
    'close-reason': (WHOLE, close(1000, 'au revoir, caf\u00e9'.encode())),
    'close-1byte': (WHOLE, frame(0x8, b'\x03')),
    'close-1005': (WHOLE, close(1005)),
    'close-999': (WHOLE, close(999)),
    'close-4999': (WHOLE, close(4999, b'x' * 123)),
    'close-bad-reason': (WHOLE, close(1000, b'\xc0\xaf')),
    'close-cut-reason': (WHOLE, close(3000, b'cut \xf0\x9f\x98')),
    'after-close': (WHOLE, close(1000) + text('late') + ping(b'late')),
    # UTF-8 in text.
    'utf8-valid': (WHOLE, text('\u00b5 \u03ba\u1f79\u03c3\u03bc\u03b5 \U0001f600 \U0010ffff'
                               .encode()) + close(1000)),
    'utf8-ascii-run': (WHOLE, text('abcdefghijklmnopqrstuvwxyz0123456789' * 3 + '\u00e9')),
    'utf8-overlong': (WHOLE, text(b'\xe0\x80\xaf')),
    'utf8-surrogate': (WHOLE, text(b'a\xed\xbf\xbf')),
    'utf8-above-max': (WHOLE, text(b'\xf4\x90\x80\x80')),
    'utf8-lone-cont': (WHOLE, text(b'abcdefgh\x80')),
    'utf8-binary-ok': (WHOLE, binary(b'\xff\xfe\xc0\x80') + close(1000)),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'ws')
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        if name.startswith('seed-'):
            os.remove(os.path.join(out, name))
    for name, (split, data) in sorted(SEEDS.items()):
        with open(os.path.join(out, 'seed-' + name), 'wb') as f:
            f.write(bytes([split]) + data)
    print('%d seeds in %s' % (len(SEEDS), out))


if __name__ == '__main__':
    main()
