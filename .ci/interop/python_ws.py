"""Interoperability with Python's `websockets`, compression on.

  python python_ws.py client ws://127.0.0.1:PORT/   # websockets client against ws_echo
  python python_ws.py server                         # websockets echo server; prints its URL

client: echoes text and binary messages of 0 B to 4 MiB through the server
and checks that they come back intact and that permessage-deflate was
negotiated. The last line is "interop-python: N passed, M failed"; the exit
status is 1 if any failed.

server: an echo server with websockets' default compression, for our own
client (examples/ws_interop.rs). It answers every text or binary message
with the same message, and a text message "extensions?" with the
extension it negotiated. Runs until killed.
"""

import os
import sys

from websockets.sync.client import connect
from websockets.sync.server import serve

SIZES = [0, 1, 125, 126, 1000, 65535, 65536, 1 << 20, 4 << 20]


def json_like(n):
    unit = '{"nick":"ada","text":"hello, compressed world","seq":12345}\n'
    return (unit * (n // len(unit) + 1))[:n]


def client(url):
    passed = failed = 0

    def check(name, fn):
        nonlocal passed, failed
        try:
            fn()
            passed += 1
            print(f"ok   {name}")
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failed += 1
            print(f"FAIL {name}: {e!r}")

    def negotiated():
        with connect(url, max_size=None, open_timeout=10) as ws:
            ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert ext.startswith("permessage-deflate"), f"extensions: {ext!r}"

    def echo(kind):
        def run():
            with connect(url, max_size=None, open_timeout=10) as ws:
                for n in SIZES:
                    sent = json_like(n) if kind == "text" else os.urandom(n)
                    ws.send(sent)
                    got = ws.recv(timeout=20)
                    assert got == sent, f"{kind} message of {n} bytes differs"
                    # Repetitive text is sent compressed both ways.
                    if kind == "text" and n >= 1000:
                        ws.send(json_like(n))
                        assert ws.recv(timeout=20) == json_like(n)
        return run

    check("permessage-deflate is negotiated", negotiated)
    check("text messages of 0 B to 4 MiB come back intact", echo("text"))
    check("binary messages of 0 B to 4 MiB come back intact", echo("binary"))
    print(f"interop-python: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def server():
    def handler(ws):
        for message in ws:
            if message == "extensions?":
                ws.send(ws.request.headers.get("Sec-WebSocket-Extensions", "") + " -> " +
                        ws.response.headers.get("Sec-WebSocket-Extensions", ""))
            else:
                ws.send(message)

    with serve(handler, "127.0.0.1", 0, max_size=None) as srv:
        port = srv.socket.getsockname()[1]
        print(f"ws://127.0.0.1:{port}/", flush=True)
        srv.serve_forever()


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"] and len(sys.argv) == 3:
        sys.exit(client(sys.argv[2]))
    if sys.argv[1:] == ["server"]:
        server()
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
