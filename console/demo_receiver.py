"""The demo's call notify receiver: an http and a tcp listener on 127.0.0.1, so the demo never sends off the machine.

`bin/run` starts it (`manage.py demoreceiver`) beside the web server and `seeddemo` points the
demo's call notify items at it (`demo_urls`). It answers every http request 200 and reads every
tcp line, printing one short line per event received. Standard library only.
"""

from __future__ import annotations

import os
import socketserver
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
MAX_BODY = 64 * 1024  # larger http bodies are refused with 413; longer tcp lines are cut
KEEP = 1000  # events kept in memory (received); older ones are dropped
FAILING_PATH = "/always-fails"  # answered 503: the demo's endpoint that is down


def receiver_ports() -> tuple[int, int]:
    """(http port, tcp port) from DEMO_RECEIVER_PORT (default 8001) and DEMO_RECEIVER_TCP_PORT (default http + 1)."""
    http_port = int(os.environ.get("DEMO_RECEIVER_PORT") or 8001)
    return http_port, int(os.environ.get("DEMO_RECEIVER_TCP_PORT") or http_port + 1)


def demo_urls(http_port: int, tcp_port: int) -> dict[str, str]:
    """The demo items' URLs by role: all on 127.0.0.1."""
    return {
        "json": f"http://{HOST}:{http_port}/events",
        "tcp": f"tcp://{HOST}:{tcp_port}",
        "get": f"http://{HOST}:{http_port}/calls?key=demo",
        # Fails on purpose (503 every time), so the dashboard has a failing endpoint to show.
        "failing": f"http://{HOST}:{http_port}{FAILING_PATH}",
    }


class DemoReceiver:
    """Both listeners, in threads; `received` holds the last KEEP arrivals as (protocol, first line of it)."""

    def __init__(self, http_port: int = 0, tcp_port: int = 0, *, echo: Callable[[str], None] | None = None) -> None:
        self.received: deque[tuple[str, str]] = deque(maxlen=KEEP)  # the last KEEP, oldest dropped
        self.lock = threading.Lock()
        self.echo = echo
        receiver = self

        class Http(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                declared = (self.headers.get("Content-Length") or "0").strip()
                if not (declared.isascii() and declared.isdigit()) or len(declared) > 10:
                    return self._refuse(400)  # -1 and the like: a read of it would wait for the end of the stream
                length = int(declared)
                if length > MAX_BODY:
                    return self._refuse(413)  # over the limit: refused unread, not kept in memory
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                failing = self.path.startswith(FAILING_PATH)
                receiver._record("failing" if failing else "http", f"{self.command} {self.path} {body}".strip())
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _refuse(self, status: int) -> None:
                self.close_connection = True
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass  # _record prints one line per event instead

        class Tcp(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for line in self.rfile:
                    receiver._record("tcp", line[:MAX_BODY].decode("utf-8", "replace").strip())

        class ThreadingTcp(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.http = ThreadingHTTPServer((HOST, http_port), Http)
        self.http.daemon_threads = True
        self.tcp = ThreadingTcp((HOST, tcp_port), Tcp)
        self.http_port, self.tcp_port = self.http.server_address[1], self.tcp.server_address[1]

    def _record(self, protocol: str, text: str) -> None:
        with self.lock:
            self.received.append((protocol, text))
        if self.echo is not None:
            self.echo(f"demo receiver got {protocol}: {text[:160]}")

    def start(self) -> "DemoReceiver":
        for server in (self.http, self.tcp):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in (self.http, self.tcp):
            server.shutdown()
            server.server_close()
