"""Operator admin for call events and deliveries: read-only logs, plus retry and test actions (docs/callevents.md §5).

Imported at the end of callnotify/admin.py, after CallNotifyAdmin is registered, so the
"send a test event" action can be added to it here.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from accounts.models import Customer

from callnotify import dispatch
from callnotify.delivery import send_test_event
from callnotify.models import Attempt, CallEvent, CallNotify, Delivery
from console.filters import AUTOCOMPLETE_MEDIA, AutocompleteFilter
from telecomx.ids import normalize_id


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


class EventCustomerFilter(AutocompleteFilter):
    title, parameter_name = "customer", "customer__id"
    model, source = Customer, ("callnotify", "callevent", "customer")


@admin.register(CallEvent)
class CallEventAdmin(ReadOnlyAdmin):
    """Millions of rows, like deliveries: customer chosen by typing, exact searches, no full count or date scan."""

    list_display = ["id", "call_id", "sequence", "state", "type", "direction", "customer", "a_number", "b_number", "timestamp"]
    list_filter = ["state", "type", "direction", EventCustomerFilter]
    list_select_related = ["customer"]
    search_fields = ["id"]  # see get_search_results
    search_help_text = "An exact event id, call id or customer id."
    show_full_result_count = False
    list_per_page = 50
    inlines = [DeliveryInline]

    @property
    def media(self):  # type: ignore[override]
        return super().media + AUTOCOMPLETE_MEDIA

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[CallEvent], search_term: str) -> tuple[QuerySet[CallEvent], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if "\x00" in term or len(term) > 255:
            return queryset.none(), False
        key = normalize_id(term)
        match = Q(call_id=term)
        if key:
            match |= Q(pk=key) | Q(customer_id=key)
        return queryset.filter(match), False


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = ["number", "started_at", "duration_ms", "outcome", "status", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def requeue_failed(queryset: QuerySet[Delivery]) -> list[str]:
    """Retry now: the FAILED deliveries among `queryset` start a new round of attempts. The one
    place this transition is made (this action, and the API's retry and recover, call it)."""
    ids = list(queryset.filter(state=Delivery.State.FAILED).values_list("id", flat=True))
    # The attempts counter restarts so the whole schedule applies again; earlier attempts stay in the log.
    Delivery.objects.filter(pk__in=ids).update(state=Delivery.State.PENDING, attempts=0, next_attempt_at=timezone.now(),
                                               finished_at=None, lease_until=None, deferred=False)
    dispatch.enqueue(ids)
    return ids


@admin.action(description="Retry the selected failed deliveries now (a new round of attempts)")
def retry_failed(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
    ids = requeue_failed(queryset)
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


class CustomerFilter(AutocompleteFilter):
    title, parameter_name = "customer", "endpoint__customer__id"
    model, source = Customer, ("callnotify", "callnotify", "customer")


class EndpointFilter(AutocompleteFilter):
    title, parameter_name = "endpoint", "endpoint__id"
    model, source = CallNotify, ("callnotify", "delivery", "endpoint")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """Millions of rows: filters chosen by typing, exact searches on indexed keys, no full count,
    no date hierarchy (its date list is a scan); the columns that matter fit 1,280 px."""

    list_display = ["created", "call", "endpoint_link", "customer", "state_label", "attempts", "status", "error"]
    list_display_links = ["created"]
    list_filter = ["state", CustomerFilter, EndpointFilter]
    list_select_related = ["event", "endpoint__customer"]
    search_fields = ["id"]  # see get_search_results
    search_help_text = "An exact delivery id, event id, call id, customer id or call notify id."
    show_full_result_count = False
    list_per_page = 50
    inlines = [AttemptInline]
    actions = [retry_failed, send_test_events_to_endpoints]

    @property
    def media(self):  # type: ignore[override]
        return super().media + AUTOCOMPLETE_MEDIA

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Delivery], search_term: str) -> tuple[QuerySet[Delivery], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if "\x00" in term or len(term) > 255:  # no call id is like that (and PostgreSQL text cannot hold NUL)
            return queryset.none(), False
        key = normalize_id(term)
        match = Q(event_id__in=CallEvent.objects.filter(call_id=term).values("id"))
        if key:
            match |= (Q(pk=key) | Q(event_id=key) | Q(endpoint_id=key)
                      | Q(endpoint_id__in=CallNotify.objects.filter(customer_id=key).values("id")))
        return queryset.filter(match), False

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Delivery) -> str:
        return timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="call", ordering="call_id")
    def call(self, obj: Delivery) -> str:
        return f"{obj.call_id[:32]} #{obj.sequence} {obj.event.state}"

    @admin.display(description="call notify")
    def endpoint_link(self, obj: Delivery) -> str:
        url = reverse("admin:callnotify_callnotify_change", args=[obj.endpoint_id])
        return format_html('<a href="{}" title="{}">{}</a>', url, obj.endpoint.url, Truncator(obj.endpoint.url).chars(32))

    @admin.display(description="customer")
    def customer(self, obj: Delivery) -> str:
        return obj.endpoint.customer.name

    @admin.display(description="state", ordering="state")
    def state_label(self, obj: Delivery) -> str:
        return format_html('<span class="delivery-state-{}">{}</span>', obj.state, obj.state)

    @admin.display(description="status", ordering="last_status")
    def status(self, obj: Delivery) -> object:
        return obj.last_status

    @admin.display(description="last error")
    def error(self, obj: Delivery) -> str:
        return format_html('<span title="{}">{}</span>', obj.last_error, Truncator(obj.last_error).chars(48))


def _add_test_action_to_callnotify_admin() -> None:
    registered = admin.site._registry.get(CallNotify)
    if registered is not None and send_test_events not in (registered.actions or []):
        registered.actions = [*(registered.actions or []), send_test_events]


_add_test_action_to_callnotify_admin()
