"""Operator admin for customers (with the reseller tree), employees and tokens."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiKey, Customer, Employee, Token


class FeaturesField(forms.CharField):
    """Features typed as `FINANCE, TELE`; the model's validator judges the resulting list."""

    def prepare_value(self, value: object) -> object:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: object) -> list[str]:
        text = super().to_python(value)
        return [part.strip() for part in text.split(",") if part.strip()]


class CustomerForm(forms.ModelForm):
    features = FeaturesField(required=False, help_text="Comma-separated: FINANCE, TELE, SIP, MVNO, …")

    class Meta:
        model = Customer
        fields = ["name", "state", "is_reseller", "parent_reseller", "features", "callnotify_limit"]


class ChildInline(admin.TabularInline):
    model = Customer
    fk_name = "parent_reseller"
    fields = ["name", "state", "is_reseller", "features"]
    readonly_fields = fields
    show_change_link = True
    extra = 0
    can_delete = False
    verbose_name_plural = "customers under this reseller"

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerForm
    list_display = ["name", "id", "state", "is_reseller", "is_operator", "reseller_path", "feature_list"]
    list_filter = ["state", "is_reseller", "is_operator"]
    readonly_fields = ["is_operator"]  # set once: createcustomer --operator (or the first reseller without a parent)
    search_fields = ["name", "id"]
    list_select_related = ["parent_reseller__parent_reseller__parent_reseller"]
    autocomplete_fields = ["parent_reseller"]
    inlines = [ChildInline]

    @admin.display(description="Reseller tree")
    def reseller_path(self, obj: Customer) -> str:
        """Up to three resellers above the customer, nearest last (loaded with the row)."""
        names, parent = [], obj.parent_reseller
        while parent is not None and len(names) < 3:
            names.insert(0, parent.name)
            parent = parent.parent_reseller
        prefix = "… › " if parent is not None else ""
        return prefix + " › ".join(names) if names else "—"

    @admin.display(description="Features")
    def feature_list(self, obj: Customer) -> str:
        return ", ".join(obj.features or [])

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):  # type: ignore[no-untyped-def]
        # The parent picker only offers resellers.
        if request.GET.get("field_name") == "parent_reseller":
            queryset = queryset.filter(is_reseller=True)
        return super().get_search_results(request, queryset, search_term)


class EmployeeCreationForm(BaseUserCreationForm):
    class Meta:
        model = Employee
        fields = ["email", "name", "customer", "access_level"]


class EmployeeChangeForm(UserChangeForm):
    class Meta:
        model = Employee
        fields = "__all__"


@admin.register(Employee)
class EmployeeAdmin(UserAdmin):
    form = EmployeeChangeForm
    add_form = EmployeeCreationForm
    list_display = ["email", "name", "customer", "access_level", "state", "customer_features"]
    list_filter = ["access_level", "state"]
    list_select_related = ["customer"]
    search_fields = ["email", "name", "id"]
    ordering = ["email"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["id", "last_login", "created_at", "customer_features"]
    filter_horizontal = ["groups", "user_permissions"]
    fieldsets = [
        (None, {"fields": ["id", "email", "password", "name"]}),
        ("Access", {"fields": ["customer", "customer_features", "access_level", "state"]}),
        (
            "Service account permissions",
            {
                "fields": ["user_permissions", "groups"],
                "description": "For switches and scripts: e.g. callnotify | call event | Can add call event.",
            },
        ),
        ("Dates", {"fields": ["last_login", "created_at"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "name", "customer", "access_level", "password1", "password2"]}),
    ]

    @admin.display(description="Customer features")
    def customer_features(self, obj: Employee) -> str:
        return ", ".join(obj.customer.features or []) if obj.customer_id else "—"


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    """Tokens are issued by logging in or `manage.py issuetoken`; here they can only be revoked."""

    list_display = ["__str__", "employee", "persist", "created_at", "last_used_at", "expires_at"]
    list_filter = ["persist"]
    list_select_related = ["employee"]
    search_fields = ["employee__email"]
    readonly_fields = ["key_hash", "employee", "persist", "created_at", "last_used_at", "expires_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "employee"]
        help_texts = {"employee": "Leave empty to make a new service account (switch permissions only); "
                                  "choose an existing one to give it another key, e.g. to rotate keys."}

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if "employee" in self.fields:  # the add form (a stored key is read-only)
            self.fields["employee"].required = False
            # Only service accounts (accounts that have had a key) take more keys.
            self.fields["employee"].queryset = Employee.objects.filter(api_keys__isnull=False, state=Employee.State.ENABLED).distinct()


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Service accounts' API keys: made here or with POST /api/apikey, shown once, revoked, never edited."""

    form = ApiKeyForm
    list_display = ["name", "prefix", "employee", "created_at", "created_by", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["employee", "created_by"]
    search_fields = ["name", "prefix", "employee__email", "employee__name"]
    readonly_fields = ["prefix", "created_at", "created_by", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return ["name", "employee"] if obj is None else ["name", "employee", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return self.readonly_fields if obj is None else ["name", "employee", *self.readonly_fields]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # nothing about a key changes but its revocation (the list's action)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # revoked, so the log keeps naming it

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        key, raw = ApiKey.objects.issue(name=obj.name, account=form.cleaned_data.get("employee"), created_by=request.user)
        obj.pk, obj.employee = key.pk, key.employee  # the admin's own messages and redirect use them
        self.message_user(
            request,
            f"API key for {key.employee} made. Copy it now, it is not shown again and only its hash is kept: {raw}",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected API keys (they stop working on the next request)")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        for key in queryset:
            key.revoke()
        self.message_user(request, f"{queryset.count()} API key(s) revoked.", messages.SUCCESS)
