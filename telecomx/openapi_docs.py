"""What the OpenAPI schema tells a client about each operation, written for clients: a
description, a request and response example, and every error it can answer with its code and
message. The postprocessing hook `document_operations` puts them into the generated schema;
tests check that every operation has an entry and that every example fits its own schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CUSTOMER = "6b0435f61e325f562a0a3d34"
EMPLOYEE = "6b0435f71e325f562a0a3d36"
ITEM = "6b0435fcdbc6a327465cc9cb"
RULE = "6b043a1e8c2f4d0012ab34cd"
EVENT = "6b043b02d1e5a70019cc0a11"
DELIVERY = "6b043b02d1e5a70019cc0a12"
SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

Error = tuple[int, str, str]  # status, code, message


def _errors(*entries: Error) -> list[Error]:
    return list(entries)


# Errors any call with a bearer token can answer.
AUTH_ERRORS = _errors(
    (401, "credentials_invalid", "Authorization required, please login"),
    (401, "format_error", "Authorization header format is Authorization: Bearer <token>"),
    (401, "invalid_token", "Undecipherable"),
    (401, "expired", "Session has expired, please login"),
    (429, "rate_limited", "Too many requests"),
)
DENIED = (403, "access_denied", "Insufficient access level")
NO_CUSTOMER = (404, "customer", "Customer not found")
BAD_JSON = (400, "bad_request", "JSON parse error - Expecting value: line 1 column 1 (char 0)")
NOT_OBJECT = (400, "bad_request", "The request body must be a JSON object")
BAD_PAGE = (400, "bad_request", "limit must be a whole number from 1 to 500")
MULTIPLE = (422, "multiple", "Multiple errors")
CALLNOTIFY_FIELDS = _errors(
    (422, "url", "Invalid URL"),
    (422, "url", "URL protocol is invalid"),
    (422, "url", "Protocol types TCP and UDP only permit host and port"),
    (422, "url", "Protocol types TCP and UDP requires a valid port"),
    (422, "url", "Port is invalid"),
    (422, "url", "URL points to an invalid IP address"),
    (422, "url", "URL points to an invalid hostname"),
    (422, "method", "Invalid method"),
    (422, "selection", "Invalid selection"),
    (422, "state", "Invalid state"),
    (422, "secret", "Invalid secret"),
    (422, "secret", "Only http and https endpoints can be signed"),
    MULTIPLE,
)
NO_ITEM = (404, "not_found", "Call notify not found")
RULE_FIELDS = _errors(
    (422, "type", "Type is invalid"),
    (422, "condition", "Condition is invalid"),
    (422, "condition", "Prefix is invalid"),
    (422, "condition", "Customer not found"),
    (422, "condition", "CPS not found"),
    (422, "peer", "Peer is invalid"),
    (422, "note", "Note is invalid"),
    MULTIPLE,
    (404, "peer", "Peer not found"),
    (409, "rule", "Rule already exists"),
)
NO_RULE = (404, "id", "Rule not found")
PEER_FIELDS = _errors(
    (422, "id", "Peer id is invalid"),
    (422, "name", "Name is invalid"),
    (422, "default", "Default is invalid"),
    (422, "hosts", "Hosts are invalid"),
    (422, "hosts", "Host is invalid"),
    (422, "hosts", "Host is listed twice"),
    (422, "hosts", "Host state is invalid"),
    (422, "failoverPeerId", "Failover peer is invalid"),
    (422, "failoverPeerId", "Failover peer not found"),
    (422, "networkInterface", "Network interface is invalid"),
    (422, "up", "Up is invalid"),
    MULTIPLE,
    (409, "peer", "Peer already exists"),
    (409, "default", "Another peer is the default"),
)
NO_PEER = (404, "id", "Peer not found")
OPERATOR_FIELDS = _errors(
    (422, "id", "5-digit operator code"),
    (422, "name", "Name is invalid"),
    (422, "address", "Address is invalid"),
    MULTIPLE,
)
NO_NUMBER = (404, "number", "Number not found")
EVENT_FIELDS = _errors(
    *[(422, name, f"Invalid {name}") for name in ("callId", "type", "direction", "state", "aNumber", "bNumber",
                                                   "timestamp", "duration", "cause", "additional")],
    (422, "customer", "Invalid customer"),
    (422, "customer", "Customer not found"),
    MULTIPLE,
)


@dataclass
class Operation:
    description: str
    response: Any  # example of the success answer
    request: Any = None  # example of the request body, where there is one
    errors: list[Error] = field(default_factory=list)
    authenticated: bool = True


HEALTH = {"lastHour": {"delivered": 310, "failed": 2, "p50DurationMs": 40, "p95DurationMs": 160},
          "lastDay": {"delivered": 7020, "failed": 31, "p50DurationMs": 40, "p95DurationMs": 320},
          "lastSuccessAt": "2026-11-22T10:15:00Z", "lastFailureAt": "2026-11-22T09:02:11Z", "consecutiveFailures": 0,
          "failingSince": None, "disabledReason": None}
CALLNOTIFY = {"_id": ITEM, "customer": CUSTOMER, "url": "https://hooks.example.com/calls?key=abc", "method": "POSTJSON",
              "selection": "ALL", "state": "ACTIVE", "health": HEALTH}
RULE_BODY = {"_id": RULE, "type": "PREFIX", "condition": "+4570", "peer": "TDC", "note": "Danish service numbers"}
PEER = {"_id": "TDC", "name": "TDC A/S", "default": False,
        "hosts": [{"host": "192.0.2.10", "state": "up", "port": 5060, "transport": "udp"}],
        "failoverPeerId": "TELENOR", "networkInterface": "ETH0", "up": True}
OPERATOR = {"_id": "01011", "name": "TDC", "address": "Teglholmsgade 1, 2450 København SV"}
NUMBER = {"number": "+4570305050", "operator": "01011", "ported": True}
DELIVERED = {"_id": DELIVERY, "event": EVENT, "callId": "a84b4c76e66710@192.0.2.4", "eventState": "ANSWERED", "sequence": 2,
             "state": "DELIVERED", "attempts": 1, "lastStatus": 204, "createdAt": "2026-11-22T10:15:00Z",
             "finishedAt": "2026-11-22T10:15:00Z"}
WAITING = {"_id": "6b043b02d1e5a70019cc0a10", "event": "6b043b01d1e5a70019cc0a0f", "callId": "a84b4c76e66710@192.0.2.4",
           "eventState": "RINGING", "sequence": 1, "state": "PENDING", "attempts": 2, "lastError": "connection refused",
           "createdAt": "2026-11-22T10:14:51Z", "nextAttemptAt": "2026-11-22T10:15:31Z"}
CALL_EVENT = {"callId": "a84b4c76e66710@192.0.2.4", "customer": CUSTOMER, "type": "SIP", "direction": "INBOUND",
              "state": "ANSWERED", "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z",
              "additional": {"sbcServer": "sbc1", "sourcePeer": "TDC"}}
ETAG = ("The answer carries an `ETag` that changes whenever rules, peers or hosts change; send it back in "
        "`If-None-Match` to get 304 and no body while nothing changed. ")
PAGING = ("Add `?offset=` and/or `?limit=` (1..500, default 100) to get one page: the answer stays a plain array, "
          "with the whole list's size in `X-Total-Count` and the neighbouring pages in an RFC 8288 `Link` header "
          '(`rel="next"`, `rel="prev"`). Without them the whole list is answered.')
ROUTE_READ = "Who: RESELLER_ADMIN whose customer has the TELE feature, ADMIN."
CN_WHO = ("Who: VIEWER, MANAGER or OWNER of the customer; RESELLER or RESELLER_ADMIN above it; ADMIN. "
          "A customer the caller cannot reach answers 404 `customer`, as an unknown one does.")
UPDATE = "Only the properties sent change (POST and PATCH do the same)."
RULE_WRITE = ("Who: RESELLER_ADMIN whose customer has the FINANCE feature, or ADMIN, for every rule type; a CUSTOMER "
              "rule only for a customer the caller reaches (any other is 422 `condition` \"Customer not found\").")

APIKEY = {"_id": "6b0440a1b2c3d4e5f6a7b8c9", "name": "kamailio-1", "account": "6b0440a1b2c3d4e5f6a7b8c8",
          "prefix": "txk_Q2x9aB", "createdAt": "2026-11-23T09:00:00Z", "createdBy": EMPLOYEE, "revokedAt": None}
NO_APIKEY = (404, "id", "API key not found")
APIKEY_WHO = "Who: ADMIN (a key itself is refused)."

OPERATIONS: dict[str, Operation] = {
    "apikey_list": Operation(f"Every service account API key, newest first, revoked ones included. Never the key itself. {APIKEY_WHO}",
                             [APIKEY], errors=[DENIED]),
    "apikey_create": Operation(
        "Make an API key for a switch: without `account`, a new service account (no password, able only to look "
        "up routes and post call events) and its first key; with `account`, another key for that service "
        f"account (rotate without a gap). The key (`txk_...`) is in this answer only. {APIKEY_WHO}",
        {**APIKEY, "key": "txk_Q2x9aBvK3mR7tYw1LpE5sD8fH0jN4cZ6uI2oA9gX"},
        {"name": "kamailio-1"},
        [(422, "name", "Name is invalid"), (404, "account", "Service account not found"), DENIED, BAD_JSON],
    ),
    "apikey_retrieve": Operation(f"One API key (never the key itself). {APIKEY_WHO}", APIKEY, errors=[NO_APIKEY, DENIED]),
    "apikey_destroy": Operation(
        f"Revoke an API key: it stops working on the next request, in every process. Revoking again changes nothing. {APIKEY_WHO}",
        {**APIKEY, "revokedAt": "2026-11-23T12:00:00Z"}, errors=[NO_APIKEY, DENIED],
    ),
    "auth_login_create": Operation(
        "Log in with an employee's e-mail and password. The token lasts 15 minutes from its last use, or until "
        "logout with `persist: true` (`expiresInMinutes: -1`). Send it as `Authorization: Bearer <token>`. "
        "Repeated failures are throttled (429).",
        {"token": "m2W1pZ3x0Yq8TQ8r3y5Jm9c1vA7kLQeH", "expiresInMinutes": 15, "employee": EMPLOYEE,
         "customer": CUSTOMER, "accessLevel": "OWNER"},
        {"username": "owner@hansen.example", "password": "correct horse battery staple"},
        [(401, "credentials_invalid", "Wrong username or password"), (422, "username", "Username is invalid"),
         (422, "password", "Password is invalid"), (422, "persist", "Persist is invalid"), BAD_JSON, NOT_OBJECT,
         (429, "rate_limited", "Too many requests")],
        authenticated=False,
    ),
    "auth_logout_retrieve": Operation("End every token of the caller (all sessions).", {"success": True}),
    "auth_validateToken_retrieve": Operation(
        "Check a token (given in `?token=`) and tell whose it is. Does not extend its life.",
        {"success": True, "employee": EMPLOYEE, "customer": CUSTOMER, "accessLevel": "OWNER"},
        errors=[(401, "invalid_token", "Undecipherable"), (401, "expired", "Session has expired, please login"),
                (401, "credentials_invalid", "Authorization required, please login")],
        authenticated=False,
    ),
    "callevent_create": Operation(
        "A switch reports one state change of a call. The event and one delivery per matching active call notify "
        "item of the customer are stored before the answer; deliveries are then attempted at once and retried on "
        "schedule. Re-posting the same (customer, callId, state) answers the stored event and queues nothing. "
        "Who: a service account with the `callnotify.add_callevent` permission for the customers it can reach; ADMIN. "
        "A customer the caller cannot reach answers 422 `customer` \"Customer not found\".",
        {"_id": EVENT, "sequence": 2, "deliveries": 1},
        CALL_EVENT,
        [*EVENT_FIELDS, DENIED, BAD_JSON,
         (400, "bad_request", "The request body must be a JSON object or an array of at most 1000 objects")],
    ),
    "customer_callnotify_list": Operation(
        f"The customer's call notify items (endpoints told about its calls), oldest first. {PAGING} {CN_WHO}",
        [CALLNOTIFY], errors=[NO_CUSTOMER, DENIED, BAD_PAGE],
    ),
    "customer_callnotify_create": Operation(
        "Register an endpoint for the customer's call events. `url`, `method` and `selection` are required. "
        "Send `\"secret\": \"generate\"` to have deliveries signed with a new secret: that answer shows it, once. "
        f"{CN_WHO}",
        {**CALLNOTIFY, "secret": SECRET},
        {"url": "https://hooks.example.com/calls?key=abc", "method": "POSTJSON", "selection": "ALL", "secret": "generate"},
        [*CALLNOTIFY_FIELDS, NO_CUSTOMER, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    "customer_callnotify_retrieve": Operation(f"One call notify item. {CN_WHO}", CALLNOTIFY, errors=[NO_ITEM, NO_CUSTOMER, DENIED]),
    "customer_callnotify_update_by_post": Operation(
        f"Update a call notify item. {UPDATE} {CN_WHO}", {**CALLNOTIFY, "selection": "SIP"}, {"selection": "SIP"},
        [*CALLNOTIFY_FIELDS, NO_ITEM, NO_CUSTOMER, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    "customer_callnotify_partial_update": Operation(
        f"Update a call notify item. {UPDATE} {CN_WHO}", {**CALLNOTIFY, "state": "DISABLED"}, {"state": "DISABLED"},
        [*CALLNOTIFY_FIELDS, NO_ITEM, NO_CUSTOMER, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    "customer_callnotify_destroy": Operation(
        f"Delete a call notify item and its delivery log. {CN_WHO}", {"success": True}, errors=[NO_ITEM, NO_CUSTOMER, DENIED],
    ),
    "customer_callnotify_deliveries_retrieve": Operation(
        "The delivery log of one call notify item, newest first, paged (`offset`, `limit` 1..500), optionally only "
        "one `state`. Properties without a value yet (`lastStatus`, `lastError`, `nextAttemptAt`, `finishedAt`) are "
        f"left out. {CN_WHO}",
        {"offset": 0, "limit": 100, "total": 2, "deliveries": [DELIVERED, WAITING]},
        errors=[NO_ITEM, NO_CUSTOMER, DENIED, BAD_PAGE, (400, "bad_request", "state must be PENDING, DELIVERED or FAILED")],
    ),
    "customer_callnotify_deliveries_retry_create": Operation(
        "Retry one FAILED delivery now: it becomes PENDING and is attempted at once, with a fresh round of "
        f"attempts. Who: MANAGER and up of the customer (as for call notify items otherwise). {CN_WHO}",
        {**WAITING, "state": "PENDING", "attempts": 0},
        errors=[NO_ITEM, (404, "not_found", "Delivery not found"), NO_CUSTOMER, DENIED,
                (409, "state", "Delivery is DELIVERED: only a FAILED delivery can be retried"),
                (409, "state", "Call notify is DISABLED: set it ACTIVE first")],
    ),
    "customer_callnotify_recover_create": Operation(
        "Retry every FAILED delivery of the endpoint created at or after `since` (at most 10,000 a call; "
        f"`more` says to call again). Who: MANAGER and up. {CN_WHO}",
        {"queued": 42, "more": False}, {"since": "2026-11-23T08:00:00Z"},
        [NO_ITEM, NO_CUSTOMER, DENIED, (422, "since", "Invalid since"), (409, "state", "Call notify is DISABLED: set it ACTIVE first"),
         BAD_JSON, NOT_OBJECT],
    ),
    "customer_callevent_retrieve": Operation(
        "The customer's call events, newest first, paged; `callId`, `since` and `until` narrow the list. "
        f"{CN_WHO}",
        {"offset": 0, "limit": 100, "total": 1, "callEvents": [{"_id": EVENT, **CALL_EVENT, "sequence": 2}]},
        errors=[NO_CUSTOMER, DENIED, BAD_PAGE, (400, "bad_request", "since must be an ISO 8601 time")],
    ),
    "customer_callnotify_test_create": Operation(
        "Send one sample event (state RINGING, a callId starting with `test-`) to the endpoint now, outside the "
        f"queue, and answer with the attempt's outcome. Nothing is stored. {CN_WHO}",
        {"delivered": True, "status": 204, "error": None, "durationMs": 38},
        errors=[NO_ITEM, NO_CUSTOMER, DENIED],
    ),
    "dk_number_list": Operation(
        "The ported Danish numbers and the operator serving each, paged. Who: VIEWER and up.",
        {"offset": 0, "limit": 100, "total": 1, "numbers": [NUMBER]}, errors=[DENIED, BAD_PAGE],
    ),
    "dk_number_retrieve": Operation(
        "Which operator serves a Danish number (`+4570305050`, `4570305050` or `70305050`): its ported-number "
        "record, else the holder of its number range. Who: VIEWER and up.",
        {**NUMBER, "ported": False}, errors=[NO_NUMBER, DENIED],
    ),
    "dk_number_create": Operation(
        "Correct one number: from now on `?operator=` (a CPS code) serves it. Who: ADMIN.",
        NUMBER, errors=[NO_NUMBER, (422, "operator", "Operator is not valid"), DENIED],
    ),
    "dk_operator_list": Operation(
        "The DK operators, by CPS code, paged; `filter` matches part of the name or the start of the code. "
        "Who: VIEWER and up.",
        {"offset": 0, "limit": 100, "total": 1, "operators": [OPERATOR]}, errors=[DENIED, BAD_PAGE],
    ),
    "dk_operator_create": Operation(
        "Add a DK operator, keyed by its 5-digit CPS code. Who: ADMIN.", OPERATOR,
        {"_id": "01011", "name": "TDC", "address": "Teglholmsgade 1, 2450 København SV"},
        [*OPERATOR_FIELDS, (409, "id", "Operator already exists"), DENIED, BAD_JSON, NOT_OBJECT],
    ),
    "dk_operator_retrieve": Operation("One DK operator. Who: VIEWER and up.", OPERATOR, errors=[(404, "id", "Operator not found"), DENIED]),
    "dk_operator_update_by_post": Operation(
        f"Update a DK operator (its code cannot change). {UPDATE} Who: ADMIN.", {**OPERATOR, "name": "TDC NET"},
        {"name": "TDC NET"}, [*OPERATOR_FIELDS, (404, "id", "Operator not found"), DENIED, BAD_JSON, NOT_OBJECT],
    ),
    "dk_operator_partial_update": Operation(
        f"Update a DK operator (its code cannot change). {UPDATE} Who: ADMIN.", {**OPERATOR, "address": ""},
        {"address": None}, [*OPERATOR_FIELDS, (404, "id", "Operator not found"), DENIED, BAD_JSON, NOT_OBJECT],
    ),
    "health_retrieve": Operation(
        "Whether this process can serve: 200 when its database (and broker, where one is configured) answer, "
        "503 otherwise. No login needed; for load balancers.",
        {"status": "ok", "database": "ok", "broker": "not configured"}, authenticated=False,
    ),
    "metrics_retrieve": Operation(
        "Delivery counters (from the database, all processes), routing decisions (every web process of the node that "
        "answered) and the answering process's routing index. Who: ADMIN.",
        {"deliveries": {"byState": {"PENDING": 3, "DELIVERED": 1520, "FAILED": 4},
                        "finishedLastHour": {"DELIVERED": 310, "FAILED": 1}, "overduePending": 0, "heldPending": 2},
         "routing": {"process": 4127, "rules": 1204, "rulesByType": {"ANUMBER": 10, "CUSTOMER": 4, "DKCPS": 30, "PREFIX": 1160},
                     "peers": 6, "unusablePeers": [], "defaultPeer": "TDC", "indexRebuilds": 12, "indexAgeSeconds": 81.5,
                     "decisions": {"anumber": 40, "customer": 2, "dkcps": 803, "prefix": 5120, "default": 12,
                                   "no_route": 0, "no_usable_peer": 1}}},
        errors=[DENIED],
    ),
    "sbc_peer_list": Operation(f"The SBC peers (carrier trunks), by id. {ETAG}{PAGING} {ROUTE_READ}", [PEER], errors=[DENIED, BAD_PAGE]),
    "sbc_peer_create": Operation(
        "Add a peer. `_id` (1..32 of `A-Z a-z 0-9 _ -`, unique ignoring case) is its name in rules and never "
        "changes. At most one peer is the default. Who: ADMIN.",
        PEER, {"_id": "TDC", "name": "TDC A/S", "hosts": [{"host": "192.0.2.10", "port": 5060, "transport": "udp"}],
               "failoverPeerId": "TELENOR",
               "networkInterface": "ETH0"},
        [*PEER_FIELDS, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    "sbc_peer_host_retrieve": Operation(
        f"Whether one host of a peer is marked down. {ROUTE_READ}", {"host": "192.0.2.10", "down": False},
        errors=[NO_PEER, (404, "host", "Host not found"), DENIED],
    ),
    "sbc_peer_host_create": Operation(
        "Mark one host of a peer down or up; routing follows within a second. Who: ADMIN.",
        {"host": "192.0.2.10", "down": True}, {"down": True},
        [NO_PEER, (404, "host", "Host not found"), (422, "down", "Down is invalid"), DENIED, BAD_JSON],
    ),
    "sbc_peer_retrieve": Operation(f"One peer (its id in any case). {ROUTE_READ}", PEER, errors=[NO_PEER, DENIED]),
    "sbc_peer_update_by_post": Operation(
        f"Update a peer. {UPDATE} `hosts`, when sent, replaces the whole list (a host sent without `state` keeps "
        "its own). Who: ADMIN.", {**PEER, "up": False}, {"up": False},
        [*PEER_FIELDS, NO_PEER, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    "sbc_peer_partial_update": Operation(
        f"Update a peer. {UPDATE} `hosts`, when sent, replaces the whole list (a host sent without `state` keeps "
        "its own). Who: ADMIN.", {**PEER, "hosts": [{"host": "192.0.2.10", "state": "down", "port": 5060, "transport": "udp"}]},
        {"hosts": [{"host": "192.0.2.10", "state": "down"}]},
        [*PEER_FIELDS, NO_PEER, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    "sbc_peer_destroy": Operation(
        "Delete a peer no rule or peer points to. Who: ADMIN.", {"success": True},
        errors=[NO_PEER, (409, "peer", "Peer is in use"), DENIED],
    ),
    "sbc_route_retrieve": Operation(
        "The routing decision for an outbound call, answered from memory: the first of ANUMBER (the caller), "
        "CUSTOMER (the calling customer), DKCPS (the operator serving the destination), the longest PREFIX, and the "
        "default peer that matches; an unusable peer (down, or every host down) hands over to its failover peer. "
        f"{ROUTE_READ} Also service accounts with the `sbcrules.lookup_route` permission (the switches).",
        {"peer": "TDC", "rule": {"_id": RULE, "type": "PREFIX", "condition": "+4570"}, "reason": "prefix",
         "operator": "01011", "chain": ["TELENOR", "TDC"],
         "targets": [{"peer": "TDC", "host": "192.0.2.10", "port": 5060, "transport": "udp"},
                     {"peer": "TDC", "host": "2001:db8::10", "port": 5061, "transport": "tls"}]},
        errors=[(422, "bnumber", "Number is invalid"), (422, "anumber", "Number is invalid"),
                (422, "customer", "Customer is invalid"), MULTIPLE, DENIED],
    ),
    "sbc_rule_list": Operation(
        f"The SBC rules, by id; `type` and `peer` narrow the list. {ETAG}{PAGING} Who: ADMIN (every rule); RESELLER_ADMIN "
        "(every rule but the CUSTOMER rules of customers it does not reach).",
        [RULE_BODY], errors=[DENIED, BAD_PAGE, (422, "type", "Type is invalid"), (400, "bad_request", "peer must be a peer id")],
    ),
    "sbc_rule_create": Operation(
        "Add a rule: calls matching `condition` (as its `type` reads it) leave through `peer`. "
        f"{RULE_WRITE}",
        RULE_BODY, {"type": "PREFIX", "condition": "+4570", "peer": "tdc", "note": "Danish service numbers"},
        [*RULE_FIELDS, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    "sbc_rule_retrieve": Operation("One rule. Who: RESELLER_ADMIN, ADMIN.", RULE_BODY, errors=[NO_RULE, DENIED]),
    "sbc_rule_update_by_post": Operation(
        f"Update a rule (its type cannot change). {UPDATE} {RULE_WRITE}",
        {**RULE_BODY, "peer": "TELENOR"}, {"peer": "TELENOR"}, [*RULE_FIELDS, NO_RULE, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    "sbc_rule_partial_update": Operation(
        f"Update a rule (its type cannot change). {UPDATE} {RULE_WRITE}",
        {**RULE_BODY, "note": ""}, {"note": None}, [*RULE_FIELDS, NO_RULE, DENIED, BAD_JSON, NOT_OBJECT],
    ),
    "sbc_rule_destroy": Operation(
        f"Delete a rule. {RULE_WRITE}", {"success": True}, errors=[NO_RULE, DENIED],
    ),
}

# What each object is, for clients (request variants `XRequest`, `PatchedXRequest` share X's).
COMPONENTS = {
    "CallNotify": "An endpoint of the customer's that is told about its call events, in one of six formats "
                  "(`method`), over http, https, tcp or udp.",
    "CallEvent": "One state change of one call, as a switch reports it.",
    "CallEventAccepted": "The stored event: its id, its place in the call (`sequence`) and how many deliveries were queued.",
    "Delivery": "One call event on its way to one call notify endpoint. Properties without a value yet are left out.",
    "DeliveryPage": "One page of a delivery log, newest first.",
    "CallEventPage": "One page of a customer's call events, newest first.",
    "EndpointHealth": "How an endpoint's deliveries went lately (kept by the delivery engine).",
    "HealthWindow": "Attempts to an endpoint within one window of time.",
    "RecoverAnswer": "How many failed deliveries were queued again.",
    "RecoverRequest": "Since when failed deliveries are retried.",
    "Rule": "An outbound routing rule: calls matching `condition`, read as `type` says, leave through `peer`.",
    "Peer": "An SBC peer (carrier trunk) calls leave through. Usable when `up` and at least one host is not down.",
    "HostState": "Whether one host of a peer is marked down.",
    "DkOperator": "A Danish operator, keyed by its 5-digit CPS code.",
    "DkOperatorPage": "One page of DK operators.",
    "DkNumber": "Which operator serves a Danish number.",
    "DkNumberPage": "One page of ported numbers.",
    "RouteAnswer": "The routing decision for one call.",
    "RouteRule": "The rule that decided a route.",
    "RouteTarget": "One host a switch may send the call to.",
    "Session": "A new login's token and who it belongs to.",
    "ApiKey": "A service account's API key, as listed: never the key itself.",
    "NewApiKey": "A new API key: `key` is shown in this answer only.",
    "TokenValidity": "Whose a valid token is.",
    "LoginRequest": "An employee's credentials.",
    "Success": "The action was done.",
    "TestResult": "The outcome of one test delivery.",
    "Health": "Whether this process can serve.",
    "Metrics": "Delivery and routing counters.",
}


# Properties every answer carries although clients may leave them out of requests (the
# serializers mark them optional, which would make generated clients treat them as maybe-absent).
ALWAYS_ANSWERED = {
    "CallNotify": ["_id", "customer", "url", "method", "selection", "state"],
    "Rule": ["_id", "type", "condition", "peer", "note"],
    "Peer": ["_id", "name", "default", "hosts", "networkInterface", "up"],
    "DkOperator": ["_id", "name", "address"],
}


def _component_base(name: str) -> str:
    return name.removeprefix("Patched").removesuffix("Request")


_REASONS = {400: "Bad request", 401: "Not logged in", 403: "Not allowed", 404: "Not found", 409: "Conflict",
            422: "Invalid input", 429: "Too many requests"}


def _error_body(status: int, code: str, message: str) -> dict[str, Any]:
    if code == "multiple":
        inner = [{"code": "url", "status": 422, "message": "Invalid URL", "path": "url"},
                 {"code": "method", "status": 422, "message": "Invalid method", "path": "method"}]
        return {"error": {"code": code, "status": status, "message": message, "inner": inner}}
    body: dict[str, Any] = {"code": code, "status": status, "message": message}
    if status == 422:
        body["path"] = "_id" if code == "id" else code
    return {"error": body}


def documented_errors(operation_id: str) -> dict[int, list[tuple[str, str]]]:
    """status → [(code, message)] an operation documents."""
    op = OPERATIONS[operation_id]
    errors = [*op.errors, *(AUTH_ERRORS if op.authenticated else [])]
    table: dict[int, list[tuple[str, str]]] = {}
    for status, code, message in errors:
        entries = table.setdefault(status, [])
        if (code, message) not in entries:
            entries.append((code, message))
    return table


def _media(schema: dict[str, Any], example: Any, name: str = "example") -> dict[str, Any]:
    return {"schema": schema, "examples": {name: {"value": example}}}


def document_operations(result, generator, request, public):  # type: ignore[no-untyped-def]
    """Postprocessing hook: descriptions, examples and typed error answers for every operation."""
    error_ref = {"$ref": "#/components/schemas/Error"}
    for name, component in result.get("components", {}).get("schemas", {}).items():
        text = COMPONENTS.get(name) or COMPONENTS.get(_component_base(name))
        if text:
            component["description"] = text
        elif name not in ("Error", "ErrorDetail"):
            component.pop("description", None)  # a serializer's docstring is written for developers
        if name in ALWAYS_ANSWERED:
            component["required"] = sorted(set(component.get("required", [])) | set(ALWAYS_ANSWERED[name]),
                                           key=list(component["properties"]).index)
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            op = OPERATIONS.get(operation["operationId"])
            if op is None:
                continue  # tests/test_schema.py fails on an operation missing from OPERATIONS
            operation["description"] = op.description
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and op.request is not None:
                body.update(_media(body["schema"], op.request))
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json")
                if status.startswith("2") and content is not None:
                    content.update(_media(content["schema"], op.response))
            for status, entries in sorted(documented_errors(operation["operationId"]).items()):
                lines = "; ".join(f"`{code}` {message}" for code, message in entries)
                operation["responses"][str(status)] = {
                    "description": f"{_REASONS.get(status, 'Error')}: {lines}",
                    "content": {"application/json": {"schema": error_ref, "examples": {
                        f"{code}_{index}" if index else code: {"summary": message, "value": _error_body(status, code, message)}
                        for index, (code, message) in enumerate(entries)
                    }}},
                }
    return result
