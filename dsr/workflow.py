"""The rights-request verbs (design.md "Where logic lives"). Each verb is atomic, takes keyword-only
``actor`` and ``now``, validates before it changes anything, and writes its audit event in the same
transaction. Views and the API call exactly one verb.

Rule ids (G-ACC, G-REF, C-ACK, …) refer to ../shared/reference/legal-matrix.md.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext_noop

from dsr import audit, calendars, deadlines, emails, notices
from dsr.deadlines import ClockOptions, DueDate, Kind, Purpose, Regime
from dsr.models import Case, CaseDeadline, CaseState, Channel, FiledBy, Outcome, RegimeDefinition, Subject
from dsr.models.cases import OPEN_STATES

Actor = User | str


class WorkflowError(Exception):
    """A refused transition; the message says why and is safe to show to the operator."""


# --- settings → pure clock options ---------------------------------------------------------------


def clock_options() -> ClockOptions:
    return ClockOptions(
        eu_country=settings.DSR_CONTROLLER_COUNTRY,
        eu_subdivision=settings.DSR_CONTROLLER_SUBDIVISION,
        eu_time_zone=settings.DSR_TIME_ZONE or None,
        uk_nation=settings.DSR_UK_NATION,
        ccpa_time_zone=settings.DSR_CCPA_TIME_ZONE,
        conservative_extension=settings.DSR_CONSERVATIVE_EXTENSION,
        ccpa_roll_weekend=settings.DSR_CCPA_ROLL_WEEKEND,
        ccpa_business_days_strict=settings.DSR_CCPA_STRICT_BUSINESS_DAYS,
        ccpa_saturday_business_days=settings.DSR_CCPA_SATURDAY_BUSINESS_DAYS,
        ccpa_extra_holidays=calendars.parse_extra_holidays(settings.DSR_CCPA_EXTRA_HOLIDAYS),
        complaint_policy_days=settings.DSR_COMPLAINT_POLICY_DAYS,
    )


def controller_time_zone() -> str:
    """The controller's zone: DSR_TIME_ZONE, or the zone of DSR_CONTROLLER_COUNTRY (calendars.py table)."""
    return deadlines.time_zone_for(Regime.EU_GDPR, clock_options())


def local_today(now: datetime, regime: Regime | str | None = None) -> date:
    """The statutory 'today' in the regime's zone (the controller's zone by default)."""
    return deadlines.receipt_date(now, deadlines.time_zone_for(Regime(regime) if regime else Regime.EU_GDPR,
                                                               clock_options()))


def calendars_in_use(regimes: Iterable[str]) -> list[dict[str, str]]:
    """Which calendar and zone each regime's dates are computed with (shown on the case page, stored with
    the case at submission)."""
    opts = clock_options()
    out = []
    for code in regimes:
        regime = Regime(code)
        cal = deadlines.calendar_for(regime, opts)
        entry = {"regime": regime.value, "calendar": cal.label, "time_zone": deadlines.time_zone_for(regime, opts)}
        if regime is Regime.CCPA:
            entry["business_days"] = (
                ("Monday-Saturday" if opts.ccpa_saturday_business_days else "Monday-Friday")
                + (" (strict: holidays not excluded)" if opts.ccpa_business_days_strict else " minus holidays")
            )
            entry["roll"] = "CCP §12a roll on" if opts.ccpa_roll_weekend else "no roll of calendar-day periods"
        out.append(entry)
    return out


# --- refusal grounds --------------------------------------------------------------------------------

GDPR_REGIMES = frozenset({Regime.EU_GDPR, Regime.UK_GDPR})


@dataclass(frozen=True)
class Ground:
    code: str
    label: str
    regimes: frozenset[Regime]
    kinds: frozenset[Kind] | None = None  # None: any kind


_ALL = frozenset(Regime)
REFUSAL_GROUNDS: tuple[Ground, ...] = (
    Ground("art12_5_unfounded", gettext_noop("Manifestly unfounded — Art. 12(5)"), GDPR_REGIMES),
    Ground("art12_5_excessive", gettext_noop("Manifestly excessive (repetitive) — Art. 12(5)"), GDPR_REGIMES),
    Ground("art11_2_cannot_identify", gettext_noop("Cannot identify the data subject — Art. 11(2), 12(2)"),
           GDPR_REGIMES),
    Ground("art17_3_a_expression", gettext_noop("Freedom of expression and information — Art. 17(3)(a)"), GDPR_REGIMES,
           frozenset({Kind.ERASURE})),
    Ground("art17_3_b_legal_obligation", gettext_noop("Legal obligation / public task — Art. 17(3)(b)"), GDPR_REGIMES,
           frozenset({Kind.ERASURE})),
    Ground("art17_3_c_public_health", gettext_noop("Public health — Art. 17(3)(c)"),
           GDPR_REGIMES, frozenset({Kind.ERASURE})),
    Ground("art17_3_d_archiving", gettext_noop("Archiving, research or statistics — Art. 17(3)(d)"), GDPR_REGIMES,
           frozenset({Kind.ERASURE})),
    Ground("art17_3_e_legal_claims", gettext_noop("Establishment, exercise or defence of legal claims — Art. 17(3)(e)"),
           GDPR_REGIMES, frozenset({Kind.ERASURE})),
    Ground("art21_1_compelling_grounds", gettext_noop("Compelling legitimate grounds override — Art. 21(1)"),
           GDPR_REGIMES,
           frozenset({Kind.OBJECTION})),
    Ground("art20_not_applicable", gettext_noop("Portability does not apply (basis not consent/contract) — Art. 20(1)"),
           GDPR_REGIMES, frozenset({Kind.PORTABILITY})),
    Ground("art15_4_rights_of_others", gettext_noop("Would adversely affect the rights of others — Art. 15(4)/20(4)"),
           GDPR_REGIMES, frozenset({Kind.ACCESS, Kind.PORTABILITY})),
    Ground("art23_restriction", gettext_noop("Restriction under Union or Member State law — Art. 23"), GDPR_REGIMES),
    Ground("ccpa_unverifiable", gettext_noop("Identity could not be verified — §7022(a)/§7024(a)"),
           frozenset({Regime.CCPA}),
           frozenset({Kind.ACCESS, Kind.ERASURE, Kind.RECTIFICATION})),
    Ground("ccpa_not_consumer", gettext_noop("Not made by a consumer or an authorized agent — §7063"),
           frozenset({Regime.CCPA})),
    Ground("ccpa_exempt", gettext_noop("Exempt information — Civ. Code §1798.145"), frozenset({Regime.CCPA})),
    Ground("ccpa_unfounded_excessive", gettext_noop("Manifestly unfounded or excessive — Civ. Code §1798.145(h)"),
           frozenset({Regime.CCPA})),
    Ground("ccpa_fraud", gettext_noop("Documented good-faith belief of fraud — §7026(e)/§7027(h)"),
           frozenset({Regime.CCPA}),
           frozenset({Kind.OPT_OUT_SALE_SHARING, Kind.LIMIT_SENSITIVE})),
    Ground("other", gettext_noop("Other ground (explained in the reason)"), _ALL),
)
GROUNDS_BY_CODE = {g.code: g for g in REFUSAL_GROUNDS}


def grounds_for(case: Case) -> list[Ground]:
    regimes = {Regime(r) for r in case.regimes}
    kind = Kind(case.kind)
    return [g for g in REFUSAL_GROUNDS if g.regimes & regimes and (g.kinds is None or kind in g.kinds)]


VERIFICATION_METHODS = {
    "account_reauth": "Signed-in session with re-authentication",
    "email_code": "One-time code to the address on file",
    "data_points_2": "Matched 2 data points on file (reasonable certainty, §7062)",
    "data_points_3_declaration": "Matched 3 data points + signed declaration (reasonably high certainty, §7062)",
    "agent_mandate_confirmed": "Agent's signed mandate + subject confirmed directly (§7063)",
    "not_required": "Not required for this kind (opt-out / limit, C-OPT)",
    # issue 9 §3: the platform files an account holder's erasure after they signed in and deleted their account
    "platform_account": "Signed in to their platform account (attested by the platform's API token)",
}

# Kinds for which CCPA forbids verification (C-OPT / C-LIM); GDPR G-DM suppression is immediate.
NO_VERIFICATION_KINDS = frozenset({Kind.OPT_OUT_SALE_SHARING, Kind.LIMIT_SENSITIVE})
# Immediate duties with no extension and no pause (legal-matrix §2.1 G-DM, G-CW).
IMMEDIATE_KINDS = frozenset({Kind.DIRECT_MARKETING_OBJECTION, Kind.CONSENT_WITHDRAWAL})
# issue 9: an erasure completes by itself when its cascade ends (dsr/erasure.py); these complete by recording the
# processing flags the platform then obeys (dsr/processing.py), never by a bare "Complete".
SELF_COMPLETING_KINDS = frozenset({Kind.ERASURE})
FLAG_KINDS = frozenset({Kind.OBJECTION, Kind.RESTRICTION, Kind.CONSENT_WITHDRAWAL})


# --- helpers ---------------------------------------------------------------------------------------


def actor_label(actor: Actor) -> str:
    return f"staff:{actor.pk}" if isinstance(actor, User) else str(actor)


def _event(case: Case, event: str, *, actor: Actor, now: datetime, **data: Any) -> None:
    audit.record(
        f"case.{event}",
        actor=actor_label(actor),
        now=now,
        object_type="case",
        object_id=case.pk,
        subject_ref=case.subject_ref,
        data=data,
    )


def _locked(case: Case) -> Case:
    return Case.objects.select_for_update().get(pk=case.pk)


def _require_open(case: Case) -> None:
    if case.state not in OPEN_STATES:
        raise WorkflowError(f"case {case.reference} is {case.get_state_display().lower()}; it can no longer change")


def _require_no_running_erasure(case: Case) -> None:
    from dsr.models import Erasure

    if Erasure.objects.active().filter(case=case).exists():
        raise WorkflowError("an approved erasure is running for this case: cancel it in its grace window, or let it "
                            "finish")


def _require_text(value: str, what: str, min_len: int = 10) -> str:
    value = (value or "").strip()
    if len(value) < min_len:
        raise WorkflowError(f"{what} is required (at least {min_len} characters)")
    return value


def due_from_row(row: CaseDeadline, kind: str) -> DueDate:
    return DueDate(
        regime=Regime(row.regime),
        rule=row.rule,
        purpose=Purpose(row.purpose),
        due_on=row.due_on,
        basis=row.basis,
        kind=Kind(kind),
        unrolled_on=row.unrolled_on,
    )


def _save_deadlines(case: Case, dates: Iterable[DueDate], now: datetime) -> list[CaseDeadline]:
    return CaseDeadline.objects.bulk_create(
        [
            CaseDeadline(case=case, regime=d.regime.value, rule=d.rule, purpose=d.purpose.value, due_on=d.due_on,
                         unrolled_on=d.unrolled_on, basis=d.basis, created_at=now)
            for d in dates
        ]
    )


def current_deadlines(case: Case) -> list[CaseDeadline]:
    return list(case.deadlines.filter(superseded_at__isnull=True).order_by("due_on", "regime", "purpose"))


def _set_governing(case: Case) -> DueDate:
    gov = deadlines.governing(due_from_row(r, case.kind) for r in current_deadlines(case))
    case.due_on, case.due_rule, case.due_regime = gov.due_on, gov.rule, gov.regime.value
    return gov


def _subject_address(case: Case) -> str | None:
    """Notices go only to the address already on file, never to one given with the request."""
    subject = case.subject
    return subject.email if subject and subject.email else None


def supervisory_authority() -> notices.Authority:
    """The EU/EEA authority named in notices: DSR_SUPERVISORY_AUTHORITY if set, else the controller's country
    (and German Land) from the table in notices.py."""
    override = (settings.DSR_SUPERVISORY_AUTHORITY or "").strip()
    if override:
        return notices.Authority(override, "")
    return notices.eu_authority(settings.DSR_CONTROLLER_COUNTRY, settings.DSR_CONTROLLER_SUBDIVISION)


def notice_context(case: Case, *, now: datetime, **extra: Any) -> dict[str, Any]:
    return _notice_context(case, now=now, **extra)


def _notice_context(case: Case, *, now: datetime, ground: Ground | None = None, **extra: Any) -> dict[str, Any]:
    """Everything a notice prints, in words a person understands: the request's name, each response date
    with the provision behind it, and the rights text of every regime of the case (issue 8 §6) — in the
    language the person used on the portal, if they filed there (issue 11)."""
    with translation.override(emails.language_of(case)):
        return _notice_words(case, now=now, ground=ground, **extra)


def _notice_words(case: Case, *, now: datetime, ground: Ground | None = None, **extra: Any) -> dict[str, Any]:
    rows = current_deadlines(case)
    response = [r for r in rows if r.purpose in (Purpose.RESPONSE, Purpose.EXTENDED_RESPONSE)]
    authority = supervisory_authority()
    today = local_today(now)
    regimes = list(case.regimes)
    kind = Kind(case.kind)
    return {
        "case": case,
        "request_name": notices.request_name(case.kind, regimes),
        "laws": notices.laws_sentence(regimes),
        "dates": [{"due_on": r.due_on, "law": notices.date_law(r.regime, r.purpose, case.kind)} for r in response],
        "governing_due_on": case.due_on,
        "received_on": local_today(case.received_at, case.due_regime),
        "verification_needed": kind not in NO_VERIFICATION_KINDS | IMMEDIATE_KINDS,
        "next_steps": notices.acknowledgement_lines(regimes, case.kind),
        "refusal_rights": notices.refusal_rights(regimes, authority=authority, today=today),
        "extension_rights": notices.extension_rights(regimes, authority=authority, today=today),
        "ground_text": notices.ground_text(ground.label, ground.regimes, regimes) if ground else "",
        "supervisory_authority": authority.text(),
        **extra,
    }


def new_reference() -> str:
    return "DSR-" + secrets.token_hex(4).upper()


# --- verbs -----------------------------------------------------------------------------------------


def validate_request(*, kind: str, regimes: list[str]) -> list[str]:
    """Check kind × regimes before anything is written; returns the regimes de-duplicated."""
    if not regimes:
        raise WorkflowError("at least one regime is required")
    regimes = list(dict.fromkeys(regimes))
    for r in regimes:
        if r not in Regime._value2member_map_:
            raise WorkflowError(f"unknown regime '{r}'; use one of {', '.join(x.value for x in Regime)}")
    inactive = set(regimes) - set(RegimeDefinition.objects.filter(code__in=regimes, active=True)
                                    .values_list("code", flat=True))
    if inactive:
        raise WorkflowError(f"regime {', '.join(sorted(inactive))} is switched off in this installation")
    if kind not in Kind._value2member_map_:
        raise WorkflowError(f"unknown kind '{kind}'; use one of {', '.join(k.value for k in Kind)}")
    for regime in regimes:
        try:
            deadlines.check_supported(regime, kind)
        except deadlines.UnsupportedKind as exc:
            raise WorkflowError(str(exc)) from exc
    return regimes


def submit_case(
    *,
    kind: str,
    regimes: list[str],
    subject: Subject,
    received_at: datetime,
    actor: Actor,
    now: datetime,
    channel: str = Channel.API,
    filed_by: str = FiledBy.SUBJECT,
    agent_name: str = "",
    details: str = "",
    idempotency_key: str | None = None,
    intake: str = "",
    acknowledge: bool = True,
) -> tuple[Case, bool]:
    """File a request. Steps: validate kind × regimes (UnsupportedKind), compute every statutory date
    for every regime and store each with its rule and basis, cache the earliest response date as the
    governing one (§1.4), write ``case.submitted``, and queue the acknowledgement (C-ACK; good practice
    for GDPR) to the address on file with the expected date. Returns (case, created); an idempotency key
    already seen returns the existing case, also under a concurrent duplicate. Without a key, an identical
    open filing (same subject, kind, regimes, channel) made within ``DSR_DUPLICATE_FILING_WINDOW_MINUTES``
    is returned instead of a second case: filings for one subject are serialised on the subject row, so
    concurrent duplicates collapse too (one case, one acknowledgement)."""
    if idempotency_key:
        existing = Case.objects.filter(idempotency_key=idempotency_key).first()
        if existing:
            return existing, False
    regimes = validate_request(kind=kind, regimes=regimes)
    if received_at.tzinfo is None:
        raise WorkflowError("received_at needs a time zone")
    if received_at > now:
        raise WorkflowError("received_at is in the future")
    if channel not in Channel.values:
        raise WorkflowError(f"unknown channel '{channel}'; use one of {', '.join(Channel.values)}")
    if filed_by not in FiledBy.values:
        raise WorkflowError("filed_by must be 'subject' or 'agent'")
    if filed_by == FiledBy.AGENT and not agent_name.strip():
        raise WorkflowError("a request filed by an authorized agent must name the agent")
    try:
        dates = deadlines.due_dates_for_case(regimes, kind, received_at, clock_options())
    except deadlines.UnsupportedKind as exc:
        raise WorkflowError(str(exc)) from exc
    gov = deadlines.governing(dates)
    try:
        with transaction.atomic():
            duplicate = _duplicate_filing(subject, kind=kind, regimes=regimes, channel=channel,
                                          idempotency_key=idempotency_key, actor=actor, now=now)
            if duplicate is not None:
                return duplicate, False
            case = Case.objects.create(
                id=uuid.uuid4(),
                reference=new_reference(),
                kind=kind,
                regimes=regimes,
                subject=subject,
                subject_ref=subject.reference,
                channel=channel,
                filed_by=filed_by,
                agent_name=agent_name.strip(),
                details=details,
                received_at=received_at,
                created_at=now,
                state=CaseState.RECEIVED,
                idempotency_key=idempotency_key or None,
                intake=intake,
                due_on=gov.due_on,
                due_rule=gov.rule,
                due_regime=gov.regime.value,
                clock=calendars_in_use(regimes),
            )
            _save_deadlines(case, dates, now)
            if kind == Kind.DIRECT_MARKETING_OBJECTION:
                from dsr import processing  # G-DM: marketing stops at once, before anyone looks at the case

                processing.on_direct_marketing_objection(case, actor=actor_label(actor), now=now)
            _event(case, "submitted", actor=actor, now=now, kind=kind, regimes=regimes, channel=channel,
                   filed_by=filed_by, governing_due_on=gov.due_on.isoformat(), governing_rule=gov.rule)
            if acknowledge:  # the portal acknowledges in its own message, with the code (one e-mail, issue 11)
                _acknowledge(case, actor=actor, now=now)
    except IntegrityError:
        if idempotency_key:
            existing = Case.objects.filter(idempotency_key=idempotency_key).first()
            if existing:
                return existing, False
        raise
    return case, True


def _duplicate_filing(subject: Subject, *, kind: str, regimes: list[str], channel: str,
                      idempotency_key: str | None, actor: Actor, now: datetime) -> Case | None:
    """Inside submit_case's transaction: lock the subject row (PostgreSQL; SQLite's IMMEDIATE transactions
    already serialise writers), then find the case this filing repeats, if any."""
    # NO KEY UPDATE: serialises filings for this subject without blocking inserts that merely reference it.
    Subject.objects.select_for_update(no_key=True).filter(pk=subject.pk).values_list("pk", flat=True).first()
    if idempotency_key:
        return Case.objects.filter(idempotency_key=idempotency_key).first()
    window = timedelta(minutes=settings.DSR_DUPLICATE_FILING_WINDOW_MINUTES)
    candidates = Case.objects.open().filter(subject=subject, kind=kind, channel=channel, created_at__gte=now - window)
    for case in candidates.order_by("created_at"):
        if sorted(case.regimes) == sorted(regimes):
            _event(case, "duplicate_filing_collapsed", actor=actor, now=now, channel=channel)
            return case
    return None


def _acknowledge(case: Case, *, actor: Actor, now: datetime) -> None:
    address = _subject_address(case)
    if address is None:
        _event(case, "acknowledgement_pending", actor=actor, now=now, reason="no_address_on_file")
        return
    emails.queue("acknowledgement", to=address, context=_notice_context(case, now=now), now=now, case=case)
    case.acknowledged_at = now
    case.save(update_fields=["acknowledged_at"])
    CaseDeadline.objects.filter(case=case, purpose=Purpose.ACKNOWLEDGEMENT, met_at__isnull=True).update(met_at=now)
    _event(case, "acknowledged", actor=actor, now=now, channel="email")


def record_acknowledgement(case: Case, *, channel: str, actor: Actor, now: datetime) -> Case:
    """For requests with no address on file: the operator records how receipt was confirmed (C-ACK may be
    oral for phone requests)."""
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if case.acknowledged_at:
            raise WorkflowError("receipt was already acknowledged")
        case.acknowledged_at = now
        case.save(update_fields=["acknowledged_at"])
        CaseDeadline.objects.filter(case=case, purpose=Purpose.ACKNOWLEDGEMENT, met_at__isnull=True).update(
            met_at=now)
        _event(case, "acknowledged", actor=actor, now=now, channel=channel[:32])
    return case


def assign_case(case: Case, *, assignee: User | None, actor: Actor, now: datetime) -> Case:
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        case.assignee = assignee
        case.save(update_fields=["assignee"])
        _event(case, "assigned", actor=actor, now=now, assignee=assignee.pk if assignee else None)
    return case


def request_verification(case: Case, *, actor: Actor, now: datetime) -> Case:
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if case.state not in (CaseState.RECEIVED, CaseState.IN_PROGRESS, CaseState.EXTENDED):
            raise WorkflowError("verification can only be requested for a received, in-progress or extended case")
        if case.verified_at:
            raise WorkflowError("identity was already verified")
        if Kind(case.kind) in NO_VERIFICATION_KINDS:
            raise WorkflowError("opt-out and limit requests must not be verified (C-OPT / C-LIM)")
        case.state = CaseState.AWAITING_VERIFICATION
        case.save(update_fields=["state"])
        _event(case, "verification_requested", actor=actor, now=now)
    return case


def verify_identity(case: Case, *, method: str, actor: Actor, now: datetime, **evidence: Any) -> Case:
    """Record that identity was verified: the method and who, never an ID image (EDPB-ACCESS §§76-79).
    ``platform_account`` is the platform's attestation through its API token (an operator cannot give it);
    ``evidence`` (e.g. when the account holder signed in) goes into the event."""
    if method not in VERIFICATION_METHODS:
        raise WorkflowError(f"unknown verification method; use one of {', '.join(VERIFICATION_METHODS)}")
    if method == "platform_account" and isinstance(actor, User):
        raise WorkflowError("only the platform's API token attests a platform sign-in (platform_account)")
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if case.verified_at:
            raise WorkflowError("identity was already verified")
        if method == "not_required" and Kind(case.kind) not in NO_VERIFICATION_KINDS:
            raise WorkflowError("verification is required for this kind of request")
        if method != "not_required" and Kind(case.kind) in NO_VERIFICATION_KINDS:
            raise WorkflowError("opt-out and limit requests must not be verified (C-OPT / C-LIM); "
                                "record 'not required'")
        # The portal verifies too (a code to the address on file, the platform's hand-off): no staff user then.
        case.verified_by = actor if isinstance(actor, User) else None
        case.verified_at, case.verification_method = now, method
        if case.state in (CaseState.RECEIVED, CaseState.AWAITING_VERIFICATION):
            case.state = CaseState.IN_PROGRESS
        case.save(update_fields=["verified_at", "verification_method", "verified_by", "state"])
        _event(case, "identity_verified", actor=actor, now=now, method=method, **evidence)
    return case


def change_regimes(case: Case, *, regimes: list[str], reason: str, actor: Actor, now: datetime) -> Case:
    """An operator corrects the regimes the portal inferred from the country the requester gave (issue 11).
    Steps: the new regimes must support the case's kind; only before an extension, a pause or a UK relevant
    time changed the dates (those would have to be redone by hand); every current date is superseded, the
    dates of the new regimes are computed from the same receipt instant, the governing date is recomputed,
    ``case.regimes_changed`` is written with the old and new regimes."""
    reason = _require_text(reason, "a reason for changing the regimes", 5)
    regimes = validate_request(kind=case.kind, regimes=regimes)
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if case.extended_at or case.state == CaseState.PAUSED or case.paused_days or case.uk_relevant_at:
            raise WorkflowError("the dates were already extended, paused or restarted; change the regimes only "
                                "before that")
        if sorted(regimes) == sorted(case.regimes):
            raise WorkflowError("those are already the case's regimes")
        old = list(case.regimes)
        dates = deadlines.due_dates_for_case(regimes, case.kind, case.received_at, clock_options())
        CaseDeadline.objects.filter(case=case, superseded_at__isnull=True).update(superseded_at=now)
        _save_deadlines(case, dates, now)
        if case.acknowledged_at:
            CaseDeadline.objects.filter(case=case, purpose=Purpose.ACKNOWLEDGEMENT, superseded_at__isnull=True,
                                        met_at__isnull=True).update(met_at=case.acknowledged_at)
        case.regimes = regimes
        case.clock = calendars_in_use(regimes)
        gov = _set_governing(case)
        case.save(update_fields=["regimes", "clock", "due_on", "due_rule", "due_regime"])
        _event(case, "regimes_changed", actor=actor, now=now, old=old, new=regimes,
               governing_due_on=gov.due_on.isoformat())
    return case


def extend_case(case: Case, *, reason: str, actor: Actor, now: datetime) -> Case:
    """Extend (G-ACC etc. +2 months; C-KNOW/C-DEL/C-COR +45 days). Steps: refuse unless every regime
    of the case allows an extension and today is on or before each initial response date (the notice
    must reach the subject within the first period, Art. 12(3) / §7021(b)); store each EXTENDED_RESPONSE
    date, mark the extension-notice duty met, recompute the governing date, queue the notice with the
    reasons, write ``case.extended``."""
    reason = _require_text(reason, "a reason for the extension")
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if case.extended_at:
            raise WorkflowError("the case was already extended; the law allows one extension")
        if case.state == CaseState.PAUSED:
            raise WorkflowError("resume the case before extending it")
        blocked = [r for r in case.regimes if not deadlines.can_extend(r, case.kind)]
        if blocked:
            raise WorkflowError(f"no extension exists for this kind under {', '.join(blocked)}")
        rows = current_deadlines(case)
        for row in rows:
            if row.purpose == Purpose.RESPONSE and local_today(now, row.regime) > row.due_on:
                raise WorkflowError(
                    f"the initial deadline ({row.due_on:%d %b %Y}, {row.rule}) has passed; an extension "
                    "must be notified before it"
                )
        new_dates = []
        for regime in case.regimes:
            uk = regime == Regime.UK_GDPR
            start = (case.uk_relevant_at or case.received_at) if uk else case.received_at
            extended = deadlines.extended_due(regime, case.kind, start, clock_options())
            paused = case.uk_paused_days if uk else case.paused_days
            if paused and deadlines.can_pause(regime):
                extended = deadlines.paused_due(extended, paused, opts=clock_options())
            new_dates.append(extended)
        # The initial response dates are replaced, not deleted: they stay in the history, superseded, so
        # notices and the console show only the date the subject can now rely on.
        CaseDeadline.objects.filter(case=case, purpose=Purpose.RESPONSE, regime__in=case.regimes,
                                    superseded_at__isnull=True).update(superseded_at=now)
        _save_deadlines(case, new_dates, now)
        CaseDeadline.objects.filter(case=case, purpose=Purpose.EXTENSION_NOTICE, superseded_at__isnull=True,
                                    met_at__isnull=True).update(met_at=now)
        gov = _set_governing(case)
        case.state = CaseState.EXTENDED
        case.extended_at, case.extension_reason = now, reason
        case.save(update_fields=["state", "extended_at", "extension_reason", "due_on", "due_rule", "due_regime"])
        address = _subject_address(case)
        if address:
            emails.queue("extension_notice", to=address, context=_notice_context(case, now=now, reason=reason),
                         now=now, case=case)
        _event(case, "extended", actor=actor, now=now, governing_due_on=gov.due_on.isoformat(),
               governing_rule=gov.rule, notice_sent=bool(address))
    return case


PAUSE_GROUNDS = {
    deadlines.PauseGround.IDENTITY.value: "Awaiting identity information we asked for",
    deadlines.PauseGround.CLARIFICATION.value: "Awaiting clarification of the request we asked for",
}


def _running_response_rows(case: Case) -> list[CaseDeadline]:
    return [r for r in current_deadlines(case)
            if r.purpose in (Purpose.RESPONSE, Purpose.EXTENDED_RESPONSE) and r.met_at is None]


def passed_response(case: Case, now: datetime) -> CaseDeadline | None:
    """The first running response date already passed at ``now`` (in its regime's zone), if any."""
    for row in _running_response_rows(case):
        if local_today(now, row.regime) > row.due_on:
            return row
    return None


def pause_case(case: Case, *, ground: str, justification: str, legal_basis: str = "", actor: Actor,
               now: datetime) -> Case:
    """Stop the clock while awaiting identity information or clarification. Steps: the ground must be
    lawful for every regime of the case (``deadlines.pause_rule``: never under CCPA, §7021(b); under UK GDPR
    only for clarification, with a recorded legal basis outside access requests, UK-DSR); refuse once any
    running response date has passed (a pause would launder the breach, legal-matrix §11.1); record the
    ground, justification and basis; write ``case.paused``."""
    if ground not in PAUSE_GROUNDS:
        raise WorkflowError(f"choose why the clock stops: {', '.join(PAUSE_GROUNDS)}")
    justification = _require_text(justification, "a justification for the pause")
    legal_basis = (legal_basis or "").strip()
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if case.state == CaseState.PAUSED:
            raise WorkflowError("the case is already paused")
        needs_basis = False
        for regime in case.regimes:
            rule = deadlines.pause_rule(regime, case.kind, ground)
            if not rule.allowed:
                raise WorkflowError(f"{rule.text}; the case cannot pause")
            needs_basis |= rule.needs_legal_basis
        if needs_basis and len(legal_basis) < 10:
            raise WorkflowError("a UK clock-stop for clarification applies to access requests by default; record "
                                "the legal basis for stopping the clock on this kind of request (at least 10 "
                                "characters)")
        passed = passed_response(case, now)
        if passed is not None:
            raise WorkflowError(
                f"the response date ({passed.due_on:%-d %b %Y}, {passed.rule}) has passed; a pause can only "
                "start before it (legal-matrix §11.1), so nothing was changed"
            )
        case.state_before_pause, case.state = case.state, CaseState.PAUSED
        case.paused_at, case.pause_reason, case.pause_ground = now, justification, ground
        case.pause_legal_basis = legal_basis if needs_basis else ""
        case.save(update_fields=["state", "state_before_pause", "paused_at", "pause_reason", "pause_ground",
                                 "pause_legal_basis"])
        _event(case, "paused", actor=actor, now=now, ground=ground, legal_basis_recorded=needs_basis)
    return case


def resume_case(case: Case, *, actor: Actor, now: datetime) -> Case:
    """End a pause: every running GDPR/UK date moves by the paused days counted under its own regime's
    rule (``deadlines.pause_length``: UK both end days, EU the days between), then rolls to a working day;
    the old dates stay, superseded, in the history."""
    with transaction.atomic():
        case = _locked(case)
        if case.state != CaseState.PAUSED or case.paused_at is None:
            raise WorkflowError("the case is not paused")
        length = {
            r: deadlines.pause_length(r, local_today(case.paused_at, r), local_today(now, r))
            for r in (Regime.EU_GDPR, Regime.UK_GDPR)
        }
        replaced, fresh = [], []
        for row in current_deadlines(case):
            days = length.get(Regime(row.regime), 0)
            if row.met_at is not None or days <= 0:
                continue
            try:
                moved = deadlines.paused_due(due_from_row(row, case.kind), days, opts=clock_options())
            except ValueError:
                continue  # suppressions and immediate duties do not move
            replaced.append(row.pk)
            fresh.append(moved)
        CaseDeadline.objects.filter(pk__in=replaced).update(superseded_at=now)
        _save_deadlines(case, fresh, now)
        gov = _set_governing(case)
        case.state = case.state_before_pause or CaseState.IN_PROGRESS
        case.paused_days += length[Regime.EU_GDPR]
        case.uk_paused_days += length[Regime.UK_GDPR]
        case.paused_at = None
        case.state_before_pause = ""
        case.save(update_fields=["state", "paused_days", "uk_paused_days", "paused_at", "state_before_pause",
                                 "due_on", "due_rule", "due_regime"])
        data: dict[str, Any] = {"paused_days": length[Regime.EU_GDPR]} if Regime.EU_GDPR in case.regimes else {}
        if Regime.UK_GDPR in case.regimes:
            data["uk_paused_days"] = length[Regime.UK_GDPR]
        _event(case, "resumed", actor=actor, now=now, **data, governing_due_on=gov.due_on.isoformat())
    return case


def record_relevant_time(case: Case, *, what: str, requested_at: datetime, received_at: datetime, evidence: str,
                         actor: Actor, now: datetime) -> Case:
    """UK GDPR "relevant time" (Art 12A, legal-matrix §2.5 UK-DSR): identity information asked for under
    Art 12(6), or a fee, arrived after the request, so the UK clock starts from then. Steps: the case has a
    UK clock, is open and not paused; asked-for and received instants are aware, in order (request ≤ asked ≤
    received ≤ now) and later than the current relevant time; the information must have been asked for on
    or before the running UK response date (otherwise the restart would launder a breach); evidence of
    what arrived is required. Every UK date is recomputed from the relevant time (an extension already
    taken runs from it too; UK pauses before it no longer count) and the old ones are superseded; the
    evidence is kept on the case; ``case.relevant_time_recorded`` is written."""
    if what not in deadlines.RELEVANT_TIME_WHAT:
        raise WorkflowError(f"choose what arrived: {', '.join(deadlines.RELEVANT_TIME_WHAT)}")
    evidence = _require_text(evidence, "evidence of what was received and how")
    for value, name in ((requested_at, "the time it was asked for"), (received_at, "the time it was received")):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise WorkflowError(f"{name} needs a date, a time and a time zone")
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if Regime.UK_GDPR not in case.regimes:
            raise WorkflowError("the relevant time is a UK GDPR rule (Art 12A); this case has no UK clock")
        if case.state == CaseState.PAUSED:
            raise WorkflowError("resume the case before recording the relevant time")
        current = case.uk_relevant_at or case.received_at
        if not case.received_at <= requested_at <= received_at <= now:
            raise WorkflowError("the times must be in order: request received ≤ information asked for ≤ information "
                                "received ≤ now")
        if received_at <= current:
            raise WorkflowError(f"the clock already runs from {current:%-d %b %Y %H:%M} UTC; the relevant time is the "
                                "latest of the receipts, so an earlier one changes nothing")
        uk_rows = [r for r in _running_response_rows(case) if r.regime == Regime.UK_GDPR]
        for row in uk_rows:
            if local_today(requested_at, Regime.UK_GDPR) > row.due_on:
                raise WorkflowError(
                    f"the information was asked for after the UK response date ({row.due_on:%-d %b %Y}); the "
                    "clock cannot restart from it, so nothing was changed"
                )
        fresh = deadlines.uk_relevant_time_dates(case.kind, received_at, what=what, requested_at=requested_at,
                                                 extended=bool(case.extended_at), opts=clock_options())
        old = CaseDeadline.objects.filter(case=case, regime=Regime.UK_GDPR, superseded_at__isnull=True)
        met = {r.purpose: r.met_at for r in old if r.met_at is not None}
        old.update(superseded_at=now)
        rows = _save_deadlines(case, fresh, now)
        for r in rows:
            if r.purpose in met:  # a notice already given stays given
                CaseDeadline.objects.filter(pk=r.pk).update(met_at=met[r.purpose])
        gov = _set_governing(case)
        case.uk_relevant_at, case.uk_relevant_what, case.uk_relevant_evidence = received_at, what, evidence
        case.uk_paused_days = 0
        case.save(update_fields=["uk_relevant_at", "uk_relevant_what", "uk_relevant_evidence", "uk_paused_days",
                                 "due_on", "due_rule", "due_regime"])
        _event(case, "relevant_time_recorded", actor=actor, now=now, what=what,
               requested_at=requested_at.isoformat(), received_at=received_at.isoformat(),
               governing_due_on=gov.due_on.isoformat())
    return case


def mark_unfounded(case: Case, *, which: str, justification: str, actor: Actor, now: datetime) -> Case:
    """Record that a request is manifestly unfounded or excessive (Art. 12(5)); the controller bears the
    burden of proof, so a written justification is required. This does not close the case: refuse it (or
    give notice of a fee) as a separate, audited decision."""
    if which not in ("unfounded", "excessive"):
        raise WorkflowError("choose 'unfounded' or 'excessive'")
    justification = _require_text(justification, "a written justification (Art. 12(5) burden of proof)", 30)
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        case.unfounded, case.unfounded_justification = which, justification
        case.save(update_fields=["unfounded", "unfounded_justification"])
        _event(case, "marked_unfounded", actor=actor, now=now, which=which)
    return case


def refuse_case(case: Case, *, ground: str, reason: str, actor: Actor, now: datetime) -> Case:
    """Refuse in whole (Art. 12(4) / CCPA denial). Steps: the ground must fit the case's regimes and kind;
    a reason is required; an Art. 12(5) ground needs the case marked unfounded/excessive with its
    justification first; direct-marketing objections cannot be refused (G-DM is absolute). Record the
    outcome, queue the refusal notice (reasons, right to complain, judicial remedy), write
    ``case.refused`` — flagging a decision made after the G-REF date."""
    reason = _require_text(reason, "a reason for the refusal")
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if Kind(case.kind) == Kind.DIRECT_MARKETING_OBJECTION:
            raise WorkflowError("an objection to direct marketing is absolute and cannot be refused (Art. 21(3))")
        if Kind(case.kind) == Kind.CONSENT_WITHDRAWAL:
            raise WorkflowError("consent can be withdrawn at any time and the withdrawal cannot be refused "
                                "(Art. 7(3), G-CW)")
        _require_no_running_erasure(case)
        g = GROUNDS_BY_CODE.get(ground)
        if g is None or g not in grounds_for(case):
            raise WorkflowError("that refusal ground does not apply to this kind of request under its regimes")
        if ground.startswith("art12_5") and case.unfounded != ground.rsplit("_", 1)[-1]:
            raise WorkflowError("mark the request manifestly unfounded/excessive with a justification first")
        late = [r.rule for r in current_deadlines(case)
                if r.purpose == Purpose.REFUSAL and local_today(now, r.regime) > r.due_on]
        case.state, case.outcome = CaseState.REFUSED, Outcome.DENIED
        case.refusal_ground, case.refusal_reason = ground, reason
        case.substantive_response_at = case.closed_at = now
        case.save(update_fields=["state", "outcome", "refusal_ground", "refusal_reason", "substantive_response_at",
                                 "closed_at"])
        _mark_responded(case, now)
        address = _subject_address(case)
        if address:
            emails.queue("refusal", to=address, context=_notice_context(case, now=now, ground=g, reason=reason),
                         now=now,
                         case=case)
        _event(case, "refused", actor=actor, now=now, ground=ground, after_refusal_deadline=late)
    return case


def request_forced_erasure(case: Case, *, reason: str, actor: User, now: datetime) -> Case:
    """Ask for an erasure to go ahead without the usual identity verification (e.g. a person who only
    appears in someone's photo and has no account). Needs a second person's approval."""
    reason = _require_text(reason, "a reason for forcing the erasure", 20)
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if Kind(case.kind) != Kind.ERASURE:
            raise WorkflowError("only erasure requests can be forced")
        case.forced_erasure_requested_by, case.forced_erasure_reason = actor, reason
        case.forced_erasure_approved_by = None
        case.save(update_fields=["forced_erasure_requested_by", "forced_erasure_reason", "forced_erasure_approved_by"])
        _event(case, "forced_erasure_requested", actor=actor, now=now)
    return case


def approve_forced_erasure(case: Case, *, actor: User, now: datetime) -> Case:
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if case.forced_erasure_requested_by_id is None:
            raise WorkflowError("no forced erasure was requested")
        if case.forced_erasure_requested_by_id == actor.pk:
            raise WorkflowError("a forced erasure needs a second person: you requested it, someone else approves")
        from dsr.roles import Action, can

        if not can(actor, Action.APPROVE):
            raise WorkflowError("only an approver (DPO) can approve a forced erasure")
        case.forced_erasure_approved_by = actor
        case.save(update_fields=["forced_erasure_approved_by"])
        _event(case, "forced_erasure_approved", actor=actor, now=now)
    return case


def complete_case(case: Case, *, outcome: str = Outcome.COMPLIED_FULL, note: str = "", ground: str = "",
                  actor: Actor, now: datetime) -> Case:
    """Close a case as complied with, in whole or in part. Access, portability, erasure and rectification
    need verified identity — or, for erasure, an approved forced erasure (two people). A partial
    compliance needs a note of what was withheld and why (Art. 12(4) applies to partial refusals) and may
    name the ground of the part denied (it must fit the case; it feeds the §7102(a)(2) "denied in whole or in
    part" breakdown, "other" when none is given). A note on a full compliance is only a note."""
    if outcome not in (Outcome.COMPLIED_FULL, Outcome.COMPLIED_PARTIAL):
        raise WorkflowError("outcome must be complied_full or complied_partial")
    if outcome == Outcome.COMPLIED_PARTIAL:
        note = _require_text(note, "what was not complied with and why")
    elif ground:
        raise WorkflowError("a ground is only recorded for the part denied in a partial compliance")
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        if ground and GROUNDS_BY_CODE.get(ground) not in grounds_for(case):
            raise WorkflowError("that ground does not apply to this kind of request under its regimes")
        if case.state == CaseState.PAUSED:
            raise WorkflowError("resume the case before completing it")
        kind = Kind(case.kind)
        needs_verification = kind not in NO_VERIFICATION_KINDS | {Kind.DIRECT_MARKETING_OBJECTION,
                                                                   Kind.CONSENT_WITHDRAWAL, Kind.COMPLAINT}
        forced_ok = kind == Kind.ERASURE and case.forced_erasure_approved_by_id is not None
        if needs_verification and not case.verified_at and not forced_ok:
            raise WorkflowError("verify the requester's identity first"
                                + (" (or have a forced erasure approved by a second person)"
                                   if kind == Kind.ERASURE else ""))
        if kind in (Kind.ACCESS, Kind.PORTABILITY):
            # issue 10: the subject gets the report and the data, so the export completes these cases
            raise WorkflowError("access and portability requests complete when their package is ready: "
                                "start the export")
        if kind in SELF_COMPLETING_KINDS:
            raise WorkflowError("an erasure request completes by itself when the approved erasure has run: "
                                "approve the erasure instead")
        if kind in FLAG_KINDS:
            raise WorkflowError("complete it with the purposes it covers, so the platform stops that processing "
                                "(processing flags)")
        case = record_completion(case, outcome=outcome, note=note, ground=ground, actor=actor, now=now,
                                 forced=forced_ok and not case.verified_at)
    return case


def record_completion(case: Case, *, outcome: str, note: str, actor: Actor, now: datetime, ground: str = "",
                      notice: str | None = "completion", forced: bool = False) -> Case:
    """The shared end of complete_case, the erasure cascade (dsr/cascade.py) and the processing-flag verbs
    (dsr/processing.py): close the case as complied with, mark its response duties met, queue ``notice`` (None:
    the caller sends its own), write ``case.completed``. Checks nothing about the kind: callers do."""
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        case.state, case.outcome = CaseState.COMPLETED, outcome
        case.refusal_reason = note if outcome == Outcome.COMPLIED_PARTIAL else ""
        case.refusal_ground = (ground or "other") if outcome == Outcome.COMPLIED_PARTIAL else ""
        case.substantive_response_at = case.closed_at = now
        case.save(update_fields=["state", "outcome", "refusal_reason", "refusal_ground", "substantive_response_at",
                                 "closed_at"])
        _mark_responded(case, now)
        address = _subject_address(case)
        if address and notice:
            context = _notice_context(case, now=now, note=note, partial=outcome == Outcome.COMPLIED_PARTIAL)
            emails.queue(notice, to=address, context=context, now=now, case=case)
        _event(case, "completed", actor=actor, now=now, outcome=outcome, forced=forced)
    return case


def cancel_case(case: Case, *, reason: str, actor: Actor, now: datetime) -> Case:
    """The requester withdrew the request (or it was a duplicate)."""
    reason = _require_text(reason, "a reason for cancelling", 5)
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        _require_no_running_erasure(case)
        case.state, case.closed_at, case.refusal_reason = CaseState.CANCELLED, now, reason
        case.save(update_fields=["state", "closed_at", "refusal_reason"])
        _event(case, "cancelled", actor=actor, now=now)
    return case


def _mark_responded(case: Case, now: datetime) -> None:
    CaseDeadline.objects.filter(
        case=case, superseded_at__isnull=True, met_at__isnull=True,
        purpose__in=[Purpose.RESPONSE, Purpose.EXTENDED_RESPONSE, Purpose.REFUSAL, Purpose.SUPPRESSION],
    ).update(met_at=now)
