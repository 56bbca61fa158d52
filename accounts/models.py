"""Customers (with the reseller tree and features), employees (the users) and their tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import Permission, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.ids import new_id

FEATURE_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")


def validate_features(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(f, str) and FEATURE_RE.match(f) for f in value):
        raise ValidationError("Features must be a list of upper-case names such as FINANCE or TELE", code="features")


OPERATOR_SHAPE = "The operator is a reseller without a parent"
ADMIN_IS_THE_OPERATORS = "ADMIN is the operator's level: only the operator's employees may hold it"


class Customer(models.Model):
    class State(models.TextChoices):
        ACTIVE = "ACTIVE", "ACTIVE"
        BLOCKED = "BLOCKED", "BLOCKED"
        DELETED = "DELETED", "DELETED"

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    name = models.CharField(max_length=200)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    parent_reseller = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children",
        limit_choices_to={"is_reseller": True},
    )
    is_reseller = models.BooleanField(default=False, help_text="A reseller can own customers.")
    is_operator = models.BooleanField(
        "operator", default=False, editable=False,
        help_text="The operator itself (exactly one customer): its employees are the operator's own accounts.",
    )
    features = models.JSONField(default=list, blank=True, validators=[validate_features])
    callnotify_limit = models.PositiveIntegerField(
        "call notify items at most", null=True, blank=True,
        help_text="Empty: the node's CALLNOTIFY_MAX_ENDPOINTS_PER_CUSTOMER (20 unless set).")
    # On PostgreSQL the table also holds `callnotify_items`, the customer's count of call notify
    # items, which the database keeps (callnotify migration 0014) and no model declares: a save
    # cannot write back a count it read earlier.
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["is_reseller"])]
        constraints = [
            models.UniqueConstraint(
                fields=["is_operator"], condition=models.Q(is_operator=True), name="accounts_one_operator",
                violation_error_message="An operator exists already", violation_error_code="operator",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    def clean(self) -> None:
        errors = {}
        if self.is_operator and (not self.is_reseller or self.parent_reseller_id is not None):
            errors["is_operator"] = OPERATOR_SHAPE
        parent = self.parent_reseller
        if parent is not None and not parent.is_reseller:
            errors["parent_reseller"] = "The parent must be a reseller"
        seen = {self.pk}
        while parent is not None and "parent_reseller" not in errors:
            if parent.pk in seen:
                errors["parent_reseller"] = "A reseller cannot be its own ancestor"
            seen.add(parent.pk)
            parent = parent.parent_reseller
        if errors:
            raise ValidationError(errors)

    def has_feature(self, feature: str) -> bool:
        return feature in (self.features or [])

    def save(self, *args, **kwargs) -> None:
        if (self._state.adding and self.is_reseller and self.parent_reseller_id is None and not self.is_operator
                and not Customer.objects.filter(is_operator=True).exists()):
            # docs/api.md §3: the first reseller without a parent becomes the operator when there
            # is none yet, so scripts written before the operator was explicit keep working.
            self.is_operator = True
        super().save(*args, **kwargs)
        if self.state == self.State.DELETED:
            # Nothing reaches through a deleted customer (docs/api.md §3), and restoring it later
            # does not bring the tokens of its employees, or of any customer below it, back.
            below = subtree_customer_ids(self.pk)
            Token.objects.filter(employee__customer_id__in=below).delete()
            # The same for service accounts' API keys: revoked (kept, so the log still names them).
            ApiKey.objects.filter(employee__customer_id__in=below, revoked_at__isnull=True).update(revoked_at=timezone.now())

    def cut_off(self) -> bool:
        """This customer or any reseller above it is DELETED. Walks parents already loaded by
        select_related (the token look-up loads two levels) before asking the database."""
        customer: Customer | None = self
        seen: set[str] = set()
        while customer is not None and customer.pk not in seen:
            if customer.state == Customer.State.DELETED:
                return True
            seen.add(customer.pk)
            customer = customer.parent_reseller
        return False


class AccessLevel(models.TextChoices):
    """Lowest first: the order is the order of rights (docs/api.md §3)."""

    NO_LOGIN = "NO_LOGIN"
    PERSONAL = "PERSONAL"
    VIEWER = "VIEWER"
    MANAGER = "MANAGER"
    OWNER = "OWNER"
    RESELLER = "RESELLER"
    RESELLER_ADMIN = "RESELLER_ADMIN"
    ADMIN = "ADMIN"

    @classmethod
    def rank(cls, level: str) -> int:
        return _LEVEL_RANKS[level]


_LEVEL_RANKS = {level: rank for rank, level in enumerate(AccessLevel.values)}  # checked on every request


class EmployeeManager(BaseUserManager["Employee"]):
    def create_user(self, email: str, password: str | None = None, **fields) -> "Employee":
        employee = self.model(email=self.normalize_email(email).lower(), **fields)
        employee.set_password(password)
        employee.full_clean(exclude=["password"])
        employee.save(using=self._db)
        return employee

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "Employee":
        # `createsuperuser` makes an operator ADMIN under the operator (made when there is none).
        if "customer" not in fields and "customer_id" not in fields:
            fields["customer"] = Customer.objects.filter(is_operator=True).first() or Customer.objects.create(
                name="Operator", is_reseller=True, is_operator=True,
            )
        fields.setdefault("access_level", AccessLevel.ADMIN)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class Employee(AbstractBaseUser, PermissionsMixin):
    class State(models.TextChoices):
        ENABLED = "ENABLED", "ENABLED"
        DISABLED = "DISABLED", "DISABLED"
        DELETED = "DELETED", "DELETED"

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="employees")
    access_level = models.CharField(max_length=16, choices=AccessLevel.choices, default=AccessLevel.VIEWER)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ENABLED)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EmployeeManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        self.email = self.email.lower()
        super().save(*args, **kwargs)
        if not self.is_active:
            # Disabling (or NO_LOGIN) ends its tokens for good: enabling it again brings none back.
            Token.objects.filter(employee_id=self.pk).delete()
            ApiKey.objects.filter(employee_id=self.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())

    def clean(self) -> None:
        super().clean()
        # docs/api.md §3: ADMIN reaches everything, so only the operator's own employees hold it.
        if (self.access_level == AccessLevel.ADMIN and self.customer_id is not None
                and not Customer.objects.filter(pk=self.customer_id, is_operator=True).exists()):
            raise ValidationError({"access_level": ADMIN_IS_THE_OPERATORS})

    def may_use_api(self) -> bool:
        """The one rule for a token's holder (docs/api.md §3): enabled, may log in, and nothing above
        it DELETED. A BLOCKED customer's employees may, as they may log in (docs/api.md)."""
        return self.is_active and not self.customer.cut_off()

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.state == self.State.ENABLED and self.access_level != AccessLevel.NO_LOGIN

    @property
    def is_staff(self) -> bool:
        """The operator's staff reach the Django admin: ADMIN level only."""
        return self.is_active and self.access_level == AccessLevel.ADMIN

    def has_perm(self, perm: str, obj: object = None) -> bool:
        if self.is_active and self.access_level == AccessLevel.ADMIN:
            return True
        if obj is None and self.is_active and not self.is_superuser and not _other_backends():
            if not hasattr(self, "_perm_cache"):
                # One query for the user's own and its groups' permissions (ModelBackend reads this
                # cache; it would make two): service accounts ask on every call event they post.
                self._perm_cache = {
                    f"{app}.{codename}" for app, codename in Permission.objects.filter(Q(user=self) | Q(group__user=self))
                    .values_list("content_type__app_label", "codename").distinct()
                }
            # ModelBackend's answer, without loading and making every backend again on each call
            # (Django does, three times a route look-up).
            return perm in self._perm_cache
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        if self.is_active and self.access_level == AccessLevel.ADMIN:
            return True
        return super().has_module_perms(app_label)

    def at_least(self, level: str) -> bool:
        return AccessLevel.rank(self.access_level) >= AccessLevel.rank(level)


def _other_backends() -> bool:
    """Is any authentication backend configured beside ModelBackend (then Django asks each)."""
    return settings.AUTHENTICATION_BACKENDS != ["django.contrib.auth.backends.ModelBackend"]


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class TokenQuerySet(models.QuerySet["Token"]):
    def issue(self, employee: Employee, *, persist: bool = False) -> tuple["Token", str]:
        """A new token; the raw value is returned once and only its hash is stored."""
        raw = secrets.token_urlsafe(32)  # 256 bits
        now = timezone.now()
        expires = None if persist else now + timedelta(minutes=settings.TOKEN_EXPIRY_MINUTES)
        token = self.create(key_hash=hash_token(raw), employee=employee, persist=persist, expires_at=expires, last_used_at=now)
        return token, raw


class Token(models.Model):
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="tokens")
    persist = models.BooleanField(default=False, help_text="Lasts until logout.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = TokenQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"token of {self.employee_id} ({self.key_hash[:8]}…)"

    def is_expired(self, now: "timezone.datetime | None" = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


API_KEY_PREFIX = "txk_"  # tells an API key from a session token in the same Bearer header
SERVICE_PERMISSIONS = (("sbcrules", "lookup_route"), ("callnotify", "add_callevent"))


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def issue(self, *, name: str, account: Employee | None = None, created_by: Employee | None = None) -> tuple["ApiKey", str]:
        """A new key (raw value returned once, only its hash stored) for `account`, or for a new
        service account named `name` under `created_by`'s customer: no password, VIEWER, and
        only the permissions a switch needs (route look-up, call event posting)."""
        from django.contrib.auth.models import Permission

        if account is None:
            assert created_by is not None
            pk = new_id()
            account = Employee(
                id=pk, email=f"service-{pk}@service.invalid", name=name, customer_id=created_by.customer_id,
                access_level=AccessLevel.VIEWER,
            )
            account.set_unusable_password()
            account.save()
            account.user_permissions.add(*(
                Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in SERVICE_PERMISSIONS
            ))
        raw = API_KEY_PREFIX + secrets.token_urlsafe(32)  # 256 bits
        key = self.create(name=name, employee=account, key_hash=hash_token(raw), prefix=raw[: len(API_KEY_PREFIX) + 6], created_by=created_by)
        return key, raw


class ApiKey(models.Model):
    """A long-lived key of a service account (a switch): it never expires, it is revoked.

    It serves only what a switch does: route look-ups and call event posts (the two Access entries
    that take keys, accounts/permissions.py); every other call answers 403 whatever the account's level.
    """

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    name = models.CharField(max_length=100, help_text="What uses it, e.g. kamailio-1.")
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="api_keys", verbose_name="service account")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False, help_text="The key's first characters, to recognise it.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…{', revoked' if self.revoked_at else ''})"

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiKey.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=self.revoked_at)


# --- the reseller tree (Customer.save ends tokens below a DELETED customer; accounts.permissions
# decides reach with it) ---


def descendant_reseller_ids(root_id: str, *, deleted_too: bool = False) -> set[str]:
    """`root_id` and every reseller below it, in one query however deep the tree. A DELETED
    reseller and everything under it is left out (nothing reaches through it) unless `deleted_too`."""
    children: dict[str | None, list[str]] = {}
    resellers = Customer.objects.filter(is_reseller=True)
    if not deleted_too:
        resellers = resellers.exclude(state=Customer.State.DELETED)
    for pk, parent in resellers.values_list("id", "parent_reseller_id"):
        children.setdefault(parent, []).append(pk)
    found, todo = {root_id}, [root_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def subtree_customer_ids(root_id: str) -> set[str]:
    """`root_id` and every customer below it, DELETED ones included (for ending their tokens)."""
    resellers = descendant_reseller_ids(root_id, deleted_too=True)
    return {root_id, *Customer.objects.filter(parent_reseller_id__in=resellers).values_list("id", flat=True)}
