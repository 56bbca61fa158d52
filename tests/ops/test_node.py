"""One node as systemd runs it: gunicorn (2 workers, the production config) and a Celery worker
sharing PROMETHEUS_MULTIPROC_DIR, logging JSON; a local sink receives the deliveries. Run by
.ci/ops (pytest -m ops) after it installed Debian's prometheus.

- GET /metrics counts every process: 200 look-ups over fresh connections raise the look-up
  counter by exactly 200 whichever worker answered, and 50 events posted and delivered (by the
  Celery worker) raise ingestion and delivery counters by 50 each; /api/metrics agrees, from
  whichever worker answers it.
- promtool finds nothing wrong in a real scrape; a real Prometheus on 127.0.0.1 scrapes the node
  under load, loads the alert rules (each evaluates without error) and answers every panel query
  of the Grafana board and every alert expression, with data.
- X-Request-ID comes back, and the request's and its delivery's log lines (gunicorn's and
  Celery's) are JSON with timestamp, level and that id; no secret of the scenario is in any log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import uuid
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import REDIS_URL, Sink, _SinkHandler, free_port, wait_for

pytestmark = pytest.mark.ops
ROOT = Path(__file__).resolve().parents[2]
ROUTE = "/api/sbc/route?bnumber=%2B4570305050"
METRICS_TOKEN = "metrics-token-7f3a9c"  # a value that must never be logged


class Node:
    def __init__(self, base: Path, sink_port: int) -> None:
        self.base = base
        self.port = free_port()
        self.metrics_dir = base / "metrics"
        self.metrics_dir.mkdir()
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        client.ping()
        client.flushdb()
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{base / 'db.sqlite3'}",
            "TELECOMX_DATA_DIR": str(base),
            "CELERY_BROKER_URL": REDIS_URL,
            "CELERY_TASK_DEFAULT_QUEUE": f"ops-{uuid.uuid4().hex[:8]}",  # never a queue an earlier run's worker still reads
            "CALLNOTIFY_ALLOWED_NETWORKS": "127.0.0.0/8",
            # Hints carry the deliveries; the sweep catches any the broker lost, within seconds here.
            "CALLNOTIFY_SWEEP_SECONDS": "2",
            "CALLNOTIFY_SWEEP_GRACE_SECONDS": "2",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "METRICS_TOKEN": METRICS_TOKEN,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "DEBUG",  # every line any library writes is scanned for secrets
            "WEB_ACCESS_LOG": "1",
            "API_RATE_USER": "100000/min",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        out = subprocess.run([sys.executable, "-m", "tests.scaleout_driver", str(sink_port)], cwd=ROOT, env=self.env,
                             check=True, capture_output=True, text=True, timeout=120)
        self.setup = json.loads(out.stdout.strip().splitlines()[-1])
        self.web_log, self.worker_log = base / "web.log", base / "worker.log"
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.processes = [
            subprocess.Popen([gunicorn, "-c", "telecomx/gunicorn.conf.py", "telecomx.wsgi"], cwd=ROOT,
                             env={**self.env, "BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": "2", "WEB_THREADS": "4"},
                             start_new_session=True, stdout=subprocess.DEVNULL, stderr=self.web_log.open("w")),
            subprocess.Popen([sys.executable, "-m", "celery", "-A", "telecomx", "worker", "-c", "2", "-n", "ops@%h",
                              "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "DEBUG",
                              "-Q", self.env["CELERY_TASK_DEFAULT_QUEUE"]],
                             cwd=ROOT, env=self.env, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=self.worker_log.open("w")),
        ]
        assert wait_for(self._up, 30), "gunicorn did not start: " + self.web_log.read_text()[-3000:]

    def _up(self) -> bool:
        try:
            return self.get("/api/health", token="")[0] == 200
        except OSError:
            return False

    def stop(self) -> None:
        for process in self.processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def request(self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None,
                token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
        """One request over a fresh connection (urllib opens one per request)."""
        headers = {"Content-Type": "application/json", **(headers or {})}
        token = token if token is not None else self.setup["token"]
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
        return self.request("GET", path, token=token)

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, body, headers = self.get("/metrics", token="")
        assert status == 200, body
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(body.decode()) for s in family.samples}

    def post_event(self, n: int | str, headers: dict[str, str] | None = None) -> tuple[int, dict, dict[str, str]]:
        status, body, answer_headers = self.request("POST", "/api/callevent", {
            "callId": f"ops-{n}", "customer": self.setup["customer"], "type": "SIP", "direction": "OUTBOUND",
            "state": "RINGING", "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z",
        }, headers=headers)
        return status, json.loads(body), answer_headers


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and all((k, v2) in ls for k, v2 in labels.items()))


class _SigningSink(_SinkHandler):
    def do_POST(self) -> None:  # noqa: N802
        if self.headers.get("webhook-signature"):
            self.server.signatures.append(self.headers["webhook-signature"])  # type: ignore[attr-defined]
        super().do_POST()


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    server = Sink()
    server.RequestHandlerClass = _SigningSink
    server.signatures = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, sink: Sink) -> Iterator[Node]:
    node = Node(tmp_path_factory.mktemp("node"), sink.server_address[1])
    try:
        yield node
    finally:
        node.stop()


def test_one_scrape_counts_every_process(node: Node, sink: Sink) -> None:
    before = node.scrape()
    for _ in range(200):
        status, body, _ = node.get(ROUTE)
        assert status == 200, body
    after = node.scrape()
    assert total(after, "telecomx_route_lookups_total") - total(before, "telecomx_route_lookups_total") == 200
    assert total(after, "telecomx_route_lookups_total", reason="default") - total(before, "telecomx_route_lookups_total", reason="default") == 200
    assert (total(after, "telecomx_http_requests_total", view="sbc-route", status_class="2xx")
            - total(before, "telecomx_http_requests_total", view="sbc-route", status_class="2xx")) == 200
    assert (total(after, "telecomx_route_lookup_duration_seconds_count")
            - total(before, "telecomx_route_lookup_duration_seconds_count")) == 200

    # /api/metrics: the same node-wide count, whichever worker answers it.
    answers = set()
    for _ in range(30):
        status, body, _ = node.get("/api/metrics")
        assert status == 200
        metrics = json.loads(body)
        answers.add((metrics["routing"]["process"], sum(metrics["routing"]["decisions"].values())))
        if len({pid for pid, _ in answers}) > 1:
            break
    assert len({pid for pid, _ in answers}) == 2, f"one worker answered every time: {answers}"
    assert {count for _, count in answers} == {total(after, "telecomx_route_lookups_total")}

    before = node.scrape()
    sent = set()
    for n in range(50):
        status, body, _ = node.post_event(n)
        assert (status, body["deliveries"]) == (202, 1)
        sent.add(body["_id"])
    assert wait_for(lambda: sent <= set(sink.received), 60), f"{len(sent & set(sink.received))} of 50 arrived"

    def delivered() -> float:
        return total(node.scrape(), "telecomx_delivery_attempts_total", outcome="DELIVERED") - total(
            before, "telecomx_delivery_attempts_total", outcome="DELIVERED")

    assert wait_for(lambda: delivered() >= 50, 10)
    after = node.scrape()
    assert total(after, "telecomx_call_events_ingested_total") - total(before, "telecomx_call_events_ingested_total") == 50
    assert delivered() == 50
    assert total(after, "telecomx_delivery_attempts_total", outcome="DELIVERED", format="POSTJSON", transport="http") - total(
        before, "telecomx_delivery_attempts_total", outcome="DELIVERED", format="POSTJSON", transport="http") == 50
    assert total(after, "telecomx_deliveries_finished_total", state="DELIVERED") - total(
        before, "telecomx_deliveries_finished_total", state="DELIVERED") == 50
    assert total(after, "telecomx_event_to_delivery_seconds_count") - total(before, "telecomx_event_to_delivery_seconds_count") == 50
    # Delivered by the Celery worker (the web processes do not deliver when a broker is set).
    assert any(name.startswith("counter_") for name in os.listdir(node.metrics_dir)) and total(after, "telecomx_deliveries_pending") == 0


def test_metrics_is_open_to_loopback_or_the_token_only(node: Node) -> None:
    assert node.get("/metrics", token="")[0] == 200  # loopback: the default METRICS_ALLOWED_NETWORKS
    assert node.get("/metrics", token=METRICS_TOKEN)[0] == 200
    # Through a proxy (the request's client is the X-Forwarded-For address when TRUSTED_PROXIES
    # says so) a stranger is refused; this node trusts no proxy, so the header changes nothing.
    status, _, _ = node.request("GET", "/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, token="")
    assert status == 200


def test_request_id_reaches_the_logs_of_the_request_and_its_delivery(node: Node, sink: Sink) -> None:
    rid = "ops-req.1:a@b_c-d"
    status, body, headers = node.post_event("request-id", headers={"X-Request-ID": rid})
    assert status == 202 and headers["X-Request-ID"] == rid
    assert wait_for(lambda: body["_id"] in sink.received, 30), "not delivered"
    assert wait_for(lambda: any(line.get("requestId") == rid and line.get("deliveryId") for line in _lines(node.worker_log)), 10)

    web = [line for line in _lines(node.web_log) if line.get("requestId") == rid]
    assert {line["logger"] for line in web} >= {"telecomx.requests", "gunicorn.access"}
    request_line = next(line for line in web if line["logger"] == "telecomx.requests")
    assert request_line["path"] == "/api/callevent" and request_line["status"] == 202
    worker = [line for line in _lines(node.worker_log) if line.get("requestId") == rid]
    attempt = next(line for line in worker if line.get("deliveryId"))
    assert attempt["eventId"] == body["_id"] and attempt["outcome"] == "DELIVERED"
    for line in web + worker:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"]) and line["level"] in ("DEBUG", "INFO")

    # An unsafe id is replaced by one of our own, answered back.
    status, _, headers = node.request("GET", ROUTE, headers={"X-Request-ID": "bad id\twith spaces"})
    assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])
    status, _, headers = node.request("GET", ROUTE, headers={"X-Request-ID": "x" * 129})
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])


def _deliveries(node: Node, event_id: str) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(node.base / "db.sqlite3") as db:
        return db.execute("SELECT state, attempts, last_status, last_error FROM callnotify_delivery WHERE event_id = ?",
                          [event_id]).fetchall()


def _lines(path: Path) -> list[dict]:
    lines = []
    for text in path.read_text().splitlines():
        if text.startswith("{"):
            lines.append(json.loads(text))
    return lines


def test_every_log_line_is_json(node: Node) -> None:
    for path in (node.web_log, node.worker_log):
        for text in path.read_text().splitlines():
            if text.strip():
                line = json.loads(text)  # not JSON: fails here, naming the line
                assert {"timestamp", "level", "logger", "message", "requestId"} <= set(line), text


# --- a real Prometheus --------------------------------------------------------------------

def _prometheus_query(port: int, expr: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def test_prometheus_scrapes_the_node_and_answers_every_panel_and_alert(node: Node, sink: Sink,
                                                                      tmp_path: Path) -> None:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not (prometheus and promtool):
        pytest.skip("Debian's prometheus is not installed (.ci/ops installs it)")
    status, scrape, _ = node.get("/metrics", token="")
    check = subprocess.run([promtool, "check", "metrics"], input=scrape, capture_output=True)
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), check.stdout + check.stderr

    port = free_port()
    (tmp_path / "prometheus.yml").write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "integrations/prometheus/alerts.yml")],
        "scrape_configs": [{"job_name": "telecomx", "static_configs": [{"targets": [f"127.0.0.1:{node.port}"]}]}],
    }))
    server = subprocess.Popen([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
                               f"--web.listen-address=127.0.0.1:{port}"], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    stop = threading.Event()

    def load() -> None:  # look-ups and events the whole time Prometheus watches
        n = 2000
        while not stop.is_set():
            node.get(ROUTE)
            if n % 5 == 0:
                node.post_event(n)
            n += 1

    loader = threading.Thread(target=load, daemon=True)
    try:
        assert wait_for(lambda: _ready(port), 30), (tmp_path / "prometheus.log").read_text()[-2000:]
        loader.start()
        assert wait_for(lambda: _samples(port) >= 8, 40), f"Prometheus scraped {_samples(port)} times"
        stop.set()
        loader.join()
        time.sleep(2)  # the last deliveries recorded and scraped

        board = json.loads((ROOT / "integrations/grafana/telecomx.json").read_text())
        panels = [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
        assert len(panels) >= 20
        problems = []
        for title, expr in panels:
            query = expr.replace("$__rate_interval", "30s").replace('job=~"$job"', 'job=~"telecomx"')
            answer = _prometheus_query(port, query)
            if answer.get("status") != "success":
                problems.append(f"{title}: {query}: {answer.get('error')}")
            elif not answer["data"]["result"]:
                problems.append(f"{title}: {query}: no data")

        import yaml  # noqa: PLC0415 - PyYAML comes with schemathesis (a test dependency)

        rules = [rule for group in yaml.safe_load((ROOT / "integrations/prometheus/alerts.yml").read_text())["groups"]
                 for rule in group["rules"]]
        for rule in rules:
            answer = _prometheus_query(port, rule["expr"])
            if answer.get("status") != "success":
                problems.append(f"alert {rule['alert']}: {answer.get('error')}")
            for name in set(re.findall(r"\b(telecomx_\w+|up)\b", rule["expr"])):
                if not _prometheus_query(port, f"count({name})")["data"]["result"]:
                    problems.append(f"alert {rule['alert']}: {name} has no data")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=10) as response:
            loaded = [r for g in json.loads(response.read())["data"]["groups"] for r in g["rules"]]
        assert {r["name"] for r in loaded} == {r["alert"] for r in rules}
        problems += [f"alert {r['name']} evaluates with {r['health']}: {r.get('lastError')}" for r in loaded if r["health"] != "ok"]
        # A healthy node raises none of them.
        problems += [f"alert {r['name']} is {r['state']}" for r in loaded if r["state"] != "inactive"]
        assert not problems, "\n".join(problems)
    finally:
        stop.set()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _samples(port: int) -> int:
    result = _prometheus_query(port, 'count_over_time(up{job="telecomx"}[5m])')["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def test_no_secret_is_ever_logged(node: Node, sink: Sink) -> None:
    """The scenario's secrets: a password logged in with, the token it got, an API key made and
    used, an endpoint's signing secret and the signatures made with it, SECRET_KEY, METRICS_TOKEN."""
    import base64

    password = "Pw-for-the-log-scan-42"
    url_key = "url-key-in-the-query-5d2e"
    out = subprocess.run([sys.executable, "manage.py", "createemployee", "logscan@example.com", "--customer",
                          node.setup["customer"], "--access-level", "OWNER", "--password", password],
                         cwd=ROOT, env=node.env, capture_output=True, text=True, check=True)
    assert out.stdout.strip()
    status, body, _ = node.request("POST", "/api/auth/login", {"username": "logscan@example.com", "password": password}, token="")
    assert status == 200, body
    session = json.loads(body)["token"]
    assert node.get(f"/api/customer/{node.setup['customer']}/callnotify", token=session)[0] == 200
    status, body, _ = node.request("POST", "/api/apikey", {"name": "log-scan"})
    assert status == 201, body
    key = json.loads(body)["key"]
    assert node.get(ROUTE, token=key)[0] == 200
    secret = "whsec_" + base64.b64encode(b"log-scan-signing-secret-0123456789").decode()
    status, body, _ = node.request("POST", f"/api/customer/{node.setup['customer']}/callnotify", {
        "url": f"http://127.0.0.1:{sink.server_address[1]}/signed?key={url_key}", "method": "POSTJSON", "selection": "ALL", "secret": secret})
    assert status == 201, body
    status, event, _ = node.post_event("log-scan")  # a call of its own: the load above posts ops-2000, ops-2005, …
    assert status == 202 and event["deliveries"] == 2
    assert wait_for(lambda: sink.received[event["_id"]] >= 2, 30), _deliveries(node, event["_id"])
    assert node.get("/metrics", token=METRICS_TOKEN)[0] == 200
    time.sleep(1)

    signatures = [sig.split(",", 1)[1] for value in sink.signatures for sig in value.split()]
    assert signatures
    secrets = {"password": password, "session token": session, "API key": key, "signing secret": secret,
               "secret's key": secret.removeprefix("whsec_"), "METRICS_TOKEN": METRICS_TOKEN,
               "admin token": node.setup["token"], "URL key": url_key, **{f"signature {n}": s for n, s in enumerate(signatures)}}
    secret_key = (Path(node.env["TELECOMX_DATA_DIR"]) / "secret_key")
    if secret_key.exists():
        secrets["SECRET_KEY"] = secret_key.read_text().strip()
    logs = node.web_log.read_text() + node.worker_log.read_text()
    assert len(logs.splitlines()) > 50
    found = [name for name, value in secrets.items() if value and value in logs]
    assert not found, f"logged: {found}"
