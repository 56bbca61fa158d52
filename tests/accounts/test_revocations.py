"""Credential changes pushed by PostgreSQL (accounts/revocations.py): a credential read while the
process listens is taken without a statement, and every change to what it carries (the key, the
account, a customer above, a permission) drops it in every process at its commit.

These tests commit (transaction=True): a notification is sent only when its transaction commits,
and inside a test's transaction every request asks the database, as it does on SQLite.
`revocations.sync()` waits until this process has heard everything committed before it: what
a request arriving a moment later in any process would find."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import revocations
from accounts.models import AccessLevel, ApiKey, Customer, Employee, Token
from callnotify.models import CallNotify
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.errorbody import error
from tests.sbcrules.factories import PeerFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's LISTEN/NOTIFY; SQLite asks on every request"),
]

ROUTE = "/api/sbc/route?bnumber=%2B4570305050"


@pytest.fixture(autouse=True)
def _pushed(settings) -> None:
    settings.CREDENTIAL_NOTIFICATIONS = True  # (the default; a deployment may turn it off)

REFUSED = error(401, "credentials_invalid", "Authorization required, please login")


def keyed(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def until(condition, what: str, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not {what} within {seconds} s"
        time.sleep(0.01)


def asks(client: APIClient, path: str = ROUTE) -> tuple[int, bool]:
    """The answer's status, and whether the request read a credential from the database."""
    with CaptureQueriesContext(connection) as queries:
        status = client.get(path).status_code
    return status, any("key_hash" in q["sql"] for q in queries.captured_queries)


@pytest.fixture
def switch() -> tuple[APIClient, ApiKey, str]:
    """A switch's API key (a customer's, two resellers down), remembered while listening: its
    look-ups make no statement for it."""
    PeerFactory(id="TDC", default=True)
    operator = CustomerFactory(reseller=True, name="Operator")
    reseller = CustomerFactory(reseller=True, parent_reseller=operator, name="Reseller")
    creator = EmployeeFactory(customer=CustomerFactory(parent_reseller=reseller), access_level=AccessLevel.ADMIN)
    key, raw = ApiKey.objects.issue(name="kamailio-1", created_by=creator)  # a service account: the permission only
    client = keyed(raw)
    assert asks(client) == (200, True)  # read; this process starts listening
    until(revocations.listening, "listening")
    assert asks(client) == (200, True)  # read while listening: kept
    assert asks(client) == (200, False)
    return client, key, raw


def test_a_key_read_while_listening_is_taken_without_a_statement(switch):
    client, _, _ = switch
    for _ in range(3):
        assert asks(client) == (200, False)


def test_a_revoked_key_is_refused_once_its_commit_is_heard(switch, client_for):
    client, key, _ = switch
    admin = client_for(EmployeeFactory(admin=True))
    assert admin.delete(f"/api/apikey/{key.pk}").status_code == 200
    assert revocations.sync()
    assert asks(client) == (401, True)
    assert client.get(ROUTE).json() == REFUSED


def test_a_deleted_key_is_refused(switch):
    client, key, _ = switch
    ApiKey.objects.filter(pk=key.pk).delete()
    assert revocations.sync()
    assert client.get(ROUTE).json() == error(401, "invalid_token", "Undecipherable")


@pytest.mark.parametrize("change", ["reseller deleted", "account disabled", "permission removed"])
def test_a_change_above_the_key_drops_it(switch, change):
    client, key, _ = switch
    account = Employee.objects.get(pk=key.employee_id)
    if change == "reseller deleted":
        Customer.objects.filter(name="Reseller").update(state=Customer.State.DELETED)
        expected = REFUSED
    elif change == "account disabled":
        Employee.objects.filter(pk=account.pk).update(state=Employee.State.DISABLED)
        expected = REFUSED
    else:  # its look-ups rest on the permission alone (a VIEWER)
        account.user_permissions.remove(Permission.objects.get(codename="lookup_route"))
        expected = error(403, "access_denied", "Insufficient access level")
    assert revocations.sync()
    assert client.get(ROUTE).json() == expected


def test_what_no_credential_carries_forgets_nothing(switch):
    """A customer's item count (written by callnotify's triggers on every item) and another
    token's expiry pushed forward are heard but drop nothing else: still no statement."""
    client, key, _ = switch
    account = Employee.objects.get(pk=key.employee_id)
    CallNotify.objects.create(customer_id=account.customer_id, url="http://127.0.0.1:9/x", method="POSTJSON", selection="ALL")
    other, _ = Token.objects.issue(Employee.objects.get(access_level=AccessLevel.ADMIN))  # (a new one's save would be heard)
    Token.objects.filter(pk=other.pk).update(last_used_at=other.last_used_at)
    assert revocations.sync()
    assert asks(client) == (200, False)


def test_a_customer_renamed_is_heard(switch):
    client, key, _ = switch
    Customer.objects.filter(pk=Employee.objects.get(pk=key.employee_id).customer_id).update(name="Renamed")
    assert revocations.sync()
    assert asks(client) == (200, True)


def test_while_not_listening_every_request_asks_and_sees_a_revocation(switch):
    client, key, _ = switch
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       " WHERE application_name = %s AND datname = current_database()", [revocations.LISTENER_NAME])
    until(lambda: not revocations.listening(), "noticed the cut")
    assert asks(client) == (200, True)
    ApiKey.objects.filter(pk=key.pk).update(revoked_at="2026-01-01T00:00:00Z")
    assert client.get(ROUTE).json() == REFUSED
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=None)
    until(revocations.listening, "listening again")
    assert asks(client) == (200, True)  # whatever was kept before the cut was forgotten
    assert asks(client) == (200, False)


def test_inside_a_transaction_the_request_asks(switch):
    client, _, _ = switch
    with transaction.atomic():
        assert asks(client) == (200, True)


def test_turned_off_every_request_asks(switch, settings):
    client, _, _ = switch
    settings.CREDENTIAL_NOTIFICATIONS = False
    assert asks(client) == (200, True)
    assert asks(client) == (200, True)


def test_a_token_read_while_listening_and_ended():
    PeerFactory(id="TDC", default=True)
    employee = EmployeeFactory(admin=True)
    token, raw = Token.objects.issue(employee)
    client = keyed(raw)
    assert asks(client)[0] == 200
    until(revocations.listening, "listening")
    assert asks(client) == (200, True)
    assert asks(client) == (200, False)
    Token.objects.filter(pk=token.pk).delete()  # logged out, or ended by an ADMIN
    assert revocations.sync()
    assert client.get(ROUTE).json() == error(401, "invalid_token", "Undecipherable")


class OtherProcess:
    """Another web process's listening connection, as settle() finds it (by its application_name):
    it records what it hears, in order, and answers settle's calls `delay` seconds after hearing
    them (never, with None)."""

    def __init__(self, delay: float | None) -> None:
        params = connection.get_connection_params()
        params.update(application_name=revocations.LISTENER_NAME, autocommit=True)
        self.conn = psycopg.connect(**params)
        self.conn.execute(f"LISTEN {revocations.CHANNEL}")
        self.delay, self.heard, self.answered_at = delay, [], None
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        try:
            self.hear()
        except psycopg.OperationalError:  # its connection ended (a test cut it)
            pass

    def hear(self) -> None:
        while self.running:
            calls = []
            for notification in self.conn.notifies(timeout=0.02):
                payload = notification.payload
                if not payload.startswith((revocations.BEAT, revocations.ACK)):
                    self.heard.append(payload)
                if payload.startswith(revocations.SETTLE):
                    calls.append(payload)
            for call in calls:
                if self.delay is not None:
                    time.sleep(self.delay)
                    self.answered_at = time.monotonic()  # (before: settle may return the moment it is sent)
                    self.conn.execute("SELECT pg_notify(%s, %s)", [revocations.CHANNEL, revocations.ACK + call[len(revocations.SETTLE):]])

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.conn.close()

    def cut(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [self.conn.info.backend_pid])


@pytest.fixture
def other_process():  # type: ignore[no-untyped-def]
    made = []

    def make(delay: float | None) -> OtherProcess:
        made.append(OtherProcess(delay))
        return made[-1]

    yield make
    for process in made:
        process.close()


def test_a_revoking_request_answers_once_every_listening_process_applied_it(switch, client_for, other_process):
    """No sync() here: the very next request, in this process or another, is refused."""
    client, key, _ = switch
    admin = client_for(EmployeeFactory(admin=True))
    other = other_process(delay=0.3)  # a busy one
    assert admin.delete(f"/api/apikey/{key.pk}").status_code == 200
    answered = time.monotonic()
    assert other.answered_at is not None and other.answered_at <= answered
    assert [payload.split(":")[0] for payload in other.heard] == [key.key_hash, "settle"]  # the change, then the call
    assert asks(client) == (401, True)


def test_a_listener_that_does_not_answer_is_waited_for_no_longer_than_the_timeout(switch, other_process):
    other_process(delay=None)
    assert revocations.settle(timeout=0.3) is False
    other_process(delay=0)
    assert revocations.settle(timeout=0.3) is False  # the first still says nothing


def test_settle_with_every_listener_answering(switch, other_process):
    other_process(delay=0)
    other_process(delay=0.05)
    assert revocations.settle() is True


def test_only_what_may_take_a_credential_away_makes_the_request_wait(switch):
    """The triggers raise their NOTICE for a revocation, a key or token deleted, a token's expiry
    brought forward, an account or customer changed; not for a token's expiry pushed forward (each
    30 s of use) nor for a customer's item count."""
    _, key, _ = switch
    employee = Employee.objects.get(pk=key.employee_id)
    token, _ = Token.objects.issue(employee)

    def waits(change) -> bool:  # type: ignore[no-untyped-def]
        revocations.settle_if_changed()
        change()
        return revocations.pending()

    later, earlier = token.expires_at + timedelta(minutes=5), token.expires_at - timedelta(minutes=5)
    assert not waits(lambda: Token.objects.filter(pk=token.pk).update(last_used_at=token.last_used_at, expires_at=later))
    assert not waits(lambda: CallNotify.objects.create(customer_id=employee.customer_id, url="http://127.0.0.1:9/x",
                                                        method="POSTJSON", selection="ALL"))
    assert waits(lambda: Token.objects.filter(pk=token.pk).update(expires_at=earlier))
    assert waits(lambda: Token.objects.filter(pk=token.pk).update(persist=True))
    assert waits(lambda: ApiKey.objects.filter(pk=key.pk).update(revoked_at="2026-01-01T00:00:00Z"))
    assert waits(lambda: Employee.objects.filter(pk=employee.pk).update(state=Employee.State.DISABLED))
    assert waits(lambda: Customer.objects.filter(pk=employee.customer_id).update(name="Renamed"))
    assert waits(lambda: Token.objects.filter(pk=token.pk).delete())


def test_a_command_that_ends_a_token_ends_once_every_listening_process_applied_it(other_process):
    """manage.py revoketokens, as an operator runs it after a leak (docs/operations.md): the
    command's process ends only once the other processes have answered."""
    import os
    import subprocess
    import sys

    employee = EmployeeFactory(admin=True)
    token, raw = Token.objects.issue(employee)
    other = other_process(delay=0.3)
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    done = subprocess.run([sys.executable, "manage.py", "revoketokens", "--token", "-"], input=raw + "\n", text=True,
                          capture_output=True, timeout=60, env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    ended = time.monotonic()
    assert (done.returncode, done.stdout.strip()) == (0, "1 token(s) ended")
    assert other.answered_at is not None and other.answered_at <= ended
    assert [payload.split(":")[0] for payload in other.heard] == [token.key_hash, "settle"]
    assert not Token.objects.filter(pk=token.pk).exists()


def test_a_listener_whose_connection_ends_while_waited_for_is_waited_for_still(switch, other_process):
    """Its process may not have noticed the cut yet, and trusts its memory until its beat is stale."""
    other = other_process(delay=None)
    threading.Timer(0.1, other.cut).start()
    assert revocations.settle(timeout=0.6) is False


def test_when_settle_cannot_ask_it_waits_the_whole_time(switch, other_process, settings):
    """No connection for settle (here: the database's port closed to new ones): it cannot know who
    has applied the change, so it waits as long as a listener may trust what it remembers."""
    other_process(delay=0)
    connection.ensure_connection()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    original = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = port  # (the open connection stays; a new one is refused)
    try:
        started = time.monotonic()
        assert revocations.settle(timeout=0.5) is False
        assert time.monotonic() - started >= 0.5
    finally:
        connection.settings_dict["PORT"] = original


def revoke_with(key: ApiKey, setting: str, value: str) -> None:
    """Revoke `key` from the test's own connection with a session setting in force, then reset it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET {setting} = {value}")
        try:
            ApiKey.objects.filter(pk=key.pk).update(revoked_at="2026-01-01T00:00:00Z")
        finally:
            cursor.execute(f"RESET {setting}")


def test_a_change_under_replication_role_replica_is_told(switch):
    """Triggers fire ALWAYS: logical replication's apply and tools that set session_replication_role
    to replica (which silences ordinary triggers) still tell every process."""
    client, key, _ = switch
    revoke_with(key, "session_replication_role", "replica")
    assert revocations.sync()
    assert client.get(ROUTE).json() == REFUSED


def test_the_notice_reaches_a_session_that_asked_for_warnings_only(switch):
    _, key, _ = switch
    revocations.settle_if_changed()
    revoke_with(key, "client_min_messages", "warning")
    assert revocations.pending()


def test_one_notice_for_a_transaction_that_changes_many(switch):
    _, key, _ = switch
    for n in range(3):
        ApiKey.objects.issue(name=f"more-{n}", created_by=Employee.objects.get(pk=key.employee_id))
    notices = []

    def told(notice) -> None:  # type: ignore[no-untyped-def]
        notices.append(notice.message_primary)  # (readable only while the handler runs)

    connection.ensure_connection()
    connection.connection.add_notice_handler(told)
    try:
        assert ApiKey.objects.update(name="renamed") == 4
    finally:
        connection.connection.remove_notice_handler(told)
    assert notices == [revocations.NOTICE]


def test_a_beat_in_this_listeners_name_from_another_session_is_not_its_own(switch):
    """A process trusts only beats its own listening session sent (another client, or a pooler
    handing the listener another session, could otherwise keep it trusting)."""
    forged = f"{revocations.BEAT}{revocations._listener.name}:{time.monotonic() + 1000!r}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [revocations.CHANNEL, forged])
    assert revocations.sync()
    assert revocations._listener.beat_sent <= time.monotonic()
