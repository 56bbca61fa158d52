"""Every format over every protocol, through the delivery engine, to real servers on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import threading

import pytest
from pytest_httpserver import HTTPServer

from callnotify.delivery import attempt_delivery, event_data
from callnotify.formats import render
from callnotify.models import Attempt, CallNotify, Delivery
from callnotify.signing import generate_secret
from callnotify.transports import USER_AGENT
from tests.callnotify.factories import CallNotifyFactory, post_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback")]
METHODS = ["POSTARGS", "POSTXML1", "POSTXML2", "POSTJSON", "GET1", "GET2"]
ADDITIONAL = {"sbcServer": "sbc <1> & \"eu\"", "sourcePeer": "Tëlenor"}


def deliver_one(url: str, method: str, **endpoint: object) -> tuple[Delivery, CallNotify]:
    notify = CallNotifyFactory(url=url, method=method, **endpoint)
    recorded = post_event(notify.customer, call_id="c&1 ø", additional=ADDITIONAL)
    assert recorded.deliveries == 1
    delivery = Delivery.objects.get(event=recorded.event)
    attempt_delivery(delivery.id)
    delivery.refresh_from_db()
    return delivery, notify


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_http_and_https_deliver_each_format(scheme: str, method: str, httpserver: HTTPServer, https_server: HTTPServer) -> None:
    server = httpserver if scheme == "http" else https_server
    server.expect_request("/hook").respond_with_data("ok")
    delivery, notify = deliver_one(f"{scheme}://sink.example.com:{server.port}/hook?key=s%C3%A9cret", method)

    assert delivery.state == Delivery.State.DELIVERED and delivery.last_status == 200
    expected = render(event_data(delivery.event), method, "key=s%C3%A9cret")
    [(request, _response)] = server.log
    assert request.method == expected.http_method
    assert request.query_string.decode() == expected.query
    assert request.get_data() == expected.body
    assert request.headers.get("Content-Type") == expected.content_type
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Host"] == f"sink.example.com:{server.port}"
    assert "webhook-signature" not in request.headers  # no secret, no signature
    assert list(delivery.attempt_log.values_list("outcome", "status")) == [(Attempt.Outcome.DELIVERED, 200)]


@pytest.mark.parametrize("method", METHODS)
def test_tcp_delivers_each_format_as_one_line(method: str, tcp_server) -> None:
    delivery, _ = deliver_one(f"tcp://127.0.0.1:{tcp_server.server_address[1]}", method)
    assert delivery.state == Delivery.State.DELIVERED
    expected = render(event_data(delivery.event), method).line + b"\n"
    assert tcp_server.received.get(timeout=5) == expected
    assert expected.count(b"\n") == 1


@pytest.mark.parametrize("method", METHODS)
def test_udp_delivers_each_format_as_one_datagram(method: str, udp_socket: socket.socket) -> None:
    delivery, _ = deliver_one(f"udp://127.0.0.1:{udp_socket.getsockname()[1]}", method)
    assert delivery.state == Delivery.State.DELIVERED
    data, _ = udp_socket.recvfrom(65536)
    assert data == render(event_data(delivery.event), method).line


def test_udp_payload_over_8192_bytes_fails_permanently(udp_socket: socket.socket) -> None:
    notify = CallNotifyFactory(url=f"udp://127.0.0.1:{udp_socket.getsockname()[1]}", method="GET2")
    # A valid event can exceed a datagram: 5 x 255 CJK characters are 9 bytes each in a query.
    big = {key: "日" * 255 for key in ("divertedBy", "sbcServer", "sourcePeer", "destinationPeer", "mvno")}
    recorded = post_event(notify.customer, additional=big)
    delivery = Delivery.objects.get(event=recorded.event)
    attempt_delivery(delivery.id)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.FAILED and "too big for UDP" in delivery.last_error
    udp_socket.settimeout(0.2)
    with pytest.raises(TimeoutError):
        udp_socket.recvfrom(65536)


def test_signed_delivery_verifies_with_the_standard_webhooks_algorithm(httpserver: HTTPServer) -> None:
    secret = generate_secret()
    httpserver.expect_request("/hook").respond_with_data("ok")
    deliver_one(f"http://sink.example.com:{httpserver.port}/hook", "POSTJSON", secret=str(secret))
    [(request, _)] = httpserver.log
    msg_id, stamp = request.headers["webhook-id"], request.headers["webhook-timestamp"]
    key = base64.b64decode(str(secret).removeprefix("whsec_"))
    content = f"{msg_id}.{stamp}.".encode() + request.get_data()
    expected = "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == expected
    assert msg_id == Delivery.objects.get().event_id


def test_signed_get_signs_the_query_string(httpserver: HTTPServer) -> None:
    secret = generate_secret()
    httpserver.expect_request("/hook").respond_with_data("ok")
    deliver_one(f"http://sink.example.com:{httpserver.port}/hook?a=1", "GET1", secret=str(secret))
    [(request, _)] = httpserver.log
    key = base64.b64decode(str(secret).removeprefix("whsec_"))
    content = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.query_string
    assert request.headers["webhook-signature"] == "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def test_redirects_are_not_followed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=302, headers={"Location": "http://127.0.0.1:1/x"})
    delivery, _ = deliver_one(f"http://sink.example.com:{httpserver.port}/hook", "POSTJSON")
    assert delivery.state == Delivery.State.FAILED
    assert (delivery.last_status, delivery.last_error) == (302, "redirect not followed")
    assert len(httpserver.log) == 1


def test_https_certificate_must_match_the_host_name(https_server: HTTPServer) -> None:
    https_server.expect_request("/hook").respond_with_data("ok")
    # The certificate names sink.example.com, not the address: verification refuses it.
    delivery, _ = deliver_one(f"https://127.0.0.1:{https_server.port}/hook", "POSTJSON")
    assert delivery.state == Delivery.State.PENDING and delivery.attempts == 1
    assert delivery.last_error.startswith("TLS certificate not accepted")
    assert https_server.log == []


def test_https_certificate_from_an_untrusted_ca_is_refused(https_server: HTTPServer, settings) -> None:
    settings.CALLNOTIFY_CA_FILE = None
    https_server.expect_request("/hook").respond_with_data("ok")
    delivery, _ = deliver_one(f"https://sink.example.com:{https_server.port}/hook", "POSTJSON")
    assert delivery.state == Delivery.State.PENDING and delivery.last_error.startswith("TLS certificate not accepted")
    assert https_server.log == []


def test_an_endpoint_that_never_answers_times_out_and_is_retried(settings) -> None:
    settings.CALLNOTIFY_REQUEST_TIMEOUT = 0.3
    silent = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True)
    thread.start()
    try:
        delivery, _ = deliver_one(f"http://sink.example.com:{silent.getsockname()[1]}/hook", "POSTJSON")
    finally:
        thread.join(5)
        for conn in accepted:
            conn.close()
        silent.close()
    assert delivery.state == Delivery.State.PENDING and delivery.last_error == "timeout"
    assert accepted  # it did connect: the failure is the missing answer


def test_connection_refused_is_retried() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    delivery, _ = deliver_one(f"tcp://127.0.0.1:{port}", "POSTJSON")
    assert delivery.state == Delivery.State.PENDING and delivery.last_error == "connection refused"
    assert delivery.next_attempt_at is not None




@pytest.mark.parametrize("drip", [b"HTTP/1.1 200 OK\r\n" + b"X-Slow: y\r\n" * 200, b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n" + b"x" * 400])
def test_an_endpoint_dripping_bytes_is_cut_off_at_the_request_timeout(settings, drip: bytes) -> None:
    # Each byte comes well inside the read timeout, so only a limit on the whole request ends it.
    settings.CALLNOTIFY_CONNECT_TIMEOUT = 2
    settings.CALLNOTIFY_REQUEST_TIMEOUT = 0.5
    server = socket.create_server(("127.0.0.1", 0))
    sent: list[int] = []

    def serve() -> None:
        conn = server.accept()[0]
        conn.recv(65536)
        count = 0
        try:
            for byte in drip:
                conn.sendall(bytes([byte]))
                count += 1
                threading.Event().wait(0.02)
        except OSError:
            pass  # the sender hung up
        sent.append(count)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        delivery, _ = deliver_one(f"http://sink.example.com:{server.getsockname()[1]}/hook", "POSTJSON")
    finally:
        thread.join(30)
        server.close()
    assert delivery.state == Delivery.State.PENDING and delivery.last_error == "timeout"
    assert sent and sent[0] < len(drip)  # cut off mid-way, not served to the end
