"""Slow clients against route look-ups, with and without the shipped nginx in front (issue 19).

    .venv/bin/python bench/slowloris.py [--phases direct,nginx] [--connections 100] [--lookups 200]
    .venv/bin/python bench/slowloris.py --phases nginx --check 5.0     # what .ci/ops runs

It makes a fresh SQLite database with 1,000 rules and a service account's API key, starts gunicorn
(the production config, 2 workers x 4 threads) on 127.0.0.1, and for each phase:

- opens --connections slow clients that never finish a request: half send request headers a few
  bytes at a time, half send a POST's headers and then its body a byte at a time; whenever the
  server closes one, another is opened, so the attack keeps its size for the whole phase;
- meanwhile makes --lookups route look-ups one after the other, each over a fresh connection,
  with a 10 s timeout, and prints p50, p99 and the worst, with the look-ups that timed out.

Phase `direct` sends everything straight to gunicorn (the "before"), phase `nginx` through a real
nginx (Debian's) running deploy/nginx/telecomx.conf on 127.0.0.1 with a self-signed certificate
(the "after"). The baseline of each phase is the same look-ups without slow clients, measured in
the same run, so the ratio says what the slow clients cost. `--check SECONDS` exits 1 unless
every look-up through nginx answered 200 and p99 under slow clients stayed below SECONDS. Only
127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import PYTHON, SETUP, free_port, prepare_database, start_server  # noqa: E402

ROUTE = "/api/sbc/route?bnumber=%2B4500421234&anumber=%2B4512345678"
LOOKUP_TIMEOUT = 10.0


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # our own self-signed certificate on 127.0.0.1
    return context


def _connect(port: int, tls: bool, timeout: float) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return _context().wrap_socket(sock, server_hostname="127.0.0.1") if tls else sock


class SlowClients:
    """--connections requests that never end, closed ones replaced until stop(). They run in a
    process of their own, so that their threads do not slow down the look-ups being measured."""

    def __init__(self, port: int, tls: bool, count: int) -> None:
        self.port, self.tls, self.count = port, tls, count
        self.stopping = multiprocessing.Event()
        self.opened = multiprocessing.Value("i", 0)
        self.process = multiprocessing.Process(target=self._main, daemon=True)

    def start(self) -> None:
        self.process.start()
        time.sleep(3.0)  # every slow client has connected and begun its request

    def stop(self) -> None:
        self.stopping.set()
        self.process.join(timeout=10)

    def _main(self) -> None:
        threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _run(self, n: int) -> None:
        # Started over two seconds, not at once: their reconnections (nginx drops a request whose
        # headers take more than client_header_timeout) then come spread out as a real attack's.
        self.stopping.wait(2.0 * n / self.count)
        while not self.stopping.is_set():
            try:
                sock = _connect(self.port, self.tls, 5)
            except OSError:
                self.stopping.wait(0.2)
                continue
            with self.opened.get_lock():
                self.opened.value += 1
            try:
                if n % 2:  # headers that never end
                    sock.sendall(f"GET {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
                    while not self.stopping.wait(1.0):
                        sock.sendall(b"X-a: b\r\n")
                else:  # a body that never ends
                    sock.sendall(b"POST /api/callevent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 100000\r\n\r\n{")
                    while not self.stopping.wait(1.0):
                        sock.sendall(b" ")
            except OSError:
                pass  # the server closed it: open another
            finally:
                sock.close()


def lookups(port: int, tls: bool, key: str, count: int, budget: float) -> tuple[list[float], int, int]:
    """Latencies of `count` look-ups over fresh connections (a timed-out one counts as the timeout),
    how many did not answer 200, and how many were not tried because `budget` seconds ran out."""
    request = f"GET {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n".encode()
    latencies, failed = [], 0
    deadline = time.monotonic() + budget
    for n in range(count):
        if time.monotonic() > deadline:
            return latencies, failed, count - n
        started = connected = time.perf_counter()
        try:
            sock = _connect(port, tls, LOOKUP_TIMEOUT)
            connected = time.perf_counter()
            sock.settimeout(max(0.1, LOOKUP_TIMEOUT - (time.perf_counter() - started)))
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            sock.close()
            ok = answer.startswith(b"HTTP/1.1 200")
        except OSError:  # timeout, reset
            ok = False
        latencies.append(min(time.perf_counter() - started, LOOKUP_TIMEOUT))
        if os.environ.get("SLOWLORIS_DEBUG") and latencies[-1] > 0.5:
            print(f"slow look-up {n}: {latencies[-1]:.3f} s connected after {connected - started:.3f} s", flush=True)
        failed += not ok
    return latencies, failed, 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def start_nginx(workdir: Path, upstream: int) -> tuple[subprocess.Popen, int]:
    """Debian's nginx with deploy/nginx/telecomx.conf, changed only where a test must: ports on
    127.0.0.1, the upstream's port, a self-signed certificate, paths in `workdir`."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx is not installed (apt-get install nginx)")
    http_port, https_port = free_port(), free_port()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", workdir / "tls.key", "-out", workdir / "tls.pem"], check=True, capture_output=True)
    site = (ROOT / "deploy/nginx/telecomx.conf").read_text()
    for old, new in [
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};"),
        ("    listen [::]:80;\n", ""),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("/etc/ssl/certs/backoffice.example.net.pem", str(workdir / "tls.pem")),
        ("/etc/ssl/private/backoffice.example.net.key", str(workdir / "tls.key")),
        ("/var/log/nginx/telecomx.access.log", str(workdir / "nginx-access.log")),
        ("/opt/telecomx/var/static/", str(workdir / "static") + "/"),
    ]:
        if old not in site:
            raise SystemExit(f"deploy/nginx/telecomx.conf changed: {old!r} not found; update bench/slowloris.py")
        site = site.replace(old, new)
    (workdir / "telecomx.conf").write_text(site)
    temp = workdir / "nginx-temp"
    temp.mkdir(mode=0o777, exist_ok=True)
    temp.chmod(0o777)  # nginx's workers run as nobody when started by root
    (workdir / "nginx.conf").write_text(f"""
daemon off;
worker_processes auto;  # as Debian's /etc/nginx/nginx.conf
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {workdir}/telecomx.conf;
}}
""")
    command = [nginx, "-e", str(workdir / "nginx-error.log"), "-c", str(workdir / "nginx.conf")]
    check = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
    if check.returncode:
        raise SystemExit(f"nginx -t failed:\n{check.stderr}")
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            _connect(https_port, True, 0.5).close()
            return proc, https_port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("nginx did not start: " + (workdir / "nginx-error.log").read_text())


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", default="direct,nginx")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--calm", type=int, help="look-ups of the baseline without slow clients (default: --lookups)")
    parser.add_argument("--budget", type=float, default=60, help="seconds at most for one phase's look-ups")
    parser.add_argument("--check", type=float, metavar="SECONDS", help="exit 1 unless nginx's p99 under slow clients < SECONDS")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="telecomx-slowloris-"))
    env = prepare_database("sqlite", workdir)
    env["TRUSTED_PROXIES"] = "1"  # what the shipped nginx config is for
    env["LOG_LEVEL"] = "WARNING"
    setup = json.loads(subprocess.run([PYTHON, "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout)
    port = free_port()
    server = start_server(env, port)
    nginx = None
    rows, failures = [], []
    try:
        for phase in args.phases.split(","):
            if phase == "nginx":
                nginx, target, tls = (*start_nginx(workdir, port), True)
            else:
                target, tls = port, False
            lookups(target, tls, setup["key"], 20, 30)  # warm-up: every worker has its index
            calm, calm_failed, _ = lookups(target, tls, setup["key"], args.calm or args.lookups, args.budget)
            slow = SlowClients(target, tls, args.connections)
            slow.start()
            try:
                loaded, loaded_failed, untried = lookups(target, tls, setup["key"], args.lookups, args.budget)
            finally:
                slow.stop()
            p99_calm, p99 = percentile(calm, 0.99), percentile(loaded, 0.99)
            rows.append((phase, len(calm), percentile(calm, 0.5), p99_calm, len(loaded), loaded_failed + untried,
                         percentile(loaded, 0.5), p99, max(loaded), slow.opened.value))
            if phase == "nginx" and args.check is not None:
                if calm_failed or loaded_failed or untried:
                    failures.append(f"{calm_failed + loaded_failed + untried} look-ups through nginx did not answer 200")
                if p99 >= args.check:
                    failures.append(f"p99 through nginx under {args.connections} slow clients was {p99:.3f} s (limit {args.check} s)")
    finally:
        if nginx is not None:
            stop(nginx)
        stop(server)
    print(f"{args.connections} slow clients, {args.lookups} route look-ups over fresh connections, {os.cpu_count()} cores")
    print("| phase | calm look-ups | calm p50 ms | calm p99 ms | look-ups under slow clients | not answered | p50 ms | p99 ms | worst ms | p99 / calm p99 | slow connections opened |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for phase, n_calm, p50c, p99c, n, bad, p50, p99, worst, opened in rows:
        print(f"| {phase} | {n_calm} | {p50c * 1000:.1f} | {p99c * 1000:.1f} | {n} | {bad} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | "
              f"{worst * 1000:.1f} | {p99 / p99c:.1f} | {opened} |")
    shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        print("FAILED: " + "; ".join(failures))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
