"""Published CCPA §7102 metrics (issue 8 §5): once published, a year's figures are a stored snapshot that
later case changes cannot alter; a correction is a new version with its reason."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CcpaMetricsPublication(models.Model):
    """One publication of a calendar year's §7102 figures (legal-matrix §7.9, §10.4). Aggregate counts only:
    no personal data. ``figures`` holds the rows exactly as published (see ``dsr.reports.metrics_to_json``)."""

    year = models.PositiveSmallIntegerField()
    version = models.PositiveSmallIntegerField(default=1)
    published_at = models.DateTimeField()
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                     related_name="+")
    published_by_name = models.CharField(max_length=150, help_text="kept if the account is deleted")
    figures = models.JSONField()
    method = models.TextField()
    time_zone = models.CharField(max_length=64)
    consumers_per_year = models.BigIntegerField(help_text="DSR_CCPA_CONSUMERS_PER_YEAR when published")
    correction_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-year", "-version"]
        constraints = [models.UniqueConstraint(fields=["year", "version"], name="ccpa_metrics_year_version")]

    def __str__(self) -> str:
        return f"CCPA metrics {self.year} v{self.version}"
