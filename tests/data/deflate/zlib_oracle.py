#!/usr/bin/env python3
"""zlib, through Python's standard zlib module, as an independent DEFLATE
implementation to check wirelab's against (tests/deflate.rs).

Two uses:

  python3 tests/data/deflate/zlib_oracle.py vectors > tests/data/deflate/zlib_vectors.txt
      Writes known vectors: zlib's raw DEFLATE output (negative wbits) for
      inputs made below from fixed seeds, with the length and SHA-1 of what
      each must inflate to. The committed file was made this way; any zlib
      version gives valid vectors, if not the same bytes.

  python3 tests/data/deflate/zlib_oracle.py check DIR
      The live test: DIR/manifest lists cases written by the Rust test. For
      each, inflates wirelab's output with zlib and compares it with the
      original, then compresses the original with zlib (same window bits,
      level and flush) for the Rust side to inflate. Prints "ok N" or
      "FAIL N why" per case, and zlib's compressed size.

Files of a case N: N.in (the messages), N.ours (wirelab's payloads) and,
written here, N.zlib; each holds length-prefixed items (4 bytes, little
endian, then the bytes). A "stream" case has one item, a whole raw DEFLATE
stream with a final block; a "messages" case has one item per WebSocket
message, each compressed with a sync flush and the 00 00 ff ff tail removed
(RFC 7692 section 7.2.1), with or without context takeover.
"""
import base64
import hashlib
import struct
import sys
import zlib

TAIL = b"\x00\x00\xff\xff"


def read_items(path):
    data = open(path, "rb").read()
    items, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from("<I", data, i)
        items.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return items


def write_items(path, items):
    with open(path, "wb") as f:
        for item in items:
            f.write(struct.pack("<I", len(item)) + item)


def compress_stream(data, level, wbits, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits, 8, strategy)
    return c.compress(data) + c.flush()


def compress_messages(messages, level, wbits, takeover):
    c, out = None, []
    for m in messages:
        if c is None or not takeover:
            c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
        payload = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
        assert payload.endswith(TAIL)
        out.append(payload[:-4])
    return out


def inflate_messages(payloads, wbits, takeover):
    d, out = None, []
    for p in payloads:
        if d is None or not takeover:
            d = zlib.decompressobj(-wbits)
        out.append(d.decompress(p + TAIL))
    return out


def check(directory):
    failures = 0
    for line in open(f"{directory}/manifest"):
        n, kind, wbits, level, takeover = line.split()
        wbits, level, takeover = int(wbits), int(level), takeover == "1"
        originals = read_items(f"{directory}/{n}.in")
        ours = read_items(f"{directory}/{n}.ours")
        try:
            if kind == "stream":
                d = zlib.decompressobj(-wbits)
                back = [d.decompress(ours[0]) + d.flush()]
                if not d.eof:
                    raise ValueError("no final block")
                if d.unused_data:
                    raise ValueError(f"{len(d.unused_data)} bytes after the final block")
                theirs = [compress_stream(originals[0], level, max(wbits, 9))]
            else:
                back = inflate_messages(ours, wbits, takeover)
                theirs = compress_messages(originals, level, max(wbits, 9), takeover)
            if back != originals:
                raise ValueError("inflates to different bytes")
            write_items(f"{directory}/{n}.zlib", theirs)
            print(f"ok {n} {sum(map(len, theirs))}")
        except Exception as e:  # report every case, then fail
            failures += 1
            print(f"FAIL {n} {type(e).__name__}: {e}")
    return failures


class Lcg:
    """A fixed pseudo-random sequence, so the vectors never change."""

    def __init__(self, seed):
        self.x = seed

    def next(self):
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) % 2**64
        return self.x >> 33


WORDS = (
    "the of and to a in is that it for on as with was by at from this an be or are which "
    "socket server client message frame window byte stream block code length distance "
    "compress inflate deflate header window browser connection close ping pong text"
).split()


def text(n, seed):
    r, out = Lcg(seed), []
    size = 0
    while size < n:
        w = WORDS[r.next() % len(WORDS)]
        if r.next() % 9 == 0:
            w = w.capitalize() + ("." if r.next() % 2 else ",")
        out.append(w)
        size += len(w) + 1
    return " ".join(out).encode()[:n]


def random_bytes(n, seed):
    r = Lcg(seed)
    return bytes(r.next() & 0xFF for _ in range(n))


def skewed(n, seed):
    """Byte i about twice as rare as byte i - 1: Huffman codes up to the
    15-bit limit, and beyond it unless limited."""
    r = Lcg(seed)
    out = bytearray()
    for _ in range(n):
        x, b = r.next(), 0
        while x & 1 and b < 40:
            x >>= 1
            b += 1
        out.append(b)
    return bytes(out)


def chat(count, seed):
    r = Lcg(seed)
    nicks = ["ada", "grace", "linus", "radia"]
    out = []
    for i in range(count):
        words = " ".join(WORDS[r.next() % len(WORDS)] for _ in range(1 + r.next() % 12))
        nick = nicks[r.next() % len(nicks)]
        out.append(
            f'{{"type":"message","id":{i + 1},"nick":"{nick}","text":"{words}","ts":{1732450000000 + 997 * i}}}'.encode()
        )
    return out


def vector(kind, name, wbits, extra, expected, payload):
    digest = hashlib.sha1(expected).hexdigest()
    b64 = base64.b64encode(payload).decode() or "-"
    print(f"{kind} {name} {wbits} {extra}{len(expected)} {digest} {b64}")


def vectors():
    print("# zlib", zlib.ZLIB_RUNTIME_VERSION, "raw DEFLATE vectors, made by tests/data/deflate/zlib_oracle.py vectors")
    print("# stream NAME WBITS LEN SHA1 BASE64: a whole stream inflating to LEN bytes with that SHA-1")
    print("# message NAME WBITS TAKEOVER INDEX LEN SHA1 BASE64: one payload of a message sequence")
    t = text(8000, 1)
    for level in range(10):
        vector("stream", f"text-level{level}", 15, "", t, compress_stream(t, level, 15))
    for wbits in (9, 10, 12):
        for level in (1, 9):
            big = text(12000, wbits)
            vector("stream", f"text-wbits{wbits}-level{level}", wbits, "", big, compress_stream(big, level, wbits))
    for name, data in [
        ("random", random_bytes(3000, 2)),
        ("runs", b"a" * 70000 + b"ab" * 20000 + bytes(range(256)) * 40),
        ("skewed", skewed(20000, 3)),
        ("empty", b""),
    ]:
        vector("stream", name, 15, "", data, compress_stream(data, 6, 15))
    for name, strategy in [("huffman-only", zlib.Z_HUFFMAN_ONLY), ("rle", zlib.Z_RLE), ("fixed", zlib.Z_FIXED)]:
        vector("stream", name, 15, "", t, compress_stream(t, 6, 15, strategy))
    # One stream, flushed in the middle in each of zlib's ways.
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    parts = [text(3000, 4), text(3000, 5), text(3000, 6), text(3000, 7)]
    flushed = c.compress(parts[0]) + c.flush(zlib.Z_SYNC_FLUSH) + c.compress(parts[1])
    flushed += c.flush(zlib.Z_FULL_FLUSH) + c.compress(parts[2]) + c.flush(zlib.Z_PARTIAL_FLUSH)
    flushed += c.compress(parts[3]) + c.flush()
    vector("stream", "flushes", 15, "", b"".join(parts), flushed)
    messages = chat(40, 8)
    for wbits, takeover in [(15, 1), (9, 1), (15, 0)]:
        name = f"chat-wbits{wbits}-takeover{takeover}"
        payloads = compress_messages(messages, 6, wbits, takeover)
        for i, (m, p) in enumerate(zip(messages, payloads)):
            vector("message", name, wbits, f"{takeover} {i} ", m, p)


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "vectors":
        vectors()
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        sys.exit(1 if check(sys.argv[2]) else 0)
    else:
        sys.exit(__doc__)
