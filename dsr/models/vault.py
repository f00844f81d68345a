"""What the platform holds: subjects, their keys, their data items and what was derived from what."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, models
from django.db.models import Q

from dsr.models.register import DataCategory


def normalise_email(email: str) -> str:
    """Case-insensitive match on the whole address; we do not strip '+tags' (they may be distinct people)."""
    email = (email or "").strip()
    local, sep, domain = email.rpartition("@")
    if not sep or not local or not domain or any(c.isspace() for c in email) or len(email) > 254:
        raise ValueError("not a valid e-mail address")
    return f"{local.lower()}@{domain.lower().encode('idna').decode('ascii')}"


class SubjectQuerySet(models.QuerySet["Subject"]):
    def live(self) -> SubjectQuerySet:
        return self.filter(erased_at__isnull=True)

    def by_identifier(self, *, email: str | None = None, account_id: str | None = None) -> SubjectQuerySet:
        cond = Q()
        if email:
            cond |= Q(email=normalise_email(email))
        if account_id:
            cond |= Q(account_id=account_id)
        if not cond:
            return self.none()
        return self.filter(cond)


class Subject(models.Model):
    """A data subject: an account holder, or a person who only appears in someone's photo."""

    PERSONAL_DATA = True

    class Kind(models.TextChoices):
        ACCOUNT_HOLDER = "account_holder", "Account holder"
        DEPICTED = "depicted", "Appears in others' content only"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.ACCOUNT_HOLDER)
    email = models.CharField(max_length=254, null=True, blank=True)
    account_id = models.CharField(max_length=128, null=True, blank=True)
    # Where the person lives, when the platform knows (ISO 3166-1 "DE" or 3166-2 "US-CA", "GB-SCT"): breach
    # scoping counts affected people per jurisdiction and picks the state-law clocks from it (issue 12).
    residence = models.CharField(max_length=8, blank=True, default="")
    reference = models.CharField(max_length=40, unique=True, help_text="Keyed-hash pseudonym used in logs.")
    created_at = models.DateTimeField()
    writes_blocked_at = models.DateTimeField(null=True, blank=True, help_text="Erasure tombstone gate.")
    erased_at = models.DateTimeField(null=True, blank=True)

    objects = SubjectQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["email"], condition=Q(email__isnull=False), name="subject_email_unique"),
            models.UniqueConstraint(
                fields=["account_id"], condition=Q(account_id__isnull=False), name="subject_account_unique"
            ),
        ]
        # (Breach scoping now reads the residence copied onto holdings; this index is kept for lookups by residence.)
        # Breach scoping counts affected people per residence: probing (id, residence) index-only avoids a
        # table page per person (dsr/breach_scope.py).
        indexes = [models.Index(fields=["id", "residence"], name="subject_residence_scope")]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None


class SubjectKey(models.Model):
    """The subject's data key, wrapped by the key ring. Destroying it crypto-shreds every blob of theirs."""

    PERSONAL_DATA = True

    subject = models.OneToOneField(Subject, on_delete=models.PROTECT, related_name="key", primary_key=True)
    wrapped = models.TextField(blank=True)
    ring_key_id = models.CharField(max_length=32, blank=True, db_index=True)
    created_at = models.DateTimeField()
    rotated_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)
    # Set when a wrapped key was blanked (shred) or replaced (rotation): its old bytes may still sit in the
    # live database files until dsr.keystore.purge_old_key_bytes has vacuumed/checkpointed (issue 7 §1).
    purge_pending = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"key of {self.subject_id}"

    @property
    def is_destroyed(self) -> bool:
        return self.destroyed_at is not None


class DataItemQuerySet(models.QuerySet["DataItem"]):
    def live(self) -> DataItemQuerySet:
        return self.filter(purged_at__isnull=True)

    def of_subject(self, subject: Subject | uuid.UUID | str) -> DataItemQuerySet:
        return self.filter(holders__subject=subject).distinct()

    def expired(self, now: datetime) -> DataItemQuerySet:
        return self.live().filter(expires_at__lte=now, legal_hold=False)


class DataItem(models.Model):
    """One held piece of personal data, with its encrypted content and the subjects it belongs to.

    An item can belong to several subjects (a video made from two people's photos). Its content key is
    derived from every holder's data key (dsr/vault.py), so destroying any one of them makes it
    unreadable. ``holders`` is therefore fixed when the content is sealed; adding a person re-seals.
    """

    PERSONAL_DATA = True

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    category = models.CharField(max_length=32, choices=DataCategory.choices, db_index=True)
    purpose = models.SlugField(max_length=64, help_text="ProcessingActivity.purpose the item serves.")
    created_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    legal_hold = models.BooleanField(default=False)

    # Content: ciphertext in blob storage (random name) or, for small values, sealed inline.
    blob_name = models.CharField(max_length=200, blank=True)
    sealed_inline = models.BinaryField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.BigIntegerField(default=0, help_text="Plaintext bytes.")
    stored_size = models.BigIntegerField(default=0, help_text="Ciphertext bytes.")
    key_version = models.PositiveSmallIntegerField(default=1)
    # The item's descriptive metadata ({"source": …, "attributes": {…}}), sealed under the item key like the
    # content, so nothing about the item outlives a destroyed key (dsr/vault.py item_metadata).
    sealed_meta = models.BinaryField(null=True, blank=True)

    derived_from = models.ManyToManyField(
        "self", through="Derivation", symmetrical=False, related_name="derivatives", blank=True
    )

    objects = DataItemQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The orphan sweep asks "is this stored blob referenced?" for every blob in storage.
            models.Index(fields=["blob_name"], name="dataitem_blob_name", condition=~models.Q(blob_name="")),
        ]

    def __str__(self) -> str:
        return f"{self.category}:{self.pk}"

    @property
    def has_content(self) -> bool:
        return bool(self.blob_name) or self.sealed_inline is not None

    def subject_ids(self) -> list[uuid.UUID]:
        return sorted(h.subject_id for h in self.holders.all())


class Holding(models.Model):
    """Which subjects a data item belongs to, and how (owner, depicted person, co-subject of a derivative)."""

    PERSONAL_DATA = True

    class Role(models.TextChoices):
        OWNER = "owner", "Owner / uploader"
        DEPICTED = "depicted", "Depicted"
        DERIVED = "derived", "Derived from their data"

    item = models.ForeignKey(DataItem, on_delete=models.CASCADE, related_name="holders")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="holdings")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OWNER)

    # Copies of the item's facts that breach scoping filters on (dsr/breach_scope.py), so that "whose items of
    # these categories existed in this window" is one contiguous range of one index on this table, read
    # index-only, instead of a probe into the 10-million-row (item, subject) index per item (bench/breach.py:
    # 1.6 s → well under 300 ms at 10 M items). Written where the item's are: category, purpose, storage and
    # creation once, by vault.store_item (they never change); the purge time by vault.purge_item (an erased
    # item's holdings are deleted, cascade.erase_item_rows). tests/test_breach_scope.py checks they agree.
    item_category = models.CharField(max_length=32, blank=True, default="")
    item_purpose = models.CharField(max_length=64, blank=True, default="")
    item_in_blob = models.BooleanField(default=False, help_text="The content was sealed into blob storage.")
    item_created_at = models.DateTimeField(null=True, blank=True)
    item_purged_at = models.DateTimeField(null=True, blank=True)
    # And the person's residence (Subject.residence), so people per jurisdiction are counted from the same index
    # range rather than by a probe per person into the subjects: written by vault.store_item and, when it
    # changes, by vault.set_residence.
    subject_residence = models.CharField(max_length=8, blank=True, default="")
    # True on exactly one holding of each item (its first holder when sealed): every holding of an item carries
    # the same item facts, so an item in a scope has all its holdings there, and counting these counts items
    # without a DISTINCT. Holdings of an item are only ever deleted together (cascade.erase_item_rows).
    item_first = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "subject"], name="holding_unique")]
        indexes = [
            models.Index(fields=["subject", "item"]),
            # Breach scoping: items still held, by category and creation; purged items, by category, purge and
            # creation. The other columns a scope reads are INCLUDEd (PostgreSQL), so no table page is visited.
            models.Index(fields=["item_category", "item_created_at"], name="holding_scope_live",
                         include=["subject", "item", "item_purpose", "item_in_blob", "subject_residence", "item_first"],
                         condition=Q(item_purged_at__isnull=True)),
            models.Index(fields=["item_category", "item_purged_at", "item_created_at"], name="holding_scope_purged",
                         include=["subject", "item", "item_purpose", "item_in_blob", "subject_residence", "item_first"],
                         condition=Q(item_purged_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.subject_id} holds {self.item_id}"


class Derivation(models.Model):
    """Lineage edge: ``child`` was produced from ``parent``."""

    parent = models.ForeignKey(DataItem, on_delete=models.CASCADE, related_name="child_links")
    child = models.ForeignKey(DataItem, on_delete=models.CASCADE, related_name="parent_links")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "child"], name="derivation_unique"),
            models.CheckConstraint(condition=~Q(parent=models.F("child")), name="derivation_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.parent_id} -> {self.child_id}"


def derived_item_ids(roots: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Every item derived, transitively, from ``roots``, in one recursive query. A root is included only
    if it was itself derived from another root (lineage only points to older items, so no cycles)."""
    roots = [uuid.UUID(str(r)) for r in roots]
    if not roots:
        return set()
    table = Derivation._meta.db_table
    is_pg = connection.vendor == "postgresql"
    to_db = (lambda u: u) if is_pg else (lambda u: u.hex)
    placeholders = ",".join(["%s"] * len(roots))
    # UNION (not UNION ALL) makes the walk terminate even if a cycle slipped in.
    sql = f"""
        WITH RECURSIVE walk(id) AS (
            SELECT child_id FROM {table} WHERE parent_id IN ({placeholders})
            UNION
            SELECT d.child_id FROM {table} d JOIN walk w ON d.parent_id = w.id
        )
        SELECT id FROM walk
    """  # noqa: S608 - table name from model meta, values parametrised
    with connection.cursor() as cur:
        cur.execute(sql, [to_db(r) for r in roots])
        found = {uuid.UUID(str(row[0])) for row in cur.fetchall()}
    return found


class ConsentQuerySet(models.QuerySet["Consent"]):
    def active(self, now: datetime) -> ConsentQuerySet:
        return self.filter(granted_at__lte=now, withdrawn_at__isnull=True)


class Consent(models.Model):
    """A person's consent for a purpose, optionally about one item (each person depicted in a photo)."""

    PERSONAL_DATA = True

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="consents")
    item = models.ForeignKey(DataItem, on_delete=models.CASCADE, related_name="consents", null=True, blank=True)
    purpose = models.SlugField(max_length=64)
    granted_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    method = models.CharField(max_length=64, default="in_app", help_text="How it was given (in_app, web_form…).")
    notice_version = models.CharField(max_length=64, blank=True, help_text="Version of the text the person saw.")
    recorded_at = models.DateTimeField()

    objects = ConsentQuerySet.as_manager()

    class Meta:
        ordering = ["granted_at"]
        indexes = [models.Index(fields=["subject", "purpose"])]

    def __str__(self) -> str:
        return f"consent {self.purpose} by {self.subject_id}"

    def is_active(self, now: datetime) -> bool:
        return self.granted_at <= now and self.withdrawn_at is None
