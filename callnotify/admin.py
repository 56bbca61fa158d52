"""Operator admin: call notify items (the model's validators make it refuse what the API refuses), and the
read-only logs of call events and deliveries with their retry and test actions (events.md §5)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from callnotify.delivery import retry_now, send_test_event
from callnotify.models import Attempt, CallEvent, CallNotify, Delivery
from telecomx.messages import DocumentedForm


class CallNotifyForm(DocumentedForm):
    """The form's own checks speak the API's words too (api.md §5): the model fields' messages."""

    class Meta:
        model = CallNotify
        fields = ["customer", "url", "method", "selection", "state"]


@admin.register(CallNotify)
class CallNotifyAdmin(admin.ModelAdmin):
    form = CallNotifyForm
    list_display = ["id", "customer", "url", "method", "selection", "state", "updated_at"]
    list_filter = ["method", "selection", "state", ("customer", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["customer"]
    search_fields = ["url", "id", "customer__name", "customer__id"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["id", "created_at", "updated_at"]
    fields = ["id", "customer", "url", "method", "selection", "state", "created_at", "updated_at"]
    actions = ["send_test_events"]

    @admin.action(description="Send a test event to the selected call notify items")
    def send_test_events(self, request: HttpRequest, queryset: QuerySet[CallNotify]) -> None:
        _send_tests(self, request, queryset[:20])


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
    # The attempts counter restarts so the whole schedule applies again; earlier attempts stay in the log.
    queued = retry_now(list(queryset.values_list("id", flat=True)))
    skipped = queryset.count() - queued
    modeladmin.message_user(request, f"{queued} deliveries queued again" + (f"; {skipped} not FAILED, left alone" if skipped else ""))


def _send_tests(modeladmin: admin.ModelAdmin, request: HttpRequest, endpoints: QuerySet[CallNotify]) -> None:
    for endpoint in endpoints:
        result = send_test_event(endpoint)
        if result.delivered:
            modeladmin.message_user(request, f"{endpoint}: delivered (status {result.status}, {result.duration_ms} ms)")
        else:
            modeladmin.message_user(request, f"{endpoint}: not delivered: {result.error}", level=messages.ERROR)


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
