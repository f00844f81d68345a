"""Scoping a breach from the vault (issue 12 §3): which people and which items sat in the affected systems,
in the affected categories, during the exposure window — counted in the database, set-based, never loaded
row by row into Python — and whether Art. 34(3)(a) spares individual notices (legal-matrix §5.3).

Where an item sits (``SYSTEMS``), true to how dsr stores data (dsr/vault.py, dsr/storage.py):

* ``blob_storage`` — items whose content is a sealed blob (media always; larger records): the local blob
  directory or the S3 bucket, whichever ``DSR_STORAGE`` / ``DSR_BLOB_BACKEND`` configure;
* ``database`` — every item row: small records and face embeddings have their content sealed inline
  (``sealed_inline``) and *every* item keeps its sealed descriptive metadata (``sealed_meta``) and its
  category, purpose and dates there, so a database leak reaches every item of the named categories;
* ``processor:<Recipient id>`` — the copy a processor or other recipient receives: items whose purpose's
  processing activity (the Art. 30 register, dsr/models/register.py) lists that recipient *and* the item's
  category. Processors receive data in readable form to work on it, so such a breach never qualifies for
  Art. 34(3)(a).

Scoping reads the holdings only: each holding carries its item's category, purpose, storage, creation and
purge (models.Holding ``item_*``), so an incident's holdings are one range of one index. Where the content was
stored is recorded when it is sealed (purging blanks ``blob_name``, so it could not be read back afterwards);
for items stored before that copy existed, migration 0024 applied the vault's rule (an inline category and at
most ``INLINE_LIMIT`` bytes of plaintext → the database, otherwise a blob).

The window is inclusive: an item counts when it was created at or before ``occurred_until`` and not purged
before ``occurred_from`` (no start: since ever; no end: up to now). No categories named → an empty scope
(what leaked must be said); no systems named → every system (where is often unknown at first).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from dsr import audit, breach_clocks, steps
from dsr.models import Breach, BreachAffected, BreachType, Holding, ProcessingActivity, Recipient, StepRun
from dsr.models.register import DataCategory
from dsr.steps import StepContext, StepSpec

FIXED_SYSTEMS: dict[str, str] = {
    "blob_storage": "Blob storage (sealed media and large files: local blob directory or S3 bucket)",
    "database": "Database (item rows with their sealed metadata; small records and face embeddings sealed inline)",
}
PROCESSOR_PREFIX = "processor:"


class _Systems(Mapping[str, str]):
    """Every system name → its label: the fixed stores, then ``processor:<id>`` for each recipient in the
    register, read when iterated (so ``set(SYSTEMS)`` validates input against the register as it is now)."""

    def __getitem__(self, key: str) -> str:
        if key in FIXED_SYSTEMS:
            return FIXED_SYSTEMS[key]
        ids = _processor_ids([key])
        r = Recipient.objects.filter(pk=ids[0]).first() if ids else None
        if r is None:
            raise KeyError(key)
        return _recipient_label(r)

    def __iter__(self) -> Iterator[str]:
        yield from FIXED_SYSTEMS
        for pk in Recipient.objects.order_by("name").values_list("pk", flat=True):
            yield processor_system(pk)

    def __len__(self) -> int:
        return len(FIXED_SYSTEMS) + Recipient.objects.count()


SYSTEMS: Mapping[str, str] = _Systems()

# Plain words for reasons and notices (the DataCategory labels are singular and technical).
CATEGORY_WORDS: dict[str, str] = {
    DataCategory.PHOTO: "photos",
    DataCategory.FACE_EMBEDDING: "face embeddings",
    DataCategory.THUMBNAIL: "thumbnails",
    DataCategory.GENERATED_VIDEO: "generated videos",
    DataCategory.UPLOAD_METADATA: "upload metadata",
    DataCategory.IP_LOG: "IP address logs",
    DataCategory.PREFERENCES: "preferences",
    DataCategory.CONSENT_RECORD: "consent records",
    DataCategory.ACCOUNT_PROFILE: "account profiles",
}

UNKNOWN_JURISDICTION = "unknown"


@dataclass(frozen=True)
class ScopeResult:
    subjects: int
    items: int
    counts: dict[str, Any] = field(default_factory=dict)
    art34_3_a: bool = False
    reason: str = ""


def processor_system(recipient: Recipient | int) -> str:
    return f"{PROCESSOR_PREFIX}{getattr(recipient, 'pk', recipient)}"


def _recipient_label(r: Recipient) -> str:
    return f"{r.name} ({r.get_role_display()}: {r.service})"


def system_choices() -> list[tuple[str, str]]:
    """Every system a breach can name: the fixed stores, then one per recipient in the register."""
    out = list(FIXED_SYSTEMS.items())
    for r in Recipient.objects.order_by("name"):
        out.append((processor_system(r), _recipient_label(r)))
    return out


def unknown_systems(systems: list[str]) -> list[str]:
    """The names in ``systems`` that are not a system (for input validation)."""
    known = set(SYSTEMS)
    return [s for s in systems if s not in known]


def _processor_ids(systems: list[str]) -> list[int]:
    ids = []
    for s in systems:
        if s.startswith(PROCESSOR_PREFIX) and s[len(PROCESSOR_PREFIX):].isdigit():
            ids.append(int(s[len(PROCESSOR_PREFIX):]))
    return ids


def _system_q(name: str) -> Q | None:
    """Which holdings a system held, on the item facts each holding carries (models.Holding item_*)."""
    if name == "database":
        return Q()  # every item row, with its sealed metadata, lives there
    if name == "blob_storage":
        # Recorded when the content was sealed, so a purged item (blob name blanked) still counts: see
        # migration 0024 for items stored before the copy existed.
        return Q(item_in_blob=True)
    ids = _processor_ids([name])
    if not ids:
        return None
    # The register is a handful of rows: reading it here is not reading the vault.
    cond = Q(pk__in=[])
    for act in ProcessingActivity.objects.filter(recipients__pk=ids[0]).distinct():
        cond |= Q(item_purpose=act.purpose, item_category__in=list(act.categories or []))
    return cond


def _selected(breach: Breach) -> QuerySet[Holding] | None:
    """Holdings of the named categories in the named systems, created by the window's end; None when nothing can
    be in scope."""
    categories = list(breach.categories or [])
    if not categories:
        return None
    qs = Holding.objects.order_by().filter(item_category__in=sorted(categories))
    systems = list(breach.systems or [])
    if systems:
        conds = [c for c in (_system_q(s) for s in systems) if c is not None]
        if not conds:
            return None
        if not any(c == Q() for c in conds):
            where = conds[0]
            for c in conds[1:]:
                where |= c
            qs = qs.filter(where)
    if breach.occurred_until is not None:
        qs = qs.filter(item_created_at__lte=breach.occurred_until)
    return qs


def _pairs_sql(breach: Breach) -> tuple[str, list[Any]] | None:
    """(subject_id, item_id, category, residence, is_first) of every affected holding, as SQL. Written as two disjoint
    halves — items still held, and items purged at or after the window's start — so that each half is one range of
    its own partial index (migration 0024: holding_scope_live, holding_scope_purged), read index-only on
    PostgreSQL: an OR over both would fall back to a bitmap scan that visits the table's pages."""
    qs = _selected(breach)
    if qs is None:
        return None
    cols = ("subject_id", "item_id", "item_category", "subject_residence", "item_first")
    live = qs.filter(item_purged_at__isnull=True).values_list(*cols)
    purged = qs.filter(item_purged_at__isnull=False)
    if breach.occurred_from is not None:
        purged = purged.filter(item_purged_at__gte=breach.occurred_from)
    live_sql, live_params = live.query.sql_with_params()
    purged_sql, purged_params = purged.values_list(*cols).query.sql_with_params()
    return f"{live_sql} UNION ALL {purged_sql}", [*live_params, *purged_params]


def _tables() -> dict[str, str]:
    return {"affected": BreachAffected._meta.db_table}


def _tune(cur: Any) -> None:
    """Planner settings for the scoping statements, for this transaction only (PostgreSQL; EXPLAIN ANALYZE at
    10 M items in bench/breach.py):

    * work_mem: the broad scopes (all photos ever) hash millions of (subject, category) pairs; the 4 MB
      default spills them to disk;
    * jit off: compiling the expressions cost ~300 ms per scope, more than the query itself."""
    if connection.vendor == "postgresql":
        cur.execute("SET LOCAL work_mem = '64MB'")
        cur.execute("SET LOCAL jit = off")


# The affected holdings (subject, item, category, residence, the item's first holder?) as a CTE.
_PAIRS = "pairs (subject_id, item_id, category, residence, is_first) AS ({sql})"


def _count(breach: Breach) -> tuple[int, int, dict[str, Any]]:
    pairs = _pairs_sql(breach)
    counts: dict[str, Any] = {"categories": {}, "jurisdictions": {}}
    if pairs is None:
        return 0, 0, counts
    sql, params = pairs
    # One statement; only the aggregates (a few dozen rows) come back. Items are counted by their first holder
    # (Holding.item_first), so no DISTINCT over items is needed, and a person's jurisdiction is the residence
    # their holdings carry (vault.set_residence rewrites them all under the subject's lock): no probe into the
    # subjects. Residences are compared bytewise (COLLATE "C" on PostgreSQL; SQLite's default): the locale's
    # collation costs more than the grouping itself. The per-person work is what costs (bench/breach.py).
    binary = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
    first = "SUM(CASE WHEN is_first THEN 1 ELSE 0 END)"
    if len(set(breach.categories or [])) == 1:
        # One category: people are counted distinct within their residence, all in one grouping.
        query = f"""
            WITH {_PAIRS.format(sql=sql)}
            SELECT MIN(category), residence{binary}, COUNT(DISTINCT subject_id), {first}
            FROM pairs GROUP BY residence{binary}
        """  # noqa: S608 - table names from model meta, values parametrised
    else:
        # A person in two categories counts once in each and once in their jurisdiction: the (person,
        # category) groups, counted per category, then grouped once more by person.
        query = f"""
            WITH {_PAIRS.format(sql=sql)},
            per AS (SELECT subject_id, category, MIN(residence{binary}) AS residence, {first} AS items
                    FROM pairs GROUP BY subject_id, category),
            people AS (SELECT MIN(residence) AS residence FROM per GROUP BY subject_id)
            SELECT category, NULL, COUNT(*), SUM(items) FROM per GROUP BY category
            UNION ALL
            SELECT NULL, residence, COUNT(*), 0 FROM people GROUP BY residence
        """  # noqa: S608
    # A transaction of its own on PostgreSQL so the SET LOCALs hold (a savepoint inside a caller's).
    with transaction.atomic() if connection.vendor == "postgresql" else contextlib.nullcontext(), \
            connection.cursor() as cur:
        _tune(cur)
        cur.execute(query, params)
        rows = cur.fetchall()
    cats: dict[str, dict[str, int]] = {}
    places: dict[str, int] = {}
    for category, place, people, items in rows:
        if category is not None:
            c = cats.setdefault(category, {"subjects": 0, "items": 0})
            c["subjects"] += int(people)
            c["items"] += int(items or 0)
        if place is not None:
            place = place or UNKNOWN_JURISDICTION
            places[place] = places.get(place, 0) + int(people)
    counts["categories"] = {k: cats[k] for k in sorted(cats)}
    counts["jurisdictions"] = dict(sorted(places.items()))
    return sum(places.values()), sum(c["items"] for c in cats.values()), counts


def _words(categories: list[str]) -> str:
    words = [CATEGORY_WORDS.get(c, c.replace("_", " ")) for c in sorted(categories)]
    if not words:
        return "the affected data"
    if len(words) == 1:
        return f"the affected {words[0]}"
    return "the affected " + ", ".join(words[:-1]) + " and " + words[-1]


def art34_3a_applies(breach: Breach) -> tuple[bool, str]:
    """Art. 34(3)(a) (legal-matrix §5.3, B-DS): no individual notice is required when the affected data was
    unintelligible to whoever got it — encrypted, with the keys not exposed. dsr always seals vault content
    under per-person AES-256-GCM data keys wrapped by a key ring kept outside the database, so the question
    is what leaked: the operator's flags (data_encrypted, keys_exposed) and whether a processor's readable
    copy was involved. Returns (applies, the reason in plain words)."""
    what = _words(list(breach.categories or []))
    if not breach.categories:
        return False, "No data categories are named yet, so it cannot be said that the data was unintelligible."
    types = set(breach.types or [])
    if types and BreachType.CONFIDENTIALITY not in types:
        kinds = " and ".join(sorted(types))
        return False, (f"This is an {kinds} breach: encryption keeps data from being read, not from being lost or "
                       "altered, so Art. 34(3)(a) does not remove the need to tell people.")
    if not breach.data_encrypted:
        return False, (f"{what.capitalize()} were not encrypted in the form that leaked: Art. 34(3)(a) does not "
                       "apply, and people must be told if the risk is high.")
    if breach.keys_exposed:
        return False, (f"{what.capitalize()} were encrypted, but the keys were exposed too, so the data can be "
                       "read: Art. 34(3)(a) does not apply.")
    proc_ids = _processor_ids(list(breach.systems or []))
    if proc_ids:
        names = ", ".join(Recipient.objects.filter(pk__in=proc_ids).order_by("name").values_list("name", flat=True))
        return False, (f"{names or 'A processor'} received {what} in readable form to work on them; dsr's "
                       "encryption at rest does not protect that copy, so Art. 34(3)(a) does not apply.")
    return True, (f"{what.capitalize()} were encrypted with per-person AES-256-GCM keys that were not exposed "
                  "(the data keys are wrapped by a key ring kept outside the database): Art. 34(3)(a), no "
                  "individual notice required.")


def compute_scope(breach: Breach) -> ScopeResult:
    """The breach's scope as it stands in the vault now: counts only, computed in the database. Read-only."""
    subjects, items, counts = _count(breach)
    applies, reason = art34_3a_applies(breach)
    return ScopeResult(subjects=subjects, items=items, counts=counts, art34_3_a=applies, reason=reason)


def _default_columns() -> tuple[list[str], list[Any]]:
    """Every BreachAffected column the upsert does not set, with its model default, so a column added by a
    later migration (with a default) does not break the INSERT … SELECT."""
    own = {"id", "breach", "subject", "jurisdiction", "items", "in_scope"}
    cols, vals = [], []
    for f in BreachAffected._meta.concrete_fields:
        if f.name in own:
            continue
        cols.append(f.column)
        vals.append(f.get_db_prep_save(f.get_default(), connection))  # "" for blank text, None for nullable
    return cols, vals


def _write_rows(breach: Breach) -> tuple[int, int]:
    """Upsert one row per affected person (items, jurisdiction, back in scope) and mark the rows that fell
    out ``in_scope=False``, keeping their notice state. Returns (rows inserted or changed, rows that left)."""
    t = _tables()
    bid = BreachAffected._meta.get_field("breach").get_db_prep_value(breach.pk, connection)
    pairs = _pairs_sql(breach)
    changed = 0
    with connection.cursor() as cur:
        _tune(cur)
        if pairs is not None:
            sql, params = pairs
            cols, vals = _default_columns()
            extra_cols = "".join(f", {c}" for c in cols)
            extra_vals = "".join(", %s" for _ in cols)
            # ON CONFLICT … WHERE: an identical re-scope rewrites nothing (no churn at a million rows).
            # "WHERE 1=1" keeps SQLite from reading ON CONFLICT as a join constraint.
            cur.execute(
                f"""
                WITH {_PAIRS.format(sql=sql)}
                INSERT INTO {t['affected']} (breach_id, subject_id, jurisdiction, items, in_scope{extra_cols})
                SELECT %s, p.subject_id, p.residence, COUNT(*), %s{extra_vals}
                FROM pairs p
                WHERE 1 = 1
                GROUP BY p.subject_id, p.residence
                ON CONFLICT (breach_id, subject_id) DO UPDATE
                SET jurisdiction = excluded.jurisdiction, items = excluded.items, in_scope = excluded.in_scope
                WHERE {t['affected']}.jurisdiction <> excluded.jurisdiction
                   OR {t['affected']}.items <> excluded.items
                   OR {t['affected']}.in_scope <> excluded.in_scope
                """,  # noqa: S608 - table names from model meta, values parametrised
                [*params, bid, True, *vals],
            )
            changed = max(cur.rowcount, 0)
            # The people in scope once, as a hashed set: a correlated NOT EXISTS would re-read the holdings.
            cur.execute(
                f"""
                WITH {_PAIRS.format(sql=sql)}, people AS (SELECT DISTINCT subject_id FROM pairs)
                UPDATE {t['affected']} SET in_scope = %s
                WHERE breach_id = %s AND in_scope = %s AND subject_id NOT IN (SELECT subject_id FROM people)
                """,  # noqa: S608
                [*params, False, bid, True],
            )
        else:
            cur.execute(
                f"UPDATE {t['affected']} SET in_scope = %s WHERE breach_id = %s AND in_scope = %s",  # noqa: S608
                [False, bid, True],
            )
        left = max(cur.rowcount, 0)
    return changed, left


def store_scope(breach: Breach, *, actor: str, now: datetime) -> ScopeResult:
    """Compute the scope and store it with the breach, in one transaction. Steps:

    1. lock the breach row (two re-scopes never interleave);
    2. upsert one BreachAffected row per affected person (INSERT … SELECT … ON CONFLICT): new people are
       added with notice state "not due"; people already there get their item count and jurisdiction
       refreshed and ``in_scope`` back to True — their notice state (queued, sent…) is kept;
    3. people no longer in scope keep their row and notice state with ``in_scope=False``;
    4. store the counts on the breach; ``scope_computed_at`` is always set to ``now``, ``scope_version``
       goes up only when the scope changed (rows entered, left or changed, or the counts differ), so a
       version names one distinct scope and an identical re-run changes nothing else;
    5. audit ``breach.scoped`` (object_type "breach") with the old and new counts, the version and whether
       anything changed — written on every run, since re-checking the scope is itself a decision on record.
    """
    with transaction.atomic():
        locked = Breach.objects.select_for_update().get(pk=breach.pk)
        old = {"subjects": locked.scope_subjects, "items": locked.scope_items, "counts": locked.scope_counts or {}}
        rows_changed, rows_left = _write_rows(locked)
        subjects, items, counts = _count(locked)
        new = {"subjects": subjects, "items": items, "counts": counts}
        # Compare through JSON: the stored counts come back from a JSON column.
        changed = bool(rows_changed or rows_left) or json.dumps(old, sort_keys=True) != json.dumps(
            new, sort_keys=True
        ) or locked.scope_computed_at is None
        if changed:
            locked.scope_version += 1
        locked.scope_subjects, locked.scope_items, locked.scope_counts = subjects, items, counts
        locked.scope_computed_at = now
        locked.save(update_fields=["scope_subjects", "scope_items", "scope_counts", "scope_computed_at",
                                   "scope_version"])
        applies, reason = art34_3a_applies(locked)
        audit.record(
            "breach.scoped",
            actor=actor,
            now=now,
            object_type="breach",
            object_id=locked.pk,
            data={
                "version": locked.scope_version,
                "changed": changed,
                "rows_entered_or_changed": rows_changed,
                "rows_left": rows_left,
                "old": old,
                "new": new,
                "art34_3_a": applies,
            },
        )
        # The clocks follow the scope (UK-BR, CB-IND/CB-AG > 500, the state thresholds, BR-BR come from its
        # per-jurisdiction counts): re-synced in the same transaction (dsr/breach_clocks.py).
        breach_clocks.sync_deadlines(locked, now=now)
    for name in ("scope_subjects", "scope_items", "scope_counts", "scope_computed_at", "scope_version"):
        setattr(breach, name, getattr(locked, name))
    return ScopeResult(subjects=subjects, items=items, counts=counts, art34_3_a=applies, reason=reason)


# --- storing a large scope in the background -------------------------------------------------------------------

SCOPE_RUN_KIND = "breach_scope"


def inline_max() -> int:
    """Scopes of up to this many people are stored in the operator's request; larger ones by a job: writing a
    row per person takes ~9 s per 100,000 people on the bench machine (bench/breach.py), past what a request
    should hold (a proxy's timeout, a double click)."""
    return int(getattr(settings, "DSR_BREACH_SCOPE_INLINE_MAX", 20_000))


def scope_run(breach: Breach) -> StepRun | None:
    """The job storing this breach's scope, while it has not finished (running or needing attention)."""
    return StepRun.objects.active().for_object("breach", breach.pk).filter(kind=SCOPE_RUN_KIND).first()


@dataclass(frozen=True)
class ScopeRequest:
    """What asking for the scope did: ``result`` when it was stored at once, ``run`` when a job stores it."""

    counted: ScopeResult
    result: ScopeResult | None = None
    run: StepRun | None = None


def request_scope(breach: Breach, *, actor: str, now: datetime) -> ScopeRequest:
    """The console's "compute the scope": count first (read-only, fast), then store it here when it is small
    or start a job (one step, ``scope_step``) when it is large. A job already storing it is returned, not
    doubled. The counts are shown to the operator either way; the stored scope is what notices go to."""
    running = scope_run(breach)
    counted = compute_scope(breach)
    if running is not None:
        return ScopeRequest(counted=counted, run=running)
    if counted.subjects <= inline_max():
        return ScopeRequest(counted=counted, result=store_scope(breach, actor=actor, now=now))
    with transaction.atomic():
        Breach.objects.select_for_update().filter(pk=breach.pk).exists()  # two requests: one job
        running = scope_run(breach)
        if running is None:
            spec = StepSpec("store-scope", "dsr.breach_scope.scope_step", 1,
                            {"breach": str(breach.pk), "actor": actor})
            running = steps.start_run(SCOPE_RUN_KIND, [spec], object_type="breach", object_id=breach.pk,
                                      actor=actor, now=now)
    return ScopeRequest(counted=counted, run=running)


def scope_step(ctx: StepContext) -> dict[str, Any]:
    """The job's one step: store the scope as it stands when it runs (the breach's facts may have changed since
    it was asked for), audited under the operator who asked. Idempotent: a second run stores the same scope
    and changes nothing but the computed instant."""
    breach = Breach.objects.get(pk=ctx.step.params["breach"])
    with ctx.fenced():
        result = store_scope(breach, actor=str(ctx.step.params.get("actor") or "system:steps"), now=timezone.now())
    return {"subjects": result.subjects, "items": result.items, "version": breach.scope_version}
