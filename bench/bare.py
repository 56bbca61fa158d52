"""Bare Django views: the same database reads and writes as the API, without DRF, auth or validation.

They are the baseline bench/api.py divides by: what serving costs before the product adds anything.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.models import ApiKey, Customer, hash_token
from callnotify import ingest
from callnotify.serializers import accepted
from callnotify.models import CallNotify
from core.db import fetch_one
from sbcrules.lookup import route_call
from sbcrules.models import Rule
from sbcrules.serializers import route_answer


def callnotify_list(request: HttpRequest, customer_id: str) -> JsonResponse:
    rows = CallNotify.objects.filter(customer_id=customer_id).order_by("id").values("id", "url", "method", "selection", "state")
    return JsonResponse([{"_id": r.pop("id"), **r} for r in rows], safe=False)


@csrf_exempt
def callnotify_create(request: HttpRequest, customer_id: str) -> JsonResponse:
    body = json.loads(request.body)
    item = CallNotify.objects.create(customer_id=customer_id, url=body["url"], method=body["method"], selection=body["selection"])
    return JsonResponse({"_id": item.pk, "url": item.url, "method": item.method, "selection": item.selection}, status=201)


def rule_list(request: HttpRequest) -> JsonResponse:
    rows = Rule.objects.order_by("id").values("id", "type", "condition", "peer_id", "note")
    return JsonResponse([{"_id": r["id"], "type": r["type"], "condition": r["condition"], "peer": r["peer_id"], "note": r["note"]} for r in rows], safe=False)


def route(request: HttpRequest) -> JsonResponse:
    decision = route_call(bnumber=request.GET.get("bnumber"), anumber=request.GET.get("anumber"), customer=None)
    return JsonResponse(route_answer(decision))


PROBE = f"SELECT 1 FROM {ApiKey._meta.db_table} WHERE key_hash = %s"


def route_probed(request: HttpRequest) -> JsonResponse:
    """The look-up after one indexed credential probe (prepared, as the API's): the database work
    a look-up cannot do without while revocation takes effect on the next request."""
    fetch_one(PROBE, [hash_token("bench-probe")])
    return route(request)


@csrf_exempt
def callevent(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    info = ingest.customers_with_endpoints([body["customer"]])[body["customer"]]
    new = ingest.NewEvent(body["customer"], body["callId"], {
        "type": body["type"], "direction": body["direction"], "state": body["state"], "a_number": body["aNumber"],
        "b_number": body["bNumber"], "timestamp": body["timestamp"]})
    return JsonResponse(accepted(ingest.store_one(new, info)), status=202)
