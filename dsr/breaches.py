"""The breach desk's verbs (issue 12): open, update, assess the risk, record an Art. 34(3) exception, add a
remedial action, file with an authority (phased), close — and open an availability breach when a subject's key
is destroyed outside a legitimate erasure.

Every verb runs in one transaction, locks the breach row, writes one audit event (object_type "breach",
object_id the breach's id, data holding field names, kinds and counts only — never what an operator typed, which
may describe people) and re-syncs the clocks (dsr/breach_clocks.py). Input from the API and the console goes
through ONE function, ``clean_input``, that answers field by field; bad input raises ``BreachInputError`` and
changes nothing. Rules cited: legal-matrix §1.2, §2.2 (B-SA, B-SKIP, B-DS, B-DOC), §5, §10.8.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils.dateparse import parse_datetime

from dsr import audit, breach_clocks, breach_risk, residence
from dsr.models import (
    Breach,
    BreachAffected,
    BreachDeadline,
    BreachFiling,
    BreachOrigin,
    BreachState,
    BreachType,
    DataCategory,
    DataItem,
    Exception34,
    FilingPhase,
    Recipient,
    RiskFactor,
    RiskLevel,
    Subject,
)
from dsr.models.breaches import OPEN_DEADLINE

_REFERENCE_LOCK = 0x64737262  # "dsrb": serialises reference numbering (PostgreSQL advisory lock)
_LINE = re.compile(r"^[^\r\n\x00]*$")


class BreachInputError(ValueError):
    """Refused input: ``errors`` maps each field to a message (never echoing the value)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


# --- input: one function for the API and the console ------------------------------------------------------------

REQUIRED_ON_OPEN = ("title", "description", "detected_at", "aware_at", "aware_basis", "aware_by", "types")
_LINES = {"title": 200, "aware_by": 200}
_TEXTS = {"description": 20_000, "aware_basis": 10_000, "consequences": 10_000, "measures": 10_000,
          "subject_advice": 10_000, "law_enforcement_reason": 5_000}
_INSTANTS = ("detected_at", "aware_at", "investigation_started_at", "occurred_from", "occurred_until",
             "processor_notified_controller_at", "restored_at")
_BOOLS = ("data_encrypted", "keys_exposed", "law_enforcement_delay")
FIELDS = frozenset({*_LINES, *_TEXTS, *_INSTANTS, *_BOOLS, "types", "categories", "systems", "processor",
                    "risk_factors", "subjects_estimate", "jurisdictions"})


def _unknown_systems(systems: list[str]) -> list[str]:
    from dsr.breach_scope import unknown_systems  # the fixed stores plus one per recipient in the register

    return unknown_systems(systems)


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None:
        raise ValueError("must be a date and time (ISO 8601, e.g. 2026-03-27T22:30:00Z)")
    if parsed.tzinfo is None:
        raise ValueError("needs a time zone offset (e.g. Z or +01:00)")
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("lies outside the dates this desk handles") from exc
    if not 1900 <= parsed.year <= 2200:
        raise ValueError("lies outside the dates this desk handles (1900-2200)")
    return parsed


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "on", "1", "yes", "false", "off", "0", "no", ""):
        return value.strip().lower() in ("true", "on", "1", "yes")
    raise ValueError("must be true or false")


def _choices(value: Any, allowed: Any, what: str, *, required: bool = False) -> list[str]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of {what}")
    out = list(dict.fromkeys(v.strip() for v in value))
    bad = [v for v in out if v not in allowed]
    if bad:
        raise ValueError(f"must be {what} from: {', '.join(sorted(allowed))}")
    if required and not out:
        raise ValueError(f"give at least one of: {', '.join(sorted(allowed))}")
    return out


def _clean_one(name: str, value: Any) -> Any:
    if name in _LINES or name in _TEXTS:
        if not isinstance(value, str):
            raise ValueError("must be text")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate from JSON's \\ud800
            raise ValueError("contains a character that is not allowed") from exc
        value = value.strip()
        limit = _LINES.get(name) or _TEXTS[name]
        if len(value) > limit:
            raise ValueError(f"is too long (at most {limit} characters)")
        if "\x00" in value or (name in _LINES and not _LINE.match(value)):
            raise ValueError("contains a character that is not allowed (a single line)" if name in _LINES
                             else "contains a character that is not allowed")
        return value
    if name in _INSTANTS:
        return None if value in (None, "") and name not in ("detected_at", "aware_at") else _instant(value)
    if name in _BOOLS:
        return _bool(value)
    if name == "types":
        return _choices(value, BreachType.values, "breach types", required=True)
    if name == "categories":
        return _choices(value, DataCategory.values, "data categories")
    if name == "risk_factors":
        return _choices(value, RiskFactor.values, "risk factors")
    if name == "systems":
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) and len(v) <= 64 for v in value):
            raise ValueError("must be a list of system names")
        out = list(dict.fromkeys(v.strip() for v in value))
        if _unknown_systems(out):
            raise ValueError("names a system dsr does not know (see the breach form's list)")
        return out
    if name == "jurisdictions":
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of ISO 3166 codes such as DE, GB-SCT or US-CA")
        return sorted({residence.normalise(v) for v in value})
    if name == "subjects_estimate":
        if value in (None, ""):
            return None
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
            raise ValueError("must be a whole number of people (0 or more)")
        number = int(value)
        if number > 2_000_000_000:
            raise ValueError("is larger than this desk counts")
        return number
    if name == "processor":
        if value in (None, ""):
            return None
        if isinstance(value, Recipient):
            return value
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
            raise ValueError("must be the id of a recipient in the processing register")
        found = Recipient.objects.filter(pk=int(value)).first()
        if found is None:
            raise ValueError("names no recipient in the processing register")
        return found
    raise ValueError("is not a field of a breach")


def clean_input(data: dict[str, Any], *, now: datetime, current: Breach | None = None) -> dict[str, Any]:
    """Validate a breach's fields (all of them when opening, the given ones when ``current`` is updated).
    Returns clean Python values keyed by model field (``jurisdictions`` → ``jurisdictions_declared``); raises
    ``BreachInputError`` with one message per bad field. Rules: types from BreachType, categories from
    DataCategory; ``aware_at`` not before ``detected_at`` and not in the future (§5.2); no instant in the
    future; the exposure window in order; a law-enforcement delay needs its reason."""
    errors: dict[str, str] = {}
    if not isinstance(data, dict):
        raise BreachInputError({"__all__": "the breach must be given as fields and values"})
    clean: dict[str, Any] = {}
    for name, value in data.items():
        if name not in FIELDS:
            errors[name] = "is not a field of a breach"
            continue
        try:
            clean[name] = _clean_one(name, value)
        except ValueError as exc:
            errors[name] = str(exc)
    if current is None:
        for name in REQUIRED_ON_OPEN:
            if name not in errors and (clean.get(name) in (None, "", [])):
                errors[name] = "is required"
    merged: dict[str, Any] = {}
    if current is not None:
        merged = {n: getattr(current, n) for n in _INSTANTS}
        merged["law_enforcement_delay"] = current.law_enforcement_delay
        merged["law_enforcement_reason"] = current.law_enforcement_reason
    merged.update(clean)

    def check(field: str, ok: Callable[[], bool], message: str) -> None:
        if field not in errors and not ok():
            errors[field] = message

    for name in _INSTANTS:
        if merged.get(name) is not None:
            check(name, lambda n=name: merged[n] <= now, "may not lie in the future")
    if merged.get("aware_at") and merged.get("detected_at"):
        check("aware_at", lambda: merged["aware_at"] >= merged["detected_at"],
              "may not be earlier than detected_at (awareness follows the first anomaly)")
    if merged.get("investigation_started_at") and merged.get("detected_at"):
        check("investigation_started_at", lambda: merged["investigation_started_at"] >= merged["detected_at"],
              "may not be earlier than detected_at")
    if merged.get("occurred_from") and merged.get("occurred_until"):
        check("occurred_until", lambda: merged["occurred_until"] >= merged["occurred_from"],
              "may not be earlier than occurred_from")
    if merged.get("law_enforcement_delay"):
        check("law_enforcement_reason", lambda: bool((merged.get("law_enforcement_reason") or "").strip()),
              "give the reason for the law-enforcement delay")
    if errors:
        raise BreachInputError(errors)
    if "jurisdictions" in clean:
        clean["jurisdictions_declared"] = clean.pop("jurisdictions")
    return clean


# --- helpers ---------------------------------------------------------------------------------------------------


def _next_reference(now: datetime) -> str:
    """BR-YYYY-NNNN, the next number of the year, under a transaction-scoped lock so two openings never take
    the same number (the unique constraint is the backstop)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_REFERENCE_LOCK])
    # SQLite: write transactions are IMMEDIATE (settings), so openings are serialised already.
    prefix = f"BR-{now.year:04d}-"
    last = (Breach.objects.filter(reference__startswith=prefix).order_by("-reference")
            .values_list("reference", flat=True).first())
    number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{number:04d}"


def _locked(breach: Breach) -> Breach:
    return Breach.objects.select_for_update().get(pk=breach.pk)


def _refuse_closed(breach: Breach) -> None:
    if breach.state == BreachState.CLOSED:
        raise BreachInputError({"state": "the breach is closed"})


def _suggest(breach: Breach) -> None:
    breach.risk_suggested, breach.risk_suggested_reasons = breach_risk.suggest(breach)


def _rules(rows: list[BreachDeadline]) -> list[str]:
    return [d.rule for d in rows]


# --- the verbs -------------------------------------------------------------------------------------------------


def open_breach(*, data: dict[str, Any], actor: str, now: datetime, origin: str = BreachOrigin.CONSOLE,
                idempotency_key: str | None = None) -> Breach:
    """Open an incident. Steps: validate every field (nothing written on refusal); take the next reference
    BR-YYYY-NNNN; store the breach with the §5.1 suggestion; start its clocks; audit ``breach.opened``.
    With an ``idempotency_key`` already used, returns the first breach and writes nothing (``open_breach_once``
    tells the caller which happened)."""
    return open_breach_once(data=data, actor=actor, now=now, origin=origin, idempotency_key=idempotency_key)[0]


def open_breach_once(*, data: dict[str, Any], actor: str, now: datetime, origin: str = BreachOrigin.CONSOLE,
                     idempotency_key: str | None = None) -> tuple[Breach, bool]:
    """``open_breach`` returning (breach, created): a repeated ``idempotency_key`` gives (first breach, False)
    without validating, writing or auditing anything — a retried call must not open a second incident."""
    if origin not in BreachOrigin.values:
        raise BreachInputError({"origin": "unknown origin"})
    key = idempotency_key or None
    if key:
        existing = Breach.objects.filter(idempotency_key=key).first()
        if existing:
            return existing, False
    clean = clean_input(data, now=now)
    try:
        # A savepoint when the caller has a transaction open, so losing the race below leaves it usable.
        with transaction.atomic():
            breach = Breach(reference=_next_reference(now), origin=origin, opened_by=actor[:64], created_at=now,
                            idempotency_key=key, **clean)
            _suggest(breach)
            breach.save(force_insert=True)
            rows = breach_clocks.sync_deadlines(breach, now=now)
            audit.record("breach.opened", actor=actor, now=now, object_type="breach", object_id=breach.pk,
                         data={"reference": breach.reference, "origin": origin, "fields": sorted(clean),
                               "types": breach.types, "categories": breach.categories,
                               "risk_suggested": breach.risk_suggested, "deadlines": _rules(rows)})
    except IntegrityError:
        # A concurrent call with the same key committed first (the unique index on idempotency_key refused ours,
        # and the savepoint undid our row, clocks and event): answer with its breach.
        if key:
            existing = Breach.objects.filter(idempotency_key=key).first()
            if existing:
                return existing, False
        raise
    return breach, True


def update_breach(breach: Breach, *, changes: dict[str, Any], actor: str, now: datetime) -> Breach:
    """Correct or complete fields. Steps: validate against the current values; apply; re-suggest the risk;
    re-sync the clocks (an earlier aware_at moves B-SA); audit ``breach.updated`` with the changed names."""
    with transaction.atomic():
        breach = _locked(breach)
        _refuse_closed(breach)
        clean = clean_input(changes, now=now, current=breach)
        changed = sorted(name for name, value in clean.items() if getattr(breach, name) != value)
        for name in changed:
            setattr(breach, name, clean[name])
        _suggest(breach)
        breach.save()
        rows = breach_clocks.sync_deadlines(breach, now=now)
        audit.record("breach.updated", actor=actor, now=now, object_type="breach", object_id=breach.pk,
                     data={"fields": changed, "risk_suggested": breach.risk_suggested, "deadlines": _rules(rows)})
    return breach


def _rationale(value: object, errors: dict[str, str], *, missing: str) -> str:
    """The stripped rationale; records an error when it is required (``missing`` says why) but empty, or unusable."""
    text = value.strip() if isinstance(value, str) else ""
    if missing and not text:
        errors["rationale"] = missing
    elif len(text) > 10_000 or "\x00" in text:
        errors["rationale"] = "is too long or contains a character that is not allowed"
    return text


def assess_risk(breach: Breach, *, level: str, rationale: str, actor: str, now: datetime) -> Breach:
    """The operator's §5.1 decision, with its rationale (required: Art. 33(5) documents the reasoning, and an
    'unlikely' decision is what switches B-SA off — B-SKIP). HIGH starts B-DS (high_risk_determined_at); a
    lowered level stops it. Audit ``breach.risk_assessed`` with the suggestion beside the decision."""
    errors: dict[str, str] = {}
    if level not in RiskLevel.values:
        errors["level"] = f"must be one of: {', '.join(RiskLevel.values)}"
    rationale = _rationale(rationale, errors, missing="give the reasoning for the decision (Art. 33(5))")
    if errors:
        raise BreachInputError(errors)
    with transaction.atomic():
        breach = _locked(breach)
        _refuse_closed(breach)
        previous = breach.risk_level
        _suggest(breach)
        breach.risk_level, breach.risk_rationale = level, rationale
        breach.risk_assessed_at, breach.risk_assessed_by = now, actor[:64]
        if level == RiskLevel.HIGH:
            breach.high_risk_determined_at = breach.high_risk_determined_at or now
        else:
            breach.high_risk_determined_at = None
        breach.save()
        rows = breach_clocks.sync_deadlines(breach, now=now)
        audit.record("breach.risk_assessed", actor=actor, now=now, object_type="breach", object_id=breach.pk,
                     data={"suggested": breach.risk_suggested, "decided": level, "previous": previous,
                           "overrides_suggestion": level != breach.risk_suggested, "deadlines": _rules(rows)})
    return breach


def set_exception(breach: Breach, *, exception: str, rationale: str, actor: str, now: datetime) -> Breach:
    """Record (or clear, with "") the Art. 34(3) exception that spares individual notices; B-DS becomes not
    required. Audit ``breach.exception_set``."""
    errors: dict[str, str] = {}
    if exception not in Exception34.values:
        errors["exception"] = "must be one of: a, b, c (Art. 34(3)) or empty to clear"
    rationale = _rationale(rationale, errors, missing="say why the exception applies" if exception else "")
    if errors:
        raise BreachInputError(errors)
    with transaction.atomic():
        breach = _locked(breach)
        _refuse_closed(breach)
        previous = breach.exception_34_3
        breach.exception_34_3, breach.exception_rationale = exception, rationale
        breach.save(update_fields=["exception_34_3", "exception_rationale"])
        rows = breach_clocks.sync_deadlines(breach, now=now)
        audit.record("breach.exception_set", actor=actor, now=now, object_type="breach", object_id=breach.pk,
                     data={"exception": exception, "previous": previous, "deadlines": _rules(rows)})
    return breach


def add_remedial_action(breach: Breach, *, action: str, actor: str, now: datetime) -> Breach:
    """Append a remedial action to the register entry ({at, action, by}). Audit ``breach.remedial_action``
    (the count, not the text)."""
    action = (action or "").strip() if isinstance(action, str) else ""
    if not action:
        raise BreachInputError({"action": "describe the action taken"})
    if len(action) > 2000 or "\x00" in action:
        raise BreachInputError({"action": "is too long (at most 2000 characters) or holds a forbidden character"})
    with transaction.atomic():
        breach = _locked(breach)
        _refuse_closed(breach)
        breach.remedial_actions = [*breach.remedial_actions, {"at": now.isoformat(), "action": action,
                                                              "by": actor[:64]}]
        breach.save(update_fields=["remedial_actions"])
        audit.record("breach.remedial_action", actor=actor, now=now, object_type="breach", object_id=breach.pk,
                     data={"count": len(breach.remedial_actions)})
    return breach


def record_filing(breach: Breach, *, rule: str, authority: str, phase: str, actor: str, now: datetime,
                  follows: BreachFiling | None = None, submission_ref: str = "", delay_reason: str = "",
                  document: bytes | None = None) -> BreachFiling:
    """A notification made to an authority, phased per Art. 33(4). Rules: the rule must be one of the breach's
    clocks; the first filing for a rule is INITIAL and there is one; a follow-up or final names a prior filing of
    the same breach and rule, and nothing follows a final; an initial filing after the due instant needs the
    reasons for the delay (Art. 33(1)) and is flagged late. An initial filing meets its deadline. Audit
    ``breach.filed``."""
    errors: dict[str, str] = {}
    if phase not in FilingPhase.values:
        errors["phase"] = f"must be one of: {', '.join(FilingPhase.values)}"
    authority = authority.strip() if isinstance(authority, str) else ""
    if not authority or len(authority) > 200 or not _LINE.match(authority):
        errors["authority"] = "name the authority (one line, at most 200 characters)"
    submission_ref = submission_ref.strip() if isinstance(submission_ref, str) else ""
    if len(submission_ref) > 200 or not _LINE.match(submission_ref):
        errors["submission_ref"] = "one line, at most 200 characters"
    delay_reason = delay_reason.strip() if isinstance(delay_reason, str) else ""
    if len(delay_reason) > 10_000 or "\x00" in delay_reason:
        errors["delay_reason"] = "is too long or contains a character that is not allowed"
    if document is not None and not isinstance(document, bytes | bytearray):
        errors["document"] = "must be the document's bytes"
    if errors:
        raise BreachInputError(errors)
    with transaction.atomic():
        breach = _locked(breach)
        _refuse_closed(breach)
        deadline = BreachDeadline.objects.select_for_update().filter(breach=breach, rule=rule).first()
        if deadline is None:
            raise BreachInputError({"rule": "is not one of this breach's deadlines"})
        prior = BreachFiling.objects.filter(breach=breach, rule=rule)
        late = False
        if phase == FilingPhase.INITIAL:
            if follows is not None:
                errors["follows"] = "an initial filing follows nothing"
            elif prior.exists():
                errors["phase"] = "an initial filing for this rule exists: file a follow-up that follows it"
            elif deadline.due_at is not None and now > deadline.due_at and not deadline.not_required:
                late = True
                if not delay_reason:
                    errors["delay_reason"] = ("the deadline has passed: give the reasons for the delay "
                                              "(Art. 33(1))")
        else:
            if not prior.exists():
                errors["phase"] = "the first filing for a rule must be the initial one"
            elif follows is None or not prior.filter(pk=follows.pk).exists():
                errors["follows"] = "name the earlier filing of this breach and rule that this one completes"
            elif prior.filter(phase=FilingPhase.FINAL).exists():
                errors["phase"] = "a final filing was already made for this rule"
        if errors:
            raise BreachInputError(errors)
        filing = BreachFiling.objects.create(
            breach=breach, rule=rule, authority=authority, phase=phase, follows=follows, filed_at=now,
            filed_by=actor[:64], submission_ref=submission_ref, late=late, delay_reason=delay_reason,
            document=bytes(document) if document is not None else None,
            document_sha256=hashlib.sha256(document).hexdigest() if document is not None else "")
        if phase == FilingPhase.INITIAL and deadline.met_at is None:
            deadline.met_at = now
            deadline.save(update_fields=["met_at"])
        audit.record("breach.filed", actor=actor, now=now, object_type="breach", object_id=breach.pk,
                     data={"filing": str(filing.pk), "rule": rule, "phase": phase, "late": late,
                           "follows": str(follows.pk) if follows else None, "document": document is not None})
    return filing


def close_breach(breach: Breach, *, actor: str, now: datetime) -> Breach:
    """Close the incident once the register entry is complete: the risk decided (with its rationale) and no
    deadline left open. Audit ``breach.closed``."""
    with transaction.atomic():
        breach = _locked(breach)
        _refuse_closed(breach)
        errors: dict[str, str] = {}
        if not breach.risk_level:
            errors["risk_level"] = "decide the risk first (Art. 33(5): the decision and its reasoning)"
        open_rules = list(breach.deadlines.filter(OPEN_DEADLINE).values_list("rule", flat=True))
        if open_rules:
            errors["deadlines"] = f"still open: {', '.join(open_rules)}"
        if errors:
            raise BreachInputError(errors)
        breach.state, breach.closed_at = BreachState.CLOSED, now
        breach.save(update_fields=["state", "closed_at"])
        audit.record("breach.closed", actor=actor, now=now, object_type="breach", object_id=breach.pk,
                     data={"filings": breach.filings.count()})
    return breach


def governing_deadline(breach: Breach) -> BreachDeadline | None:
    """The earliest open due instant (§1.4); its ``rule`` is what the board names."""
    return (BreachDeadline.objects.filter(OPEN_DEADLINE, breach=breach, due_at__isnull=False)
            .order_by("due_at", "rule").first())


# --- erroneous key destruction (an availability breach) ----------------------------------------------------------


def destruction_is_legitimate(subject: Subject) -> bool:
    """A subject's key may be destroyed only by an erasure of that subject in its shred step (or the replay of
    an erasure recorded by a tombstone, which passes ``erasure_replay``): anything else is erroneous."""
    from dsr.models import Step, StepState

    return Step.objects.filter(name="shred", state=StepState.RUNNING, run__erasure__subject=subject).exists()


def open_key_destruction_breach(subject: Subject, *, actor: str, now: datetime, why: str) -> Breach:
    """An erroneous destruction of a subject's data key is an availability breach: the person's data is lost
    for good. Steps (in the caller's transaction): open a breach (origin key_destruction, type availability,
    categories = the subject's item categories) unless one is already open for this subject's key; pre-fill
    the scope with that subject (BreachAffected row, counts per category and jurisdiction); audit
    ``breach.scoped``. Returns the (new or existing) breach."""
    with transaction.atomic():
        existing = (Breach.objects.filter(origin=BreachOrigin.KEY_DESTRUCTION, state=BreachState.OPEN,
                                          affected__subject=subject).first())
        if existing is not None:
            return existing
        items = DataItem.objects.filter(holders__subject=subject)
        per_category = dict(items.values_list("category").annotate(n=Count("pk", distinct=True)).order_by())
        from dsr.models import SubjectKey

        destroyed_at = min(now, SubjectKey.objects.filter(subject=subject).values_list("destroyed_at", flat=True)
                           .first() or now)  # a worker's clock ahead of ours must not make it "future"
        description = (f"The data key of subject {subject.reference} was destroyed at {destroyed_at.isoformat()} "
                       f"outside a legitimate erasure ({why}). Every item sealed under it is unreadable for good.")
        breach = open_breach(data={
            "title": "Erroneous destruction of a subject's data key",
            "description": description,
            "detected_at": destroyed_at, "aware_at": now,
            "aware_basis": f"dsr recorded the key destruction ({why})",
            "aware_by": actor[:200], "types": [BreachType.AVAILABILITY],
            "categories": sorted(per_category), "data_encrypted": True, "keys_exposed": False,
            "occurred_from": destroyed_at, "occurred_until": destroyed_at,
            **({"jurisdictions": [subject.residence]} if subject.residence else {}),
        }, actor=actor, now=now, origin=BreachOrigin.KEY_DESTRUCTION)
        total = sum(per_category.values())
        BreachAffected.objects.create(breach=breach, subject=subject, jurisdiction=subject.residence, items=total)
        breach.scope_version, breach.scope_computed_at = 1, now
        breach.scope_subjects, breach.scope_items = 1, total
        breach.scope_counts = {"categories": {c: {"subjects": 1, "items": n} for c, n in per_category.items()},
                               "jurisdictions": {subject.residence: 1} if subject.residence else {}}
        _suggest(breach)
        breach.save()
        breach_clocks.sync_deadlines(breach, now=now)
        audit.record("breach.scoped", actor=actor, now=now, object_type="breach", object_id=breach.pk,
                     data={"version": 1, "subjects": 1, "items": total, "source": "key_destruction"})
    return breach


def declare_destruction_erroneous(subject: Subject, *, reason: str, actor: str, now: datetime) -> Breach:
    """An operator says a key destruction was a mistake even though an erasure did it (the wrong subject was
    erased, an approval was forged…): refuse unless the key is destroyed, then open the availability breach."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason or len(reason) > 2000 or not _LINE.match(reason):
        raise BreachInputError({"reason": "say why the destruction was erroneous (one line, at most 2000 "
                                          "characters)"})
    from dsr.models import SubjectKey

    if not SubjectKey.objects.filter(subject=subject, destroyed_at__isnull=False).exists():
        raise BreachInputError({"subject": "this subject's key has not been destroyed"})
    breach = open_key_destruction_breach(subject, actor=actor, now=now, why="declared erroneous by an operator")
    with transaction.atomic():
        audit.record("breach.destruction_declared_erroneous", actor=actor, now=now, object_type="breach",
                     object_id=breach.pk, subject_ref=subject.reference, data={"reason_given": True})
    return breach


def breach_by_id(value: str | uuid.UUID) -> Breach | None:
    try:
        return Breach.objects.filter(pk=uuid.UUID(str(value))).first()
    except (ValueError, TypeError):
        return None
