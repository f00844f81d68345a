"""The processing register (GDPR Art. 30, legal-matrix §3.10) kept as data.

Access reports (Art. 15(1)(a)-(d)), erasure notices to recipients (Art. 19) and retention all read
from here, so the answer a subject gets is the register the DPO maintains, not prose in templates.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.utils.translation import gettext_noop


class DataCategory(models.TextChoices):
    # Labels marked for the catalogue: the erasure completion notice names categories in the filer's language.
    PHOTO = "photo", gettext_noop("Uploaded photo")
    FACE_EMBEDDING = "face_embedding", gettext_noop("Face embedding (biometric template)")
    THUMBNAIL = "thumbnail", gettext_noop("Thumbnail")
    GENERATED_VIDEO = "generated_video", gettext_noop("Generated video")
    UPLOAD_METADATA = "upload_metadata", gettext_noop("Upload metadata")
    IP_LOG = "ip_log", gettext_noop("IP address log")
    PREFERENCES = "preferences", gettext_noop("Preferences")
    CONSENT_RECORD = "consent_record", gettext_noop("Consent record")
    ACCOUNT_PROFILE = "account_profile", gettext_noop("Account profile")


class LegalBasis(models.TextChoices):
    CONSENT = "consent", "Consent — Art. 6(1)(a)"
    EXPLICIT_CONSENT = "explicit_consent", "Explicit consent — Art. 6(1)(a) + 9(2)(a)"
    CONTRACT = "contract", "Contract — Art. 6(1)(b)"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation — Art. 6(1)(c)"
    VITAL_INTERESTS = "vital_interests", "Vital interests — Art. 6(1)(d)"
    PUBLIC_TASK = "public_task", "Public task — Art. 6(1)(e)"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests — Art. 6(1)(f)"

    @classmethod
    def consent_based(cls) -> set[str]:
        return {cls.CONSENT, cls.EXPLICIT_CONSENT}


class RetentionRule(models.TextChoices):
    AFTER_FIRST_DERIVATIVE = "after_first_derivative", "N hours after the first item derived from it"
    AFTER_CREATION = "after_creation", "N hours after it was stored"
    WHILE_ACCOUNT_ACTIVE = "while_account_active", "Kept while the account exists; erased with it"


class Recipient(models.Model):
    """A named recipient (CJEU C-154/21: name the actual recipients, not only categories)."""

    class Role(models.TextChoices):
        PROCESSOR = "processor", "Processor (Art. 28)"
        CONTROLLER = "controller", "Independent controller"
        AUTHORITY = "authority", "Public authority"

    name = models.CharField(max_length=200, unique=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PROCESSOR)
    service = models.CharField(max_length=300, help_text="What they do with the data.")
    country = models.CharField(max_length=2, help_text="ISO 3166 code of where data is processed.")
    transfer_safeguard = models.CharField(
        max_length=300, blank=True, help_text="Art. 46 safeguard for third-country transfers (SCCs, adequacy, DPF…)."
    )
    contact = models.CharField(max_length=300, blank=True)
    # Art. 19 notices (dsr/webhooks.py): signed webhook to this URL; the HMAC secret is wrapped by the key ring
    # and set with `manage.py recipient_webhook` (shown once, never in the admin).
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_third_country(self) -> bool:
        return self.country.upper() not in EEA_COUNTRIES


EEA_COUNTRIES = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
        "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
    }
)


class CategoryPolicy(models.Model):
    """Per-category facts: how it is described to the subject, how long it is kept, how it is treated."""

    category = models.CharField(max_length=32, choices=DataCategory.choices, unique=True)
    description = models.TextField(help_text="Intelligible description given to the data subject (Art. 15).")
    special_category = models.BooleanField(default=False, help_text="Art. 9 data (e.g. biometric templates).")
    portable = models.BooleanField(
        default=False, help_text="Provided or observed data, included in portability exports (WP242)."
    )
    source = models.CharField(max_length=300, default="Provided by the data subject")
    retention_rule = models.CharField(max_length=32, choices=RetentionRule.choices)
    retention_hours = models.PositiveIntegerField(null=True, blank=True)
    retention_text = models.CharField(max_length=300, help_text="Art. 15(1)(d) wording shown to subjects.")

    class Meta:
        ordering = ["category"]
        verbose_name_plural = "category policies"

    def __str__(self) -> str:
        return self.get_category_display()

    def expiry_after_creation(self, created_at: datetime) -> datetime | None:
        if self.retention_rule == RetentionRule.AFTER_CREATION and self.retention_hours is not None:
            return created_at + timedelta(hours=self.retention_hours)
        return None

    def expiry_after_first_derivative(self, derived_at: datetime) -> datetime | None:
        if self.retention_rule == RetentionRule.AFTER_FIRST_DERIVATIVE and self.retention_hours is not None:
            return derived_at + timedelta(hours=self.retention_hours)
        return None


class ProcessingActivity(models.Model):
    """One Art. 30(1) record: a purpose, its legal basis, the categories and recipients involved."""

    purpose = models.SlugField(max_length=64, unique=True, help_text="Machine name the platform asks about.")
    name = models.CharField(max_length=200)
    description = models.TextField()
    legal_basis = models.CharField(max_length=32, choices=LegalBasis.choices)
    categories = models.JSONField(default=list, help_text="DataCategory values this activity uses.")
    data_subjects = models.CharField(max_length=300, default="Account holders; people depicted in uploaded photos")
    recipients = models.ManyToManyField(Recipient, blank=True, related_name="activities")
    transfers = models.TextField(blank=True, help_text="Third-country transfers and their safeguards (Art. 30(1)(e)).")
    security_measures = models.TextField(blank=True, help_text="Art. 32(1) measures (Art. 30(1)(g)).")
    automated_decision = models.TextField(blank=True, help_text="Art. 22 logic, significance and consequences, if any.")
    direct_marketing = models.BooleanField(default=False)

    class Meta:
        ordering = ["purpose"]
        verbose_name_plural = "processing activities"

    def __str__(self) -> str:
        return self.name

    @property
    def needs_consent(self) -> bool:
        return self.legal_basis in LegalBasis.consent_based()
