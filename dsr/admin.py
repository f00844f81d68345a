"""Admin: approvers (the DPO) keep the processing register, every change audited; the vault and audit are
read-only (superusers only). The site itself is dsr/adminsite.py."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from dsr import processing_register
from dsr.adminsite import may_edit_register
from dsr.models import ApiToken, CategoryPolicy, DataItem, Event, ProcessingActivity, Recipient, Subject


class RegisterAdmin(admin.ModelAdmin):
    """Permissions come from the approver role (dsr/roles.py), not from Django's per-model permissions, and
    every save or delete goes through dsr/processing_register.py, which audits it."""

    deletable = True
    # The key other records refer to by value (an item's purpose, a policy's category) is fixed once created.
    key_field = ""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_edit_register(request) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_edit_register(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return may_edit_register(request) or super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_edit_register(request) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.deletable and (may_edit_register(request) or super().has_delete_permission(request, obj))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fixed = (self.key_field,) if obj is not None and self.key_field else ()
        return (*super().get_readonly_fields(request, obj), *fixed)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        processing_register.save_entry(obj, created=not change, fields=list(form.changed_data),
                                       actor=request.user, now=timezone.now())  # type: ignore[arg-type]

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        processing_register.delete_entry(obj, actor=request.user, now=timezone.now())  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Recipient)
class RecipientAdmin(RegisterAdmin):
    list_display = ("name", "role", "country", "service", "webhook_url")
    # Set with `manage.py recipient_webhook`, which also issues the secret (shown once).
    exclude = ("webhook_url",)
    readonly_fields = ("webhook_url",)


@admin.register(CategoryPolicy)
class CategoryPolicyAdmin(RegisterAdmin):
    list_display = ("category", "retention_rule", "retention_hours", "special_category", "portable")
    deletable = False  # every category keeps a policy: retention and access reports read it
    key_field = "category"


@admin.register(ProcessingActivity)
class ProcessingActivityAdmin(RegisterAdmin):
    list_display = ("purpose", "name", "legal_basis")
    filter_horizontal = ("recipients",)
    deletable = False  # items and consents name their purpose; an activity is edited, not removed
    key_field = "purpose"


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Subject)
class SubjectAdmin(ReadOnlyAdmin):
    list_display = ("reference", "kind", "created_at", "erased_at")
    exclude = ("email",)  # inspect ids, not identities


@admin.register(DataItem)
class DataItemAdmin(ReadOnlyAdmin):
    list_display = ("id", "category", "purpose", "created_at", "expires_at", "purged_at")
    exclude = ("sealed_inline",)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "at", "kind", "actor", "object_type", "object_id")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("name", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")
    exclude = ("token_hash",)
