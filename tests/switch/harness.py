"""A whole switch on loopback for the `switch` tests and bench/switch.py: the API under gunicorn
(its own SQLite database in a temporary directory), Kamailio with integrations/kamailio/kamailio.cfg,
and a call notify receiver — each a real process or socket on 127.0.0.x."""

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


def missing_kamailio() -> str | None:
    """Why Kamailio cannot run here, or None."""
    if shutil.which("kamailio") is None:
        return "kamailio is not installed (apt-get install kamailio kamailio-utils-modules kamailio-extra-modules)"
    for module in ("http_client.so", "jansson.so"):
        if not any(Path(p).joinpath(module).exists() for p in (MODULES, Path("/usr/lib/kamailio/modules"), Path("/usr/lib64/kamailio/modules"))):
            return f"kamailio module {module} is missing (apt-get install kamailio-utils-modules kamailio-extra-modules)"
    return None


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
    """The product under gunicorn on 127.0.0.1:`port`, with an ADMIN token."""

    def __init__(self, workdir: Path, port: int, *, workers: int = 2, extra_env: dict[str, str] | None = None) -> None:
        self.port = port
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
            "operator = Customer.objects.create(name='Operator', is_reseller=True)\n"
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
    """kamailio -DD with the shipped configuration and `defines` (-A NAME=value)."""

    def __init__(self, workdir: Path, name: str, defines: dict[str, str], sip: tuple[str, int]) -> None:
        self.sip = sip
        rundir = workdir / f"kamailio-{name}"
        rundir.mkdir(exist_ok=True)
        args = ["kamailio", "-DD", "-E", "-f", str(CONFIG), "-Y", str(rundir), "-w", str(rundir), "-m", "64", "-M", "16"]
        defines = {"SIP_LISTEN": f"udp:{sip[0]}:{sip[1]}", "SIP_LISTEN_TCP": f"tcp:{sip[0]}:{sip[1]}", "SIP_WORKERS": "4", **defines}
        for key, value in defines.items():
            args += ["-A", f"{key}={value}"]
        self.log_path = rundir / "kamailio.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_port(sip[0], sip[1], udp=True)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"kamailio did not start:\n{self.log_path.read_text()[-3000:]}") from None

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
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it. `script`: the
    statuses to answer, in order (then 200); GET answers `get_body`."""

    daemon_threads = True

    def __init__(self, port: int, script: list[int] | None = None, get_body: object = None) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.script = list(script or [])
        self.get_body = get_body
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _ReceiverHandler)
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
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            status = self.server.script.pop(0) if self.server.script else 200
            self.server.paths.append(self.path)
            if status < 300:
                self.server.bodies.append({**json.loads(body), "_auth": self.headers.get("Authorization"), "_type": self.headers.get("Content-Type")})
        self._answer(status, {"ok": status < 300})
