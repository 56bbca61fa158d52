"""Operator admin for call events and deliveries: read-only logs, plus retry and test actions (docs/callevents.md §5).

Imported at the end of callnotify/admin.py, after CallNotifyAdmin is registered, so the
"send a test event" action can be added to it here.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from callnotify import dispatch
from callnotify.delivery import send_test_event
from callnotify.models import Attempt, CallEvent, CallNotify, Delivery


class ReadOnlyAdmin(admin.ModelAdmin):
    """A log: operators look and act through the actions, never edit rows."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ["id", "endpoint", "state", "attempts", "last_status", "last_error", "next_attempt_at", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CallEvent)
class CallEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "call_id", "sequence", "state", "type", "direction", "customer", "a_number", "b_number", "timestamp"]
    list_filter = ["state", "type", "direction", ("customer", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["customer"]
    search_fields = ["id", "call_id", "a_number", "b_number", "customer__name"]
    date_hierarchy = "created_at"
    inlines = [DeliveryInline]


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = ["number", "started_at", "duration_ms", "outcome", "status", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.action(description="Retry the selected failed deliveries now (a new round of attempts)")
def retry_failed(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
    ids = list(queryset.filter(state=Delivery.State.FAILED).values_list("id", flat=True))
    # The attempts counter restarts so the whole schedule applies again; earlier attempts stay in the log.
    Delivery.objects.filter(pk__in=ids).update(state=Delivery.State.PENDING, attempts=0, next_attempt_at=timezone.now(),
                                               finished_at=None, lease_until=None, deferred=False)
    dispatch.enqueue(ids)
    skipped = queryset.count() - len(ids)
    modeladmin.message_user(request, f"{len(ids)} deliveries queued again" + (f"; {skipped} not FAILED, left alone" if skipped else ""))


def _send_tests(modeladmin: admin.ModelAdmin, request: HttpRequest, endpoints: QuerySet[CallNotify]) -> None:
    for endpoint in endpoints:
        result = send_test_event(endpoint)
        if result.delivered:
            modeladmin.message_user(request, f"{endpoint}: delivered (status {result.status}, {result.duration_ms} ms)")
        else:
            modeladmin.message_user(request, f"{endpoint}: not delivered: {result.error}", level=messages.ERROR)


@admin.action(description="Send a test event to the selected call notify items")
def send_test_events(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[CallNotify]) -> None:
    _send_tests(modeladmin, request, queryset[:20])


@admin.action(description="Send a test event to these deliveries' endpoints")
def send_test_events_to_endpoints(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
    _send_tests(modeladmin, request, CallNotify.objects.filter(pk__in=queryset.values("endpoint_id"))[:20])


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "call_id", "sequence", "event_state", "endpoint", "state", "attempts", "last_status", "last_error",
                    "created_at", "next_attempt_at", "finished_at"]
    list_filter = ["state", ("endpoint__customer", admin.RelatedOnlyFieldListFilter), ("endpoint", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["event", "endpoint"]
    search_fields = ["id", "call_id", "event__id", "endpoint__url"]
    date_hierarchy = "created_at"
    inlines = [AttemptInline]
    actions = [retry_failed, send_test_events_to_endpoints]

    @admin.display(description="event", ordering="event__state")
    def event_state(self, obj: Delivery) -> str:
        return obj.event.state


def _add_test_action_to_callnotify_admin() -> None:
    registered = admin.site._registry.get(CallNotify)
    if registered is not None and send_test_events not in (registered.actions or []):
        registered.actions = [*(registered.actions or []), send_test_events]


_add_test_action_to_callnotify_admin()
