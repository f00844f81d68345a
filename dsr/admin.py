"""Admin: the processing register is editable (the DPO keeps it); the vault and audit are read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from dsr.models import ApiToken, CategoryPolicy, DataItem, Event, ProcessingActivity, Recipient, Subject


@admin.register(Recipient)
class RecipientAdmin(admin.ModelAdmin):
    list_display = ("name", "role", "country", "service")


@admin.register(CategoryPolicy)
class CategoryPolicyAdmin(admin.ModelAdmin):
    list_display = ("category", "retention_rule", "retention_hours", "special_category", "portable")


@admin.register(ProcessingActivity)
class ProcessingActivityAdmin(admin.ModelAdmin):
    list_display = ("purpose", "name", "legal_basis")
    filter_horizontal = ("recipients",)


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
