"""What the breach board and the breach page show (issue 12 §6), read from the models and the audit trail: the
board's order and countdowns, each deadline's state, the timeline, the scope in words, notice progress and who
decided what. Selections only — every change goes through the verbs in dsr/breaches.py.

Instants are stored in UTC and shown twice: in the operator's zone (``DSR_OPERATOR_TIME_ZONE``, by default the
controller's, as on the takedown desk) and in UTC. Countdowns are elapsed time between UTC instants, so a
daylight-saving change never moves them (legal-matrix §1.2: B-SA is aware_at + 72 h, wall clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Prefetch, Q, QuerySet

from dsr import takedowns
from dsr.models import (
    Breach,
    BreachAffected,
    BreachDeadline,
    BreachFiling,
    BreachState,
    DataCategory,
    Event,
    Exception34,
    RiskLevel,
)
from dsr.models.breaches import OPEN_DEADLINE

AT_RISK = timedelta(hours=24)  # a deadline this close is amber on the board; past due it is red

# Words for the rule IDs of legal-matrix §2.2, §2.4, §2.5 (the deadline row's ``basis`` has the full rule).
RULE_LABELS = {
    "B-SA": "Art. 33 — supervisory authority, 72 h",
    "UK-BR": "UK GDPR Art. 33 — the ICO, 72 h",
    "B-DS": "Art. 34 — affected people, without undue delay",
    "B-PROC": "Art. 33(2) — processor to controller",
    "CB-IND": "California residents (Civ. Code §1798.82)",
    "CB-AG": "California Attorney General sample copy",
    "BR-BR": "LGPD — ANPD and data subjects, 3 business days",
}

# Special-category data on this platform (legal-matrix §4): flagged in the register (§10.8 data_categories[]).
BIOMETRIC_CATEGORIES = {DataCategory.FACE_EMBEDDING.value}

# Kinds shown with words in "who decided what"; any other breach event by a person or a token is listed too.
DECISION_LABELS = {
    "breach.opened": "Opened the breach",
    "breach.updated": "Edited the facts",
    "breach.risk_assessed": "Decided the risk level",
    "breach.exception_set": "Recorded an Art. 34(3) exception",
    "breach.scoped": "Computed the scope",
    "breach.filed": "Recorded a filing",
    "breach.notices_started": "Started the notices to affected people",
    "breach.remedial_action": "Added a remedial action",
    "breach.closed": "Closed the breach",
}
# Reading is audited but is not a decision.
NOT_DECISIONS = {"breach.document_downloaded", "breach.register_exported", "breach.escalated"}


def operator_zone() -> str:
    return takedowns.operator_zone()


def shown(at: datetime | None, zone: str | None = None) -> datetime | None:
    """An instant for a template's ``date`` filter, in the operator's zone (``T`` then names the zone)."""
    return takedowns.shown(at, zone or operator_zone()) if at else None


def describe_left(delta: timedelta) -> str:
    """'71 h 59 min left' / '2 h 05 min overdue'; whole days once a deadline is more than 4 days away
    ('29 d 23 h left') so a 30-day state deadline does not read as 719 hours. Minutes are floored: the text
    never promises time that is not there."""
    late = delta < timedelta(0)
    seconds = int(abs(delta).total_seconds())
    if late:
        seconds += 59  # 30 s overdue is shown as overdue by 1 min, not as "0 min"
    minutes = seconds // 60
    hours, mins = divmod(minutes, 60)
    if hours >= 96:
        days, hours = divmod(hours, 24)
        text = f"{days} d {hours} h"
    else:
        text = f"{hours} h {mins:02d} min"
    return f"{text} overdue" if late else f"{text} left"


def page_clock(now: datetime, zone: str) -> dict[str, Any]:
    """What every breach page shows its time by: the instant it was made (also the live countdowns' reference,
    dsr/assets/countdown.js), in the operator's zone and in UTC, and the amber mark in seconds."""
    return {"now": now, "now_local": shown(now, zone), "zone": zone,
            "at_risk_seconds": int(AT_RISK.total_seconds())}


@dataclass
class Countdown:
    """One deadline as the console shows it."""

    rule: str
    label: str
    due_at: datetime | None
    due_local: datetime | None
    text: str
    urgency: str  # "overdue" | "at-risk" | ""
    state: str  # "running" | "met" | "late" | "not-required" | "undue-delay"
    deadline: BreachDeadline | None = None


def countdown(deadline: BreachDeadline | None, now: datetime, zone: str) -> Countdown | None:
    if deadline is None:
        return None
    label = RULE_LABELS.get(deadline.rule, deadline.rule)
    local = shown(deadline.due_at, zone)
    if deadline.not_required:
        return Countdown(deadline.rule, label, deadline.due_at, local,
                         f"not required: {deadline.not_required_reason or 'see the rule'}", "", "not-required",
                         deadline)
    if deadline.met_at is not None:
        late = deadline.due_at is not None and deadline.met_at > deadline.due_at
        margin = describe_left(deadline.due_at - deadline.met_at).replace(" left", " to spare") \
            if deadline.due_at else ""
        text = f"met {deadline.met_at:%d %b %H:%M} UTC" + (f" ({margin})" if margin else "")
        return Countdown(deadline.rule, label, deadline.due_at, local, text, "", "late" if late else "met", deadline)
    if deadline.due_at is None:
        text = f"running since {deadline.started_at:%d %b %H:%M} UTC" if deadline.started_at else "not started yet"
        return Countdown(deadline.rule, label, None, None, text, "", "undue-delay", deadline)
    left = deadline.due_at - now
    urgency = "overdue" if left < timedelta(0) else "at-risk" if left <= AT_RISK else ""
    return Countdown(deadline.rule, label, deadline.due_at, local, describe_left(left), urgency, "running", deadline)


def governing(deadlines: list[BreachDeadline]) -> BreachDeadline | None:
    """The earliest open deadline with a due instant (legal-matrix §1.4; ties: the rule ID, as the model's
    ordering) — the same choice as ``dsr.breaches.governing_deadline``, made on prefetched rows."""
    running = [d for d in deadlines if d.is_open and d.due_at is not None]
    return min(running, key=lambda d: (d.due_at, d.rule)) if running else None


# --- the board -------------------------------------------------------------------------------------------------


@dataclass
class BoardRow:
    breach: Breach
    governing: Countdown | None
    open_deadlines: int
    subject_notice: str
    aware_local: datetime | None


def board_queryset() -> QuerySet[Breach]:
    return Breach.objects.prefetch_related(
        Prefetch("deadlines", queryset=BreachDeadline.objects.order_by("due_at", "rule")))


def board_rows(now: datetime, *, zone: str | None = None, closed_limit: int = 50
               ) -> tuple[list[BoardRow], list[BoardRow]]:
    """(open, closed): open breaches first, the one whose governing deadline comes first at the top (overdue
    ones therefore lead), breaches without a running clock after them by awareness; then recently closed."""
    zone = zone or operator_zone()

    def row(b: Breach) -> BoardRow:
        deadlines = list(b.deadlines.all())
        gov = governing(deadlines)
        return BoardRow(b, countdown(gov, now, zone), sum(1 for d in deadlines if d.is_open),
                        subject_notice_words(b), shown(b.aware_at, zone))

    open_rows = [row(b) for b in board_queryset().filter(state=BreachState.OPEN)]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    open_rows.sort(key=lambda r: (r.governing is None or r.governing.due_at is None,
                                  r.governing.due_at if r.governing and r.governing.due_at else far,
                                  -r.breach.aware_at.timestamp()))
    closed = [row(b) for b in board_queryset().filter(state=BreachState.CLOSED)
              .order_by("-closed_at", "-aware_at")[:closed_limit]]
    return open_rows, closed


# --- scope and the Art. 34(3)(a) flag --------------------------------------------------------------------------


def art34_3a(breach: Breach) -> tuple[bool, str]:
    """Whether Art. 34(3)(a) applies (encrypted, keys not exposed) and why, in words (dsr/breach_scope.py)."""
    from dsr.breach_scope import art34_3a_applies

    return art34_3a_applies(breach)


def subject_notice_words(breach: Breach) -> str:
    """Whether the affected people must be told (Art. 34), and if not, why — the board says it in words."""
    if breach.exception_34_3:
        reason = Exception34(breach.exception_34_3).label
        return f"Not required — Art. 34(3){reason}" + (
            f": {breach.exception_rationale}" if breach.exception_rationale else "")
    applies, why = art34_3a(breach)
    if breach.risk_level == RiskLevel.HIGH:
        if applies:
            return f"Not required — Art. 34(3)(a): {why}"
        return "Required: high risk (Art. 34(1)), without undue delay"
    if not breach.risk_level:
        if applies:
            return f"Likely not required — Art. 34(3)(a): {why} (risk not decided yet)"
        return "Risk not decided yet"
    return f"Not required: the risk is assessed as “{RiskLevel(breach.risk_level).label.lower()}”, not high (§5.1)"


@dataclass
class ScopeView:
    computed: bool
    subjects: int
    items: int
    categories: list[tuple[str, str, int, int, bool]] = field(default_factory=list)  # code, label, subj, items, bio
    jurisdictions: list[tuple[str, int]] = field(default_factory=list)
    art34_3a: bool = False
    art34_reason: str = ""
    version: int = 0


def scope_view(breach: Breach) -> ScopeView:
    counts = breach.scope_counts or {}
    labels = dict(DataCategory.choices)
    cats = []
    for code, value in sorted((counts.get("categories") or {}).items()):
        subjects, items = (value.get("subjects", 0), value.get("items", 0)) if isinstance(value, dict) else (0, value)
        cats.append((code, labels.get(code, code), subjects, items, code in BIOMETRIC_CATEGORIES))
    juris = sorted(((code or "unknown", n if isinstance(n, int) else n.get("subjects", 0))
                    for code, n in (counts.get("jurisdictions") or {}).items()), key=lambda p: (-p[1], p[0]))
    applies, why = art34_3a(breach)
    return ScopeView(breach.scope_computed_at is not None, breach.scope_subjects, breach.scope_items, cats, juris,
                     applies, why, breach.scope_version)


def notice_progress(breach: Breach) -> dict[str, int]:
    """Count per notice state of the people in scope (sent / pending / failed / not due)."""
    from dsr.breach_notices import notice_progress as landed

    out = {s.value: 0 for s in BreachAffected.NoticeState}
    out["no_address"] = 0
    out.update(landed(breach))
    return out


def notice_run(breach: Breach) -> Any:
    """The step run sending the notices (the latest), for a link to its job page."""
    from dsr.breach_notices import RUN_KIND
    from dsr.models import StepRun

    return StepRun.objects.for_object("breach", breach.pk).filter(kind=RUN_KIND).order_by("-created_at").first()


# --- timeline and decisions ------------------------------------------------------------------------------------


def staff_names(actors: set[str]) -> dict[str, str]:
    """'staff:<id>' → username (one query); other actors (token:…, system:…) are shown as they are."""
    ids = {a.split(":", 1)[1] for a in actors if a.startswith("staff:")}
    pks = {int(i) for i in ids if i.isascii() and i.isdigit() and len(i) <= 18}
    users = User.objects.filter(pk__in=pks).only("id", "username") if pks else []
    return {f"staff:{u.pk}": u.username for u in users}


@dataclass
class TimelineEntry:
    at: datetime
    at_local: datetime | None
    what: str
    actor: str = ""
    detail: str = ""
    source: str = "record"  # "record": a field of the register entry; "audit": an audit event
    kind: str = ""


def breach_events(breach: Breach) -> list[Event]:
    return list(Event.objects.for_object("breach", breach.pk).order_by("id"))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "—"
    return str(value)


def _event_detail(ev: Event, names: dict[str, str]) -> str:
    """An audit event's data in a line a person reads (ids, kinds and counts only — what the event holds)."""
    d = ev.data or {}
    if ev.kind == "breach.risk_assessed":
        text = f"decided: {d.get('decided', '?')} (the aid suggested {d.get('suggested') or '—'})"
        return text + (" — overrides the aid" if d.get("overrides_suggestion") else "")
    if ev.kind == "breach.scoped":
        new, old = d.get("new") or {}, d.get("old") or {}
        if isinstance(new, dict) and isinstance(old, dict) and "subjects" in new:
            return (f"{new.get('subjects')} people, {new.get('items')} items (before: {old.get('subjects', 0)} "
                    f"people, {old.get('items', 0)} items); version {d.get('version', '?')}")
    if ev.kind in ("breach.opened", "breach.updated") and "fields" in d:
        parts = [f"{'fields' if ev.kind == 'breach.opened' else 'changed'}: {_scalar(d['fields'])}"]
        if d.get("risk_suggested"):
            parts.append(f"the aid suggests {d['risk_suggested']}")
        if d.get("deadlines"):
            parts.append(f"clocks: {_scalar(d['deadlines'])}")
        return "; ".join(parts)
    skip = {"reference", "counts", "fields"}
    return "; ".join(f"{k.replace('_', ' ')}: {_scalar(v)}" for k, v in d.items()
                     if k not in skip and not isinstance(v, dict) and v not in (None, ""))


def timeline(breach: Breach, events: list[Event], *, zone: str | None = None) -> list[TimelineEntry]:
    """The breach's story in time order: the instants of the register entry (occurred, detected, aware,
    assessed, filed, notified, closed) and every audit event on it, each with who did it."""
    zone = zone or operator_zone()
    names = staff_names({e.actor for e in events} | {breach.opened_by, breach.risk_assessed_by}
                        | {f.filed_by for f in breach.filings.all()})
    out: list[TimelineEntry] = []

    def add(at: datetime | None, what: str, actor: str = "", detail: str = "") -> None:
        if at is not None:
            out.append(TimelineEntry(at, shown(at, zone), what, names.get(actor, actor), detail))

    add(breach.occurred_from, "Exposure window starts")
    add(breach.occurred_until, "Exposure window ends")
    add(breach.detected_at, "Detected (first anomaly)")
    add(breach.investigation_started_at, "Investigation started")
    add(breach.processor_notified_controller_at, "Processor informed the controller")
    add(breach.aware_at, "Aware — the Art. 33 clock starts", breach.aware_by, breach.aware_basis)
    add(breach.risk_assessed_at, f"Risk assessed: {breach.get_risk_level_display() or '—'}",
        breach.risk_assessed_by)
    add(breach.high_risk_determined_at, "High risk determined — the Art. 34 clock starts")
    add(breach.scope_computed_at, f"Scope computed (version {breach.scope_version})")
    for f in breach.filings.all():
        add(f.filed_at, f"Filed ({f.get_phase_display().lower()}) with {f.authority} — {f.rule}"
            + (" — late" if f.late else ""), f.filed_by, f.submission_ref)
    first_sent = (BreachAffected.objects.filter(breach=breach, notice_sent_at__isnull=False)
                  .order_by("notice_sent_at").values_list("notice_sent_at", flat=True).first())
    add(first_sent, "First affected person notified (Art. 34)")
    add(breach.closed_at, "Closed")
    for ev in events:
        out.append(TimelineEntry(ev.at, shown(ev.at, zone), ev.kind, names.get(ev.actor, ev.actor),
                                 _event_detail(ev, names), "audit", ev.kind))
    out.sort(key=lambda e: (e.at, e.source != "record"))
    return out


@dataclass
class Decision:
    at: datetime
    what: str
    actor: str
    detail: str


def decisions(breach: Breach, events: list[Event]) -> list[Decision]:
    """Who decided what: each decision event on the breach and its actor (names resolved)."""
    names = staff_names({e.actor for e in events})
    return [Decision(e.at, DECISION_LABELS.get(e.kind, e.kind.removeprefix("breach.").replace("_", " ")),
                     names.get(e.actor, e.actor), _event_detail(e, names))
            for e in events if e.kind not in NOT_DECISIONS and not e.actor.startswith("system:")]


# --- the register entry (§10.8) --------------------------------------------------------------------------------


def register_entry(breach: Breach) -> list[tuple[str, Any]]:
    """Every field of the Art. 33(5) register entry (legal-matrix §10.8, B-DOC), in that order, for the page."""
    filings = list(breach.filings.all())
    sa = [f for f in filings if f.rule in ("B-SA", "UK-BR", "BR-BR")]
    state_rows = [d for d in breach.deadlines.all() if d.regime.lower().startswith("us") or d.rule.startswith("CB-")
                  or d.rule.startswith("US-")]
    progress = notice_progress(breach)
    first_sent = (BreachAffected.objects.filter(breach=breach, notice_sent_at__isnull=False)
                  .order_by("notice_sent_at").values_list("notice_sent_at", flat=True).first())
    cats = dict(DataCategory.choices)
    scope = scope_view(breach)
    estimate = getattr(breach, "subjects_estimate", None)  # breachcore's migration 0018
    declared = list(getattr(breach, "jurisdictions_declared", None) or [])
    return [
        ("Incident id", breach.reference),
        ("Detected", breach.detected_at),
        ("Aware", breach.aware_at),
        ("Awareness basis", f"{breach.aware_basis} (by {breach.aware_by})"),
        ("Facts", breach.description),
        ("Breach type", ", ".join(t.replace("_", " ") for t in breach.types) or "—"),
        ("Data categories", ", ".join(cats.get(c, c) + (" [biometric — special category]"
                                                         if c in BIOMETRIC_CATEGORIES else "")
                                      for c in breach.categories) or "—"),
        ("Systems", ", ".join(breach.systems) or "—"),
        ("People affected (est.)", breach.scope_subjects if scope.computed else (
            f"{estimate} (operator's estimate; scope not computed)" if estimate is not None
            else "scope not computed")),
        ("Records affected (est.)", breach.scope_items if scope.computed else "scope not computed"),
        ("Jurisdictions", ", ".join(f"{c} ({n})" for c, n in scope.jurisdictions)
         or (", ".join(declared) + " (declared)" if declared else "—")),
        ("Consequences", breach.consequences or "—"),
        ("Risk", (f"{breach.get_risk_level_display()} — {breach.risk_rationale}" if breach.risk_level
                  else "not assessed")),
        ("Risk assessed", breach.risk_assessed_at),
        ("Remedial actions", "; ".join(a.get("action", "") for a in breach.remedial_actions) or "—"),
        ("Authority notified", "; ".join(f"{f.authority} {f.filed_at:%d %b %Y %H:%M} UTC ({f.get_phase_display()})"
                                         for f in sa) or "not yet"),
        ("Authority references", ", ".join(f.submission_ref for f in sa if f.submission_ref) or "—"),
        ("Reasons for delay", "; ".join(f.delay_reason for f in sa if f.delay_reason) or "—"),
        ("People notified", f"{progress.get('sent', 0)} sent" + (f", first {first_sent:%d %b %Y %H:%M} UTC"
                                                                 if first_sent else "")),
        ("Art. 34(3) exception", Exception34(breach.exception_34_3).label if breach.exception_34_3 else "none"),
        ("Processor involved", str(breach.processor) if breach.processor_id else "none"),
        ("US state notices", "; ".join(f"{d.rule} due {d.due_at:%d %b %Y %H:%M} UTC" if d.due_at else d.rule
                                       for d in state_rows) or "—"),
    ]


def filings_with_followups(breach: Breach) -> list[BreachFiling]:
    return list(breach.filings.select_related("follows").order_by("filed_at"))


def open_deadlines(breach: Breach) -> QuerySet[BreachDeadline]:
    return breach.deadlines.filter(OPEN_DEADLINE)


def has_california(breach: Breach) -> bool:
    return breach.deadlines.filter(Q(rule__startswith="CB-")).exists()
