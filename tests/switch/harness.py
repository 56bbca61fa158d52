"""A whole switch on loopback for the `switch` tests and bench/switch.py: the API under gunicorn
(its own SQLite database in a temporary directory), a door in front of it that counts connections
and requests and can refuse call event posts, Kamailio with integrations/kamailio/kamailio.cfg, and
a call notify receiver — each a real process or socket on 127.0.0.x, on ports the system picked."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "integrations" / "kamailio" / "kamailio.cfg"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
PYTHON = sys.executable
PACKAGES = "kamailio kamailio-utils-modules kamailio-extra-modules kamailio-sqlite-modules"


def missing_kamailio() -> str | None:
    """Why Kamailio cannot run here, or None."""
    if shutil.which("kamailio") is None:
        return f"kamailio is not installed (apt-get install {PACKAGES})"
    for module in ("http_client.so", "jansson.so", "db_sqlite.so"):
        if not any(Path(p).joinpath(module).exists() for p in (MODULES, Path("/usr/lib/kamailio/modules"), Path("/usr/lib64/kamailio/modules"))):
            return f"kamailio module {module} is missing (apt-get install {PACKAGES})"
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host` (SIP listens on both), as the system picks it."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
        return port


def wait_for_port(host: str, port: int, timeout: float = 20, udp: bool = False) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if udp:
            out = subprocess.run(["ss", "-Hlun", f"src {host}:{port}"], capture_output=True, text=True).stdout
            if out.strip():
                return
        else:
            try:
                with socket.create_connection((host, port), timeout=0.2):
                    return
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port}")


class Api:
    """The product under gunicorn on 127.0.0.1 (a free port), with the operator and its ADMIN's token."""

    def __init__(self, workdir: Path, port: int = 0, *, workers: int = 2, extra_env: dict[str, str] | None = None) -> None:
        self.port = port = port or free_port()
        self.env = {
            **os.environ, "DJANGO_SETTINGS_MODULE": "telecomx.settings", "TELECOMX_DATA_DIR": str(workdir),
            "CALLNOTIFY_ALLOWED_NETWORKS": "127.0.0.0/8", "CALLNOTIFY_IN_PROCESS": "on", "API_RATE_USER": "10000000/min",
            "LOG_LEVEL": "WARNING", "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers), **(extra_env or {}),
        }
        self.env.pop("DATABASE_URL", None)
        self.env.pop("CELERY_BROKER_URL", None)
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env, check=True)
        setup = (
            "import django; django.setup()\n"
            "from accounts.models import AccessLevel, Customer, Employee, Token\n"
            "operator = Customer.objects.create(name='Operator', is_reseller=True, is_operator=True)\n"
            "admin = Employee.objects.create_user('admin@operator.example', None, customer=operator, access_level=AccessLevel.ADMIN)\n"
            "print(Token.objects.issue(admin, persist=True)[1])\n"
        )
        done = subprocess.run([PYTHON, "-c", setup], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True)
        self.token = done.stdout.strip().splitlines()[-1]
        self.log = open(workdir / "gunicorn.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(Path(PYTHON).parent / "gunicorn"), "-c", "telecomx/gunicorn.conf.py", "telecomx.wsgi"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for_port("127.0.0.1", port)

    def python(self, code: str) -> str:
        """Run `code` with Django set up against this API's database; its last printed line."""
        done = subprocess.run([PYTHON, "-c", "import django; django.setup()\n" + code], cwd=ROOT, env=self.env,
                              check=True, capture_output=True, text=True)
        return (done.stdout.strip().splitlines() or [""])[-1]

    def customer(self, name: str, **fields: object) -> str:
        """A new customer (there is no API for customers): its id."""
        return self.python(f"from accounts.models import Customer\nprint(Customer.objects.create(name={name!r}, **{fields!r}).pk)")

    def call(self, method: str, path: str, body: object = None, token: str | None = None) -> tuple[int, object]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Authorization": f"Bearer {token or self.token}", "Content-Type": "application/json"}
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, (json.loads(data) if data else None)

    def ok(self, method: str, path: str, body: object = None) -> object:
        status, data = self.call(method, path, body)
        assert status in (200, 201, 202), (method, path, status, data)
        return data

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


class Kamailio:
    """kamailio -DD with the shipped configuration and `defines` (-A NAME=value), listening on
    `sip` (default: 127.0.0.1 and a free port); its pending call events in its own directory."""

    def __init__(self, workdir: Path, name: str, defines: dict[str, str], sip: tuple[str, int] | None = None) -> None:
        self.sip = sip = sip or ("127.0.0.1", free_port())
        self.rundir = rundir = workdir / f"kamailio-{name}"
        rundir.mkdir(exist_ok=True)
        self.args = ["kamailio", "-DD", "-E", "-f", str(CONFIG), "-Y", str(rundir), "-w", str(rundir), "-m", "64", "-M", "16"]
        defines = {
            "SIP_LISTEN": f"udp:{sip[0]}:{sip[1]}", "SIP_LISTEN_TCP": f"tcp:{sip[0]}:{sip[1]}", "SIP_WORKERS": "4",
            "EVENT_DB": f'"{rundir / "events.sqlite"}"', **defines,
        }
        for key, value in defines.items():
            self.args += ["-A", f"{key}={value}"]
        self.log_path = rundir / "kamailio.log"
        self.start()

    def start(self) -> None:
        self.log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_port(self.sip[0], self.sip[1], udp=True)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"kamailio did not start:\n{self.log_path.read_text()[-3000:]}") from None

    def kill(self) -> None:
        """kill -9 of every Kamailio process: nothing is flushed, nothing shuts down."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the children die with the group; the socket frees
            if not subprocess.run(["ss", "-Hlun", f"src {self.sip[0]}:{self.sip[1]}"], capture_output=True, text=True).stdout.strip():
                return
            time.sleep(0.05)

    def pending_events(self) -> int:
        """Call events waiting on disk (read with Python's sqlite3, beside Kamailio)."""
        import sqlite3

        with sqlite3.connect(self.rundir / "events.sqlite", timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


class Receiver(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that keeps every JSON object POSTed to it (each item of an
    array). `script`: the statuses to answer, in order (then 202); an array is answered as the
    call event API does, one result per item. GET answers `get_body`."""

    daemon_threads = True

    def __init__(self, port: int = 0, script: list[int] | None = None, get_body: object = None) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.script = list(script or [])
        self.get_body = get_body
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _ReceiverHandler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def wait_for(self, predicate, timeout: float = 15) -> bool:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(list(self.bodies)):
                    return True
            time.sleep(0.05)
        return False


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        with self.server.lock:
            self.server.paths.append(self.path)
        self._answer(200, self.server.get_body)

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        items = body if isinstance(body, list) else [body]
        with self.server.lock:
            status = self.server.script.pop(0) if self.server.script else 202
            self.server.paths.append(self.path)
            if status < 300:
                extra = {"_auth": self.headers.get("Authorization"), "_type": self.headers.get("Content-Type"), "_batch": len(items)}
                self.server.bodies.extend({**item, **extra} for item in items)
        if status >= 300:
            self._answer(status, {"error": {"code": "unavailable", "status": status, "message": "Service temporarily unavailable"}})
        else:
            self._answer(status, [{"_id": f"{n:024x}", "sequence": 1, "deliveries": 0} for n, _ in enumerate(items)])


class Door(ThreadingHTTPServer):
    """The API's front door on 127.0.0.1 (a free port): passes every request to the API on
    `upstream` with HTTP/1.1 keep-alive on both sides, and counts what came through it —
    `connections` opened to it, `requests` as (method, path, status). While `events_down` is
    set, call event posts are answered 503 without reaching the API (the API is down for them)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.connections = 0
        self.requests: list[tuple[str, str, int]] = []
        self.events_down = False
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _DoorHandler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, method: str, prefix: str, status: int | None = None) -> int:
        with self.lock:
            return sum(m == method and p.startswith(prefix) and status in (None, s) for m, p, s in self.requests)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _DoorHandler(BaseHTTPRequestHandler):
    server: Door
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1
        self.upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        super().finish()
        if self.upstream is not None:
            self.upstream.close()

    def _pass(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.command == "POST" and self.path.startswith("/api/callevent") and self.server.events_down:
            status, headers, data = 503, [("Content-Type", "application/json"), ("Retry-After", "1")], b'{"error": {"code": "unavailable"}}'
        else:
            headers_out = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type", "accept")}
            for attempt in (1, 2):
                if self.upstream is None:
                    self.upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=30)
                try:
                    self.upstream.request(self.command, self.path, body=body or None, headers=headers_out)
                    response = self.upstream.getresponse()
                    data = response.read()
                    break
                except (http.client.HTTPException, OSError):
                    self.upstream.close()
                    self.upstream = None  # the API closed an idle kept-alive connection: once more
                    if attempt == 2:
                        raise
            status = response.status
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in ("connection", "content-length", "transfer-encoding", "keep-alive")]
        with self.server.lock:
            self.server.requests.append((self.command, self.path, status))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _pass  # noqa: N815
