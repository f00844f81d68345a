"""Access and portability packages (issue 10): one row per package a case produced.

The row holds ids, sizes, digests and progress only. The package itself is a ZIP sealed under the subject's
key in blob storage (``blob_name``); it is deleted when it expires or when the subject is erased.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class PackageState(models.TextChoices):
    BUILDING = "building", "Being built"
    READY = "ready", "Ready to download"
    EXPIRED = "expired", "Expired and deleted"
    DELETED = "deleted", "Deleted"
    FAILED = "failed", "Failed"


class ExportPackageQuerySet(models.QuerySet["ExportPackage"]):
    def current(self) -> ExportPackageQuerySet:
        """Packages that still exist or are on their way (not expired, deleted or failed)."""
        return self.filter(state__in=[PackageState.BUILDING, PackageState.READY])

    def due_to_expire(self, now: object) -> ExportPackageQuerySet:
        return self.filter(state=PackageState.READY, expires_at__lte=now)


class ExportPackage(models.Model):
    """The machine-readable package and the access report of one access or portability case."""

    PERSONAL_DATA = True

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey("dsr.Case", on_delete=models.CASCADE, related_name="packages")
    subject = models.ForeignKey("dsr.Subject", on_delete=models.CASCADE, related_name="packages")
    run = models.ForeignKey("dsr.StepRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=20, help_text="access or portability")
    state = models.CharField(max_length=12, choices=PackageState.choices, default=PackageState.BUILDING)
    # What the package covers: everything, or (CCPA requests to know) items from this instant on.
    covers_from = models.DateTimeField(null=True, blank=True)
    withheld_note = models.TextField(blank=True, help_text="What the operator withheld beyond the automatic rules.")
    withheld_ground = models.CharField(max_length=40, blank=True, help_text="Refusal ground of the part withheld.")

    blob_name = models.CharField(max_length=200, blank=True, help_text="Random name; set before the first byte.")
    size = models.BigIntegerField(default=0, help_text="Bytes of the ZIP (plaintext).")
    stored_size = models.BigIntegerField(default=0)
    file_count = models.PositiveIntegerField(default=0)
    manifest_sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of manifest.json.")
    attempt = models.PositiveIntegerField(default=0, help_text="Builds started (a killed build starts again).")

    # progress, written while the build streams (no audit event: counts only)
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)

    created_at = models.DateTimeField()
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    first_downloaded_at = models.DateTimeField(null=True, blank=True)
    download_count = models.PositiveIntegerField(default=0)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = ExportPackageQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case"], condition=Q(state__in=["building", "ready"]),
                                    name="one_current_package_per_case"),
        ]
        indexes = [models.Index(fields=["blob_name"], name="package_blob_name", condition=~Q(blob_name=""))]

    def __str__(self) -> str:
        return f"{self.kind} package {self.pk}"

    @property
    def is_ready(self) -> bool:
        return self.state == PackageState.READY

    def progress_percent(self) -> int:
        if self.state == PackageState.READY:
            return 100
        if not self.bytes_total:
            return 0
        return min(99, int(100 * self.bytes_done / self.bytes_total))
