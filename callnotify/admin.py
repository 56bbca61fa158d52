"""Operator admin for call notify items; the model's validators make it refuse what the API refuses."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from callnotify import health
from callnotify.models import CallNotify
from callnotify.signing import generate_secret
from telecomx.messages import DocumentedForm


class CallNotifyForm(DocumentedForm):
    """The form's own checks speak the API's words too (docs/api.md §5): the model fields' messages."""

    class Meta:
        model = CallNotify
        fields = ["customer", "url", "method", "selection", "state"]

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
    fields = ["id", "customer", "url", "method", "selection", "state", "secret_status", "deliveries", "health_figures",
              "created_at", "updated_at"]

    @admin.display(description="signing secret")
    def secret_status(self, obj: CallNotify) -> str:
        if not obj.pk:
            return "—"
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
        h = health.health_of([obj])[obj.pk]
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
        secret = None
        if request.method == "POST":
            secret = generate_secret()
            obj.secret = secret
            obj.save(update_fields=["secret", "updated_at"])
            self.log_change(request, obj, [{"changed": {"fields": ["secret"]}}])
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": obj,
                   "title": "Signing secret", "secret": secret, "had_secret": bool(obj.secret)}
        return TemplateResponse(request, "admin/callnotify/secret.html", context)


from callnotify import event_admin  # noqa: F401,E402  (call events and deliveries; keep last: it extends CallNotifyAdmin)
