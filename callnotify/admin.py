"""Operator admin for call notify items (the model's validators make it refuse what the API refuses), and the
read-only logs of call events and deliveries with their retry and test actions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from accounts.models import Customer
from callnotify import endpoint_health
from callnotify.delivery import retry_now, send_test_event
from callnotify.models import SECRET_NOT_SIGNABLE, TOO_MANY, Attempt, CallEvent, CallNotify, Delivery, room_for_another
from callnotify.signing import generate_secret
from core.admin_filters import AUTOCOMPLETE_MEDIA, AutocompleteFilter
from core.ids import normalize_id
from core.messages import DocumentedForm


class CallNotifyForm(DocumentedForm):
    """The form's own checks speak the API's words too (docs/api.md §5): the model fields' messages."""

    class Meta:
        model = CallNotify
        fields = ["customer", "url", "method", "selection", "state"]

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean()
        customer = data.get("customer")
        if self.instance._state.adding and customer is not None and not room_for_another(customer):
            self.add_error("customer", f"{TOO_MANY} (this customer's limit is set on its page)")
        return data

    def _update_errors(self, errors):  # type: ignore[no-untyped-def]
        # The secret is not on this form (the admin never shows it): an error about it comes
        # from the URL the operator changed (a signed endpoint moved to tcp/udp), so it shows there.
        if hasattr(errors, "error_dict") and "secret" in errors.error_dict:
            errors.error_dict.setdefault("url", []).extend(errors.error_dict.pop("secret"))
        super()._update_errors(errors)


@admin.register(CallNotify)
class CallNotifyAdmin(admin.ModelAdmin):
    form = CallNotifyForm
    list_display = ["id", "customer", "url", "method", "selection", "state", "secret_status", "updated_at"]
    list_filter = ["method", "selection", "state"]
    list_select_related = ["customer"]
    search_fields = ["url", "=id", "customer__name", "=customer__id"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["id", "secret_status", "deliveries", "health_figures", "created_at", "updated_at"]
    actions = ["send_test_events"]
    fields = ["id", "customer", "url", "method", "selection", "state", "secret_status", "deliveries", "health_figures",
              "created_at", "updated_at"]

    @admin.display(description="signing secret")
    def secret_status(self, obj: CallNotify) -> str:
        if not obj.pk:
            return "—"
        if obj.is_streamed():
            return "not used: tcp and udp deliveries carry no signature"
        state = "set (deliveries are signed)" if obj.secret else "not set (deliveries are not signed)"
        button = "Rotate secret" if obj.secret else "Generate secret"
        url = reverse("admin:callnotify_callnotify_secret", args=[obj.pk])
        return format_html('{} <a class="button" id="secret-generate" href="{}">{}</a>', state, url, button)

    @admin.display(description="deliveries")
    def deliveries(self, obj: CallNotify) -> str:
        if not obj.pk:
            return "—"
        url = reverse("admin:callnotify_delivery_changelist")
        return format_html('<a id="endpoint-deliveries" href="{}?endpoint__id={}">All deliveries</a> · '
                           '<a href="{}?endpoint__id={}&state__exact=FAILED">failed ones</a>', url, obj.pk, url, obj.pk)

    @admin.display(description="health")
    def health_figures(self, obj: CallNotify) -> str:
        if not obj.pk:
            return "—"
        h = endpoint_health.health_of([obj])[obj.pk]
        when = lambda t: t.strftime("%Y-%m-%d %H:%M:%S") if t else "never"  # noqa: E731
        rows = [
            ("last hour", f"{h['lastHour']['delivered']} delivered, {h['lastHour']['failed']} failed"),
            ("last day", f"{h['lastDay']['delivered']} delivered, {h['lastDay']['failed']} failed"),
            ("attempt duration (day)", f"p50 ≤ {h['lastDay']['p50DurationMs']} ms, p95 ≤ {h['lastDay']['p95DurationMs']} ms"
             if h["lastDay"]["p50DurationMs"] is not None else "no attempts"),
            ("last success", when(h["lastSuccessAt"])),
            ("consecutive failures", f"{h['consecutiveFailures']}" + (f" since {when(h['failingSince'])}" if h["failingSince"] else "")),
        ]
        if h["disabledReason"]:
            rows.append(("disabled", h["disabledReason"]))
        return format_html('<table id="endpoint-health">{}</table>',
                           format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.secret_view)
        return [path("<str:pk>/secret/", view, name="callnotify_callnotify_secret"), *super().get_urls()]

    def secret_view(self, request: HttpRequest, pk: str) -> HttpResponse:
        """GET: confirm; POST: a new secret, saved and shown on this page once (never again)."""
        obj = self.get_object(request, pk)
        if obj is None or not self.has_change_permission(request, obj):
            raise PermissionDenied
        if obj.is_streamed():  # refused as the API refuses it: the secret would never be used
            messages.error(request, SECRET_NOT_SIGNABLE)
            return redirect("admin:callnotify_callnotify_change", obj.pk)
        secret = None
        if request.method == "POST":
            secret = generate_secret()
            obj.secret = secret
            obj.save(update_fields=["secret", "updated_at"])
            self.log_change(request, obj, [{"changed": {"fields": ["secret"]}}])
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": obj,
                   "title": "Signing secret", "secret": secret, "had_secret": bool(obj.secret)}
        return TemplateResponse(request, "admin/callnotify/secret.html", context)

    @admin.action(description="Send a test event to the selected call notify items")
    def send_test_events(self, request: HttpRequest, queryset: QuerySet[CallNotify]) -> None:
        _send_tests(self, request, queryset[:20])


# The logs' own look (a delivery's state in colour), besides the filters' scripts.
LOG_MEDIA = forms.Media(css={"screen": ["callnotify/admin.css"]})


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
        return super().media + AUTOCOMPLETE_MEDIA + LOG_MEDIA

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
        return super().media + AUTOCOMPLETE_MEDIA + LOG_MEDIA

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
