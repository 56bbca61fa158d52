"""Operator admin for call notify items; the model's validators make it refuse what the API refuses."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from callnotify.models import CallNotify


class CallNotifyForm(forms.ModelForm):
    class Meta:
        model = CallNotify
        fields = ["customer", "url", "method", "selection", "state"]
        # The form's own checks speak the API's words too (docs/api.md §5).
        error_messages = {
            "url": {"required": "Invalid URL", "max_length": "Invalid URL"},
            "method": {"required": "Invalid method", "invalid_choice": "Invalid method"},
            "selection": {"required": "Invalid selection", "invalid_choice": "Invalid selection"},
        }

    def _update_errors(self, errors):  # type: ignore[no-untyped-def]
        # The secret is not on this form (the admin never shows it): an error about it comes
        # from the URL the operator changed (a signed endpoint moved to tcp/udp), so it shows there.
        if hasattr(errors, "error_dict") and "secret" in errors.error_dict:
            errors.error_dict.setdefault("url", []).extend(errors.error_dict.pop("secret"))
        super()._update_errors(errors)


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


from callnotify import event_admin  # noqa: F401,E402  (call events and deliveries; keep last: it extends CallNotifyAdmin)
