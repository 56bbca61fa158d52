"""The signature-verification snippets of docs/api.md (Python and Node, with the reference
Standard Webhooks libraries) are run against real deliveries of all six formats: a real event
posted to the API, delivered by the engine to a local HTTP server, verified as received."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import WebhookVerificationError

from accounts.models import AccessLevel
from callnotify.delivery import attempt_delivery
from callnotify.models import CallNotify, Delivery
from tests.accounts.factories import CustomerFactory, EmployeeFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs/api.md"
NODE_PACKAGE = "standardwebhooks@1.1.1"
MARK = "<!-- executed by tests/callnotify/test_docs_verification.py -->"


def snippet(language: str) -> str:
    blocks = re.findall(re.escape(MARK) + r"\n```(\w+)\n(.*?)\n```", DOC.read_text(), re.S)
    found = [code for lang, code in blocks if lang == language]
    assert len(found) == 1, f"docs/api.md must hold one executed {language} snippet"
    return found[0]


@pytest.fixture
def deliveries(loopback, httpserver: HTTPServer, client_for):
    """One real delivery per format, as the receiving server saw it: (method, secret, request)."""
    customer = CustomerFactory()
    owner = client_for(EmployeeFactory(customer=customer, access_level=AccessLevel.OWNER))
    httpserver.expect_request(re.compile("/hook.*")).respond_with_data("", status=204)
    secrets = {}
    for method in CallNotify.Method.values:
        response = owner.post(f"/api/customer/{customer.id}/callnotify", {
            "url": httpserver.url_for(f"/hook/{method}?key=a%20b&x=1"), "method": method, "selection": "ALL",
            "secret": "generate"}, format="json")
        assert response.status_code == 201
        secrets[method] = response.json()["secret"]
    switch = client_for(EmployeeFactory(admin=True))
    posted = switch.post("/api/callevent", {
        "callId": "a84b4c76e66710@192.0.2.4", "customer": customer.id, "type": "SIP", "direction": "INBOUND",
        "state": "HANGUP", "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z",
        "duration": 42, "cause": "NORMAL_CLEARING",
        "additional": {"sbcServer": "sbc 1 & <co>", "sourcePeer": "TDC/æøå +", "destinationPeer": "a=b;c"},
    }, format="json")
    assert posted.status_code == 202 and posted.json()["deliveries"] == 6
    for delivery in Delivery.objects.all():
        attempt_delivery(delivery.id)
    assert set(Delivery.objects.values_list("state", flat=True)) == {Delivery.State.DELIVERED}
    seen = []
    for request, _response in httpserver.log:
        method = request.path.rsplit("/", 1)[1]
        seen.append((method, secrets[method], {
            "method": request.method, "query_string": request.query_string.decode("ascii"),
            "headers": dict(request.headers), "body": request.get_data()}))
    assert sorted(m for m, _s, _r in seen) == sorted(CallNotify.Method.values)
    return seen


def tampered(request: dict) -> dict:
    if request["method"] == "GET":
        return {**request, "query_string": request["query_string"].replace("HANGUP", "ANSWERED")}
    return {**request, "body": request["body"].replace(b"HANGUP", b"ANSWERED")}


def test_the_python_snippet_verifies_all_six_formats(deliveries):
    namespace: dict = {}
    exec(compile(snippet("python"), str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    verify = namespace["verify"]
    for method, secret, request in deliveries:
        verify(secret, **request)  # raises if the documented way does not verify a real delivery
        with pytest.raises(WebhookVerificationError):
            verify(secret, **tampered(request))
        with pytest.raises(WebhookVerificationError):
            verify("whsec_" + "A" * 32, **request)


def _node_modules() -> Path:
    target = ROOT / "var" / "node"
    if not (target / "node_modules" / "standardwebhooks").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(target), NODE_PACKAGE],
                       check=True, timeout=300)
    return target / "node_modules"


def test_the_node_snippet_verifies_all_six_formats(deliveries, tmp_path):
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed to run the documented Node snippet")
        pytest.skip("node is not installed")
    cases = []
    for method, secret, request in deliveries:
        for label, req, key in (("real", request, secret), ("tampered", tampered(request), secret),
                                ("wrong secret", request, "whsec_" + "A" * 32)):
            cases.append({"label": f"{method} {label}", "secret": key, "method": req["method"],
                          "query": req["query_string"], "headers": req["headers"], "body": req["body"].hex()})
    script = tmp_path / "verify.js"
    script.write_text(snippet("js") + """
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map((c) => {
  try { verify(c.secret, c.method, c.query, c.headers, Buffer.from(c.body, "hex")); return [c.label, "ok"]; }
  catch (e) { return [c.label, e.constructor.name]; }
})));
""")
    run = subprocess.run(["node", str(script)], input=json.dumps(cases), capture_output=True, text=True, timeout=60,
                         env={**os.environ, "NODE_PATH": str(_node_modules())})
    assert run.returncode == 0, run.stderr
    outcomes = dict(json.loads(run.stdout))
    for method in CallNotify.Method.values:
        assert outcomes[f"{method} real"] == "ok", outcomes
        assert outcomes[f"{method} tampered"] == "WebhookVerificationError", outcomes
        assert outcomes[f"{method} wrong secret"] == "WebhookVerificationError", outcomes
