"""Credential changes pushed by PostgreSQL, so that a request need not ask whether its credential still holds.

Every API request used to make one round trip for its credential (accounts/authentication.py
`_load`): the stamp of its row, so that a key revoked, a token ended, an account disabled or a
customer deleted stopped on the very next request. For a route look-up, answered from memory,
that round trip was a third of the whole request.

Now the database tells every process instead. Triggers (accounts migration 0006) on every table a
credential's row reads (tokens, API keys, employees, customers, an account's permissions and
groups) send a notification on channel `telecomx_credentials` when a row that matters changes:
the key's hash for a token or API key (a token's expiry pushed forward, a key revoked or
deleted), an empty payload for anything else (every remembered credential is forgotten). Each
web process keeps one more connection that LISTENs (a thread here), and forgets what it is told
the moment PostgreSQL delivers it: a notification is sent when its transaction commits.

A credential read while this process was listening is then taken from memory, with no statement,
while all of these hold (`mark`):
- the listener has heard, within STALE_SECONDS of sending it, the heartbeat it sends itself every
  HEARTBEAT_SECONDS (a cut connection, a silent network, a thread that did not get its turn, or
  a pooler in transaction mode (its beat comes back from another server process) stop them, and requests go
  back to asking the database); PostgreSQL hands notifications over in commit order, so such a
  listener has applied every change committed before the beat was sent;
- the request's own connection is not inside a transaction (it could hold changes of its own
  that no notification tells of yet; a test's transaction is one);
- nothing was heard between the credential's read and its keeping (`changed_since`): a change
  committed while it was read may be the one the read missed.
Otherwise the request asks the database as before. SQLite has no notifications: always asked.

A change is seen by a process once PostgreSQL has written its notification to that process's
listening connection, which it does at the commit, and the listening thread has read it, at its
next turn in the interpreter: milliseconds, more on a busy machine. So that a revoked key still
stops on the very next request, the triggers also raise a NOTICE on the connection that made a
change which can take a credential away (`noticed`), and the request that made it answers (a
command ends) only once every listening process has said it applied it (`settle`, at most
STALE_SECONDS + HEARTBEAT_SECONDS: by then a listener that has not answered trusts nothing it
remembers from before the change). A change made any other way (psql) stops a credential in every
process within STALE_SECONDS; so does one whose listening connection was cut just before a settle
began (settle finds listeners by their connections, and cannot see it). The listening connection
must be one session: a beat counts only from the server process that LISTENs, and a beat sent
through another (a pooler in transaction mode) drops the connection. `sync()` waits for this
process only (tests).
With `CREDENTIAL_NOTIFICATIONS=0` every request asks the database.
"""

from __future__ import annotations

import os
import secrets
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection

CHANNEL = "telecomx_credentials"
HEARTBEAT_SECONDS = 1.0  # the listener notifies itself this often
STALE_SECONDS = 3.0  # no own beat heard within this long of its sending: remembered credentials are not taken without asking
RETRY_SECONDS = 1.0  # between attempts to connect again
SYNC = "sync:"  # payloads sent by sync(): nothing to forget
BEAT = "beat:"  # the heartbeat each listener sends itself ("beat:<listener>:<its clock>"): nothing to forget
SETTLE = "settle:"  # sent by settle(): every listener answers ACK + the same nonce once it has read it
ACK = "ack:"
LISTENER_NAME = "telecomx credential notifications"  # the listening connections' application_name
# What the triggers (accounts migration 0007) tell the connection that made a change which may take
# a credential away, as a NOTICE, at once: the request then settles before it answers.
NOTICE = "telecomx credentials changed"

Forget = Callable[[str | None], None]


class _Listener:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.heard_sync = threading.Condition(self.lock)
        self.pid = 0  # the process whose thread listens (a forked child starts its own)
        self.generation = 0  # a thread whose generation is past stops
        self.conn: Any = None  # psycopg connection, LISTENing, autocommit; None when not connected
        self.name = ""  # this listener's own beats: BEAT + name + ":"
        self.backend = 0  # the server process that LISTENs for it (pg_backend_pid)
        self.beat_sent = float("-inf")  # time.monotonic() at which the last own beat heard was sent
        self.next_beat = 0.0
        self.changes = 0  # notifications applied and reconnections since the process started
        self.syncs: set[str] = set()
        self.forget: Forget = lambda key_hash: None


_listener = _Listener()


def _forked() -> None:
    """A forked child listens for itself (its parent's lock may have been held mid-heartbeat)."""
    forget = _listener.forget
    _listener.__init__()  # type: ignore[misc]
    _listener.forget = forget


os.register_at_fork(after_in_child=_forked)


def enabled(db: Any = connection) -> bool:
    return db.vendor == "postgresql" and bool(settings.CREDENTIAL_NOTIFICATIONS)


def mark(forget: Forget, db: Any) -> int | None:
    """A mark for `changed_since`: the count of changes heard, when a remembered credential may be
    taken without asking the database (`db`, the request's connection) now; None when it may not.

    No lock and no system call: a request thread that let go of the interpreter here (a select()
    on the listening socket did) waited for its turn again behind the others, a quarter of a
    look-up's time in the web process. The listening thread alone reads the socket."""
    if db.in_atomic_block or not enabled(db):
        return None
    listener = _listener
    if listener.pid != os.getpid():
        _start(forget)
        return None
    if listener.conn is None or time.monotonic() - listener.beat_sent > STALE_SECONDS:
        return None
    return listener.changes


def changed_since(mark: int) -> bool:
    """Was anything heard since `mark` (a credential read after it may be the one a change missed)."""
    return _listener.changes != mark


def sync(timeout: float = 5.0) -> bool:
    """Wait until this process's listener has heard everything committed before the call (a
    notification sent now arrives after those of every earlier commit). For tests and tools;
    False if not listening or not heard within `timeout`."""
    listener = _listener
    if listener.pid != os.getpid() or not enabled():
        return False
    payload = SYNC + secrets.token_hex(8)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, payload])
    deadline = time.monotonic() + timeout
    with listener.lock:
        while payload not in listener.syncs:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if listener.conn is not None and _readable(listener.conn):
                _drain(listener)
            else:
                listener.heard_sync.wait(min(0.01, remaining))  # (the thread may drain meanwhile)
        listener.syncs.discard(payload)
        return True


def settle(timeout: float | None = None) -> bool:
    """Wait until every listening process (on this database) has applied every change committed
    before the call: True when each has said so, at most STALE_SECONDS + HEARTBEAT_SECONDS.

    Called before a request that changed a credential answers (`middleware`), and when a command
    that did ends (`at_exit`): a revoked key is refused by every process on the very next request.
    Each listener answers once it has read this call's notification, which PostgreSQL delivers
    after every notification committed before it. A listener that does not answer in time (its
    process too busy to read, or gone) trusts nothing it remembers after that time anyway: a
    process takes a remembered credential only while it has heard, within STALE_SECONDS, a beat
    it sent itself, which was committed after everything it has applied."""
    if not enabled():
        return True
    deadline = time.monotonic() + (STALE_SECONDS + HEARTBEAT_SECONDS if timeout is None else timeout)
    nonce = secrets.token_hex(8)
    try:
        with connection.cursor() as cursor:  # none listening (SQLite-like tests, one-off tools): nothing to wait for
            cursor.execute(LISTENERS, [LISTENER_NAME])
            if cursor.fetchone() is None:
                return True
        with _connect(application_name="telecomx credential settle") as conn:
            waiting = _listeners(conn)
            conn.execute("SELECT pg_notify(%s, %s)", [CHANNEL, SETTLE + nonce])
            # A listener whose connection ends meanwhile is waited for all the same: its process may
            # not have noticed yet, and trusts what it remembers until STALE_SECONDS after its last beat.
            while waiting and (remaining := deadline - time.monotonic()) > 0:
                for notification in conn.notifies(timeout=remaining):
                    if notification.payload == ACK + nonce:
                        waiting.discard(notification.pid)
                        if not waiting:
                            break
            return not waiting
    except Exception:  # noqa: BLE001 - no way to ask (too many connections, the database away): wait it out
        time.sleep(max(0.0, deadline - time.monotonic()))
        return False


LISTENERS = "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()"


def _listeners(conn: Any) -> set[int]:
    """The server processes of the listening connections on this database."""
    return {pid for (pid,) in conn.execute(LISTENERS, [LISTENER_NAME]).fetchall()}


# Set in the thread whose statement changed what a credential carries (told by NOTICE, below).
_pending = threading.local()


def noticed(notice: Any) -> None:
    """psycopg's notice handler on every Django connection (accounts.apps)."""
    if notice.message_primary == NOTICE:
        _pending.changed = True


def pending() -> bool:
    """Has this thread changed a credential since it last settled."""
    return getattr(_pending, "changed", False)


def settle_if_changed() -> None:
    if pending():
        _pending.changed = False
        settle()


def middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Outermost: a request that changed a credential answers once every process has applied it."""
    def settling(request: Any) -> Any:
        _pending.changed = False  # (what this thread changed before is not this request's to wait for)
        response = get_response(request)
        settle_if_changed()
        return response
    return settling


def stop() -> None:
    """Stop listening in this process (tests: the test database is dropped at the end; a thread
    still connected would hold it)."""
    listener = _listener
    _pending.changed = False
    with listener.lock:
        listener.generation += 1
        listener.pid = 0
        _disconnect(listener)


def listening() -> bool:
    """Is this process's listener connected and hearing notifications (tests wait for it)."""
    listener = _listener
    return listener.pid == os.getpid() and listener.conn is not None and time.monotonic() - listener.beat_sent <= STALE_SECONDS


def _start(forget: Forget) -> None:
    listener = _listener
    with listener.lock:
        if listener.pid == os.getpid():
            return
        listener.conn = None  # a forked parent's connection is the parent's: never used here
        listener.pid, listener.forget = os.getpid(), forget
        listener.generation += 1
        generation = listener.generation
    threading.Thread(target=_run, args=(generation,), name="credential-notifications", daemon=True).start()


def _run(generation: int) -> None:
    listener = _listener
    while listener.generation == generation:
        if listener.conn is None:
            try:
                conn = _connect()
            except Exception:  # the database is away: requests ask it (and meet core.outage) meanwhile
                time.sleep(RETRY_SECONDS)
                continue
            with listener.lock:
                if listener.generation != generation:
                    conn.close()
                    return
                listener.conn, listener.beat_sent, listener.next_beat = conn, float("-inf"), 0.0  # trusted once a beat arrives
                listener.name, listener.backend = secrets.token_hex(4), conn.info.backend_pid
                _changed(listener, None)  # whatever changed while nobody listened
        conn = listener.conn
        try:
            _wait_readable(conn, max(0.0, listener.next_beat - time.monotonic()))
        except Exception:  # noqa: S110 - closed under us (stop, or a request found it broken): _drain finds out
            pass
        with listener.lock:
            if listener.conn is not conn:
                continue
            try:
                now = time.monotonic()
                if now >= listener.next_beat:  # the heartbeat: a notification to itself, heard only if notifications arrive
                    sent = conn.execute("SELECT pg_backend_pid() FROM pg_notify(%s, %s)",
                                        [CHANNEL, f"{BEAT}{listener.name}:{now!r}"]).fetchone()
                    if sent is None or sent[0] != listener.backend:
                        # Not the session that LISTENs (a pooler in transaction mode): what it hears
                        # is not all there is. Never trusted; asked again after RETRY_SECONDS.
                        raise RuntimeError("the listening connection is not one session")
                    listener.next_beat = now + HEARTBEAT_SECONDS
                _drain(listener)
            except Exception:
                _disconnect(listener)
        if listener.conn is None and listener.generation == generation:
            time.sleep(RETRY_SECONDS)


def _connect(application_name: str = LISTENER_NAME) -> Any:
    import psycopg

    params = connection.get_connection_params()
    params.update(application_name=application_name, connect_timeout=2, autocommit=True)
    # A silent network (no reset) is noticed by the heartbeat's send within tcp_user_timeout.
    params.update(keepalives=1, keepalives_idle=5, keepalives_interval=1, keepalives_count=2, tcp_user_timeout=2000)
    conn = psycopg.connect(**params)
    conn.execute(f"LISTEN {CHANNEL}")  # (settle hears the answers on its own connection)
    return conn


def _wait_readable(conn: Any, seconds: float) -> bool:
    """Has the connection something to read within `seconds` (poll: any descriptor number)."""
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(seconds * 1000))


def _readable(conn: Any) -> bool:
    try:
        return _wait_readable(conn, 0)
    except Exception:
        return True  # let _drain find out


def _drain(listener: _Listener) -> None:
    """Apply every notification received, in commit order, then answer the settle() calls among
    them (the lock held); a broken connection is dropped."""
    own = f"{BEAT}{listener.name}:"
    settles = []
    try:
        for notification in listener.conn.notifies(timeout=0):
            payload = notification.payload
            if payload.startswith(BEAT):
                if payload.startswith(own) and notification.pid == listener.backend:
                    listener.beat_sent = float(payload[len(own):])  # everything committed before it was sent is applied
            elif payload.startswith(ACK):
                continue
            elif payload.startswith(SETTLE):
                settles.append(ACK + payload[len(SETTLE):])
            elif payload.startswith(SYNC):
                listener.syncs.add(payload)
                listener.heard_sync.notify_all()
            else:
                _changed(listener, payload or None)
        for ack in settles:
            listener.conn.execute("SELECT pg_notify(%s, %s)", [CHANNEL, ack])
    except Exception:
        _disconnect(listener)


def _changed(listener: _Listener, key_hash: str | None) -> None:
    listener.changes += 1
    listener.forget(key_hash)


def _disconnect(listener: _Listener) -> None:
    conn, listener.conn = listener.conn, None
    _changed(listener, None)  # not listening: nothing remembered is taken until listening again
    if conn is not None:
        try:
            conn.close()
        except Exception:  # noqa: S110 - already broken
            pass
