"""What goes into a subject's access or portability package, and what is withheld (issue 10 §1-2).

Rules (legal-matrix §3.2, §3.7, §4, §7.6):

* **Access** covers every live item the subject is a holder of: what they provided, what was observed, and
  what we derived (described intelligibly). **Portability** covers what they provided and what was observed
  about them (the category is ``portable`` in the register and they are the item's owner), never what we
  inferred or derived (WP242), and never photos other people uploaded.
* A **CCPA-only** request to know covers the 12 months before receipt unless the consumer asked for more
  (``covers_from`` on the package).
* **Face embeddings**: described, never the values, whenever the case is under the CCPA (§7024(d)); under
  the GDPR the values are included only if ``DSR_EXPORT_EMBEDDING_VALUES = "include"`` (default: describe).
  An embedding held jointly with other people that is not marked as this subject's face may be another
  person's biometric template: it is withheld and counted.
* **Other people** (Art. 15(4) / 20(4)): their identity never appears — no subject id, e-mail, account id,
  pseudonym, name tag or uploader; lineage to their items is counted, not listed; identity-like attributes
  that are not about this subject are removed and counted.

Archive paths are generated from ids, dates and the content type — never from anything a user typed.
"""

from __future__ import annotations

import json
import struct
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from dsr import vault
from dsr.models import (
    CategoryPolicy,
    DataCategory,
    DataItem,
    Derivation,
    Holding,
    ProcessingActivity,
    Subject,
)

ACCESS, PORTABILITY = "access", "portability"
EMBEDDING = DataCategory.FACE_EMBEDDING.value
# Small structured records (logs, settings, profile): their content goes into the JSON/CSV, not a file.
STRUCTURED = frozenset(vault.INLINE_CATEGORIES) - {EMBEDDING}
STRUCTURED_MAX_BYTES = 1024 * 1024
BATCH = 200

MEDIA_FOLDERS = {"photo": "photos", "thumbnail": "thumbnails", "generated_video": "videos"}
EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif", "image/heic": "heic",
    "video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov", "application/json": "json",
    "text/plain": "txt", "text/csv": "csv",
}
# Attribute keys that can name a person; kept only when they point at this subject.
IDENTITY_KEYS = frozenset({
    "account", "account_id", "account_ids", "depicted", "email", "emails", "faces", "name", "name_tag",
    "name_tags", "names", "owner", "people", "person", "persons", "subject", "subject_id", "subjects", "tag",
    "tags", "uploaded_by", "uploader", "user", "user_id", "username",
})
WITHHELD = "[withheld: another person's data]"


@dataclass(frozen=True)
class Scope:
    """What one package covers. Built once per package from the case and settings (ids and flags only)."""

    subject_id: uuid.UUID
    kind: str
    regimes: tuple[str, ...]
    covers_from: datetime | None = None

    @property
    def ccpa(self) -> bool:
        return "ccpa" in self.regimes

    @property
    def embedding_values(self) -> bool:
        """Raw face-embedding values: never under the CCPA; under the GDPR only by recorded setting."""
        return not self.ccpa and getattr(settings, "DSR_EXPORT_EMBEDDING_VALUES", "describe") == "include"


@dataclass
class Stats:
    """Counts gathered while the items stream, for the report (no personal data)."""

    categories: Counter[str] = field(default_factory=Counter)
    roles: Counter[str] = field(default_factory=Counter)
    sources: Counter[tuple[str, str]] = field(default_factory=Counter)  # (category, role)
    purposes: set[str] = field(default_factory=set)
    files: int = 0
    withheld_embeddings: int = 0
    withheld_attributes: int = 0
    withheld_lineage: int = 0
    shared_items: int = 0
    described_embeddings: int = 0
    earliest: datetime | None = None
    latest_expiry: dict[str, datetime] = field(default_factory=dict)

    def add(self, view: ItemView) -> None:
        if view.withheld:
            self.withheld_embeddings += 1
            return
        item = view.item
        self.categories[item.category] += 1
        self.roles[view.role] += 1
        self.sources[(item.category, view.role)] += 1
        self.purposes.add(item.purpose)
        self.files += bool(view.file_path)
        self.withheld_attributes += view.attributes_withheld
        self.withheld_lineage += view.parents_withheld
        self.shared_items += bool(view.others)
        self.described_embeddings += item.category == EMBEDDING
        if self.earliest is None or item.created_at < self.earliest:
            self.earliest = item.created_at
        if item.expires_at and item.expires_at > self.latest_expiry.get(item.category, item.expires_at):
            self.latest_expiry[item.category] = item.expires_at
        elif item.expires_at:
            self.latest_expiry.setdefault(item.category, item.expires_at)

    @property
    def total(self) -> int:
        return sum(self.categories.values())


@dataclass
class ItemView:
    """One item as this subject may see it."""

    item: DataItem
    role: str
    others: list[uuid.UUID]
    parents_mine: list[uuid.UUID]
    parents_withheld: int
    origin_system: str | None
    attributes: dict[str, Any]
    attributes_withheld: int
    withheld: str = ""
    file_path: str | None = None


# --- selection ---------------------------------------------------------------------------------------------


def _policies() -> dict[str, CategoryPolicy]:
    return {p.category: p for p in CategoryPolicy.objects.all()}


def scoped_items(scope: Scope) -> QuerySet[DataItem]:
    """The live items the package covers (before the per-item rules: embeddings of others)."""
    qs = DataItem.objects.live()
    if scope.kind == PORTABILITY:
        portable = [c for c, p in _policies().items() if p.portable]
        qs = qs.filter(holders__subject_id=scope.subject_id, holders__role=Holding.Role.OWNER, category__in=portable)
    else:
        qs = qs.filter(holders__subject_id=scope.subject_id)
    if scope.covers_from is not None:
        qs = qs.filter(created_at__gte=scope.covers_from)
    return qs


def media_totals(scope: Scope) -> tuple[int, int]:
    """(files, bytes) of the media the package will carry: the progress bar's denominator."""
    qs = scoped_items(scope).exclude(category__in=[*STRUCTURED, EMBEDDING]).exclude(blob_name="", sealed_inline=None)
    rows = list(qs.values_list("size", flat=True))
    return len(rows), sum(rows)


def iter_views(scope: Scope, subject: Subject) -> Iterator[ItemView]:
    """Every scoped item, oldest first, in batches (keyset pagination: memory is one batch)."""
    base = scoped_items(scope).order_by("created_at", "id")
    last: tuple[datetime, uuid.UUID] | None = None
    while True:
        qs = base
        if last is not None:
            qs = qs.filter(Q(created_at__gt=last[0]) | Q(created_at=last[0], id__gt=last[1]))
        batch = list(qs[:BATCH])
        if not batch:
            return
        yield from _classify(batch, scope, subject)
        last = (batch[-1].created_at, batch[-1].pk)


def _classify(batch: list[DataItem], scope: Scope, subject: Subject) -> list[ItemView]:
    ids = [i.pk for i in batch]
    roles: dict[uuid.UUID, str] = {}
    others: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    for item_id, subject_id, role in Holding.objects.filter(item_id__in=ids).values_list("item_id", "subject_id",
                                                                                        "role"):
        if subject_id == subject.pk:
            roles[item_id] = role
        else:
            others[item_id].append(subject_id)
    other_ids = {s for ss in others.values() for s in ss}
    idents = {s.pk: _identifiers(s) for s in Subject.objects.filter(pk__in=other_ids)}
    own = _identifiers(subject)

    parents: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    for child, parent in Derivation.objects.filter(child_id__in=ids).values_list("child_id", "parent_id"):
        parents[child].append(parent)
    all_parents = {p for ps in parents.values() for p in ps}
    mine = set(Holding.objects.filter(subject=subject, item_id__in=all_parents).values_list("item_id", flat=True))
    meta = _metadata(batch)

    views = []
    for item in batch:
        origin, attributes = meta[item.pk]
        strangers = set().union(*(idents.get(o, set()) for o in others[item.pk]))
        clean, removed = scrub(attributes, own=own, strangers=strangers)
        if isinstance(origin, str) and strangers and _mentions(origin, strangers):
            origin, removed = WITHHELD, removed + 1
        view = ItemView(
            item=item, role=roles.get(item.pk, Holding.Role.DERIVED), others=sorted(others[item.pk]),
            parents_mine=sorted(p for p in parents[item.pk] if p in mine),
            parents_withheld=sum(1 for p in parents[item.pk] if p not in mine),
            origin_system=origin, attributes=clean, attributes_withheld=removed,
        )
        if item.category == EMBEDDING and view.others and str(attributes.get("subject", "")) != str(subject.pk):
            view.withheld = "another_persons_embedding"
        elif item.category not in STRUCTURED and item.category != EMBEDDING and item.has_content:
            view.file_path = media_path(item)
        views.append(view)
    return views


def _metadata(items: list[DataItem]) -> dict[uuid.UUID, tuple[str | None, dict[str, Any]]]:
    """Source and attributes of each item, sealed under the item key (issue 7), opened for the batch."""
    return {pk: (m.source, dict(m.attributes or {})) for pk, m in vault.item_metadata(items).items()}


# --- other people's identity (Art. 15(4)) ------------------------------------------------------------------


def _identifiers(subject: Subject) -> set[str]:
    values = {str(subject.pk), subject.pk.hex, subject.reference, subject.email or "", subject.account_id or ""}
    return {v.lower() for v in values if v}


def _mentions(value: str, identifiers: set[str]) -> bool:
    text = value.lower()
    return any(ident in text for ident in identifiers)


def _about_only(value: Any, own: set[str], strangers: set[str]) -> bool:
    """Does this identity-like value point at this subject and at nobody else?"""
    text = json.dumps(value, ensure_ascii=False).lower()
    return any(i in text for i in own) and not any(i in text for i in strangers)


def scrub(attributes: dict[str, Any], *, own: set[str], strangers: set[str]) -> tuple[dict[str, Any], int]:
    """Attributes without other people's identity. Returns the cleaned copy and how many values went.

    On an item only this subject holds everything stays (it is all theirs). On an item other people hold
    too, identity-like keys (``tags``, ``people``, ``uploader``…) keep only what points at this subject by
    one of their identifiers: a name tag cannot be told apart from a word, so the rule errs on the side of
    the other person. Any other text quoting another holder's identifier is replaced by a marker."""
    if not strangers:
        return attributes, 0
    removed = 0

    def clean_value(value: Any) -> Any:
        nonlocal removed
        if isinstance(value, dict):
            return clean_mapping(value)
        if isinstance(value, list):
            return [clean_value(v) for v in value]
        if isinstance(value, str) and _mentions(value, strangers):
            removed += 1
            return WITHHELD
        return value

    def clean_mapping(mapping: dict[str, Any]) -> dict[str, Any]:
        nonlocal removed
        out: dict[str, Any] = {}
        for key, value in mapping.items():
            if str(key).lower() not in IDENTITY_KEYS:
                out[key] = clean_value(value)
            elif isinstance(value, list):
                kept = [v for v in value if _about_only(v, own, strangers)]
                removed += len(value) - len(kept)
                if kept:
                    out[key] = kept
            elif _about_only(value, own, strangers):
                out[key] = value
            else:
                removed += 1
        return out

    return clean_mapping(attributes), removed


# --- paths and records ---------------------------------------------------------------------------------------


def extension(content_type: str) -> str:
    return EXTENSIONS.get((content_type or "").split(";")[0].strip().lower(), "bin")


def media_path(item: DataItem) -> str:
    """Generated from the item's category, date, id and content type: never from user input."""
    folder = MEDIA_FOLDERS.get(item.category, "other")
    return f"media/{folder}/{item.created_at:%Y-%m-%d}-{item.pk}.{extension(item.content_type)}"


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


OBSERVED = frozenset({"ip_log", "upload_metadata"})


def source_for(category: str, role: str, policy: CategoryPolicy | None) -> str:
    """Where data came from (Art. 15(1)(g)), by how this subject holds it; an uploader is never named."""
    if role == Holding.Role.DEPICTED:
        return _("Uploaded by another user of the service, who is not named to protect their rights "
                 "(GDPR Article 15(4)); you appear in it")
    if role == Holding.Role.OWNER:
        return _("Observed when you used the service") if category in OBSERVED else _("Provided by you")
    return policy.source if policy else _("Derived by us from your data")


def source_text(view: ItemView, policy: CategoryPolicy | None) -> str:
    return source_for(view.item.category, view.role, policy)


def structured_content(item: DataItem) -> Any:
    """The content of a small structured record: parsed JSON when it is JSON, else text."""
    if not item.has_content or item.size > STRUCTURED_MAX_BYTES:
        return None
    raw = vault.read_item(item)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", errors="replace")


def embedding_record(view: ItemView, scope: Scope) -> dict[str, Any]:
    attrs = view.attributes
    dims = attrs.get("dims") or attrs.get("dimensions") or (view.item.size // 4 if view.item.size % 4 == 0 else None)
    record: dict[str, Any] = {
        "dimensions": dims if isinstance(dims, int) else None,
        "model": attrs.get("model") if isinstance(attrs.get("model"), str) else None,
        "computed_from": [str(p) for p in view.parents_mine],
        "values_included": False,
        "values": None,
    }
    if scope.embedding_values and view.item.has_content and view.item.size % 4 == 0:
        raw = vault.read_item(view.item)
        record["values"] = [round(v, 7) for v in struct.unpack(f"<{len(raw) // 4}f", raw)]
        record["values_included"] = True
        record["note"] = _("The numbers of the template, as we hold them (32-bit floating point).")
    elif scope.ccpa:
        record["note"] = _("California law forbids us to disclose unique biometric data; we confirm that we "
                           "hold this template and describe it instead (Cal. Code Regs. tit. 11, §7024(d)).")
    else:
        record["note"] = _("We describe the template rather than hand over its numbers: they are meaningless "
                           "without our model and would only add risk if the file were lost (GDPR Articles "
                           "15(4) and 32). Ask us if you want them.")
    return record


class Catalogue:
    """Names from the processing register, loaded once per build."""

    def __init__(self) -> None:
        self.policies = _policies()
        self.activities = {a.purpose: a for a in ProcessingActivity.objects.all()}
        self.labels = dict(DataCategory.choices)

    def category_label(self, category: str) -> str:
        return str(self.labels.get(category, category))


def item_record(view: ItemView, scope: Scope, catalogue: Catalogue) -> dict[str, Any]:
    """One item as a JSON record (schema ``items``)."""
    item = view.item
    policy = catalogue.policies.get(item.category)
    activity = catalogue.activities.get(item.purpose)
    record: dict[str, Any] = {
        "id": str(item.pk),
        "category": item.category,
        "category_name": catalogue.category_label(item.category),
        "your_role": view.role,
        "created_at": iso(item.created_at),
        "delete_by": iso(item.expires_at),
        "purpose": item.purpose,
        "purpose_name": activity.name if activity else None,
        "legal_basis": activity.get_legal_basis_display() if activity else None,
        "source": source_text(view, policy),
        "origin_system": view.origin_system if isinstance(view.origin_system, str) else None,
        "file": view.file_path,
        "content_type": item.content_type or None,
        "size": item.size if item.has_content else None,
        "content": structured_content(item) if item.category in STRUCTURED else None,
        "derived_from": [str(p) for p in view.parents_mine],
        "derived_from_other_people": view.parents_withheld,
        "shared_with_other_people": len(view.others),
        "attributes": view.attributes,
        "attributes_withheld": view.attributes_withheld,
        "embedding": embedding_record(view, scope) if item.category == EMBEDDING else None,
    }
    return record


ITEM_COLUMNS = ["id", "category", "your_role", "created_at", "delete_by", "purpose", "source", "file",
                "content_type", "size", "content", "attributes", "derived_from", "derived_from_other_people",
                "shared_with_other_people"]


def item_row(record: dict[str, Any]) -> list[Any]:
    def text(value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
        return value
    row = {**record, "derived_from": " ".join(record["derived_from"]),
           "content": text(record["content"]), "attributes": text(record["attributes"])}
    if record["embedding"] is not None:
        row["content"] = json.dumps({k: v for k, v in record["embedding"].items() if k != "values"})
    return [row[c] for c in ITEM_COLUMNS]
