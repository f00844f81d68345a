"""Breach documents: the Art. 33 notification to a supervisory authority (checklist §10.2, B-SA), the California
Attorney General's sample copy of the consumer notice (§10.7, CB-AG) and the Art. 33(5) register (§10.8, B-DOC).

The Art. 33 PDF follows the order of the EDPB/common supervisory-authority form: report and controller, the
nature of the breach with approximate numbers, the contact point, consequences, measures, then the
recommended extras (timeline, cause, special categories, encryption, processor, cross-border, the people
told), the 72-hour check and the phase. Its sections are built here as (label, value) rows so every item is
explicit and testable; the template only lays them out. No document holds a person's data: counts only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min, QuerySet

from dsr import breach_notices
from dsr.breach_clocks import hours_after
from dsr.breach_scope import art34_3a_applies
from dsr.breaches import BreachInputError
from dsr.models import Subject
from dsr.models.breaches import (
    Breach,
    BreachAffected,
    BreachDeadline,
    BreachFiling,
    BreachType,
    Exception34,
    FilingPhase,
    RiskLevel,
)
from dsr.models.register import DataCategory
from dsr.notices import eu_authority
from dsr.package import csv_document
from dsr.pdf import render_pdf

SA_HOURS = 72
SA_RULES = ("B-SA", "UK-BR", "BR-BR")
US_REGIMES = ("ca_breach", "us_state")
# Art. 9(1): biometric data processed to identify a person (face templates); photos only when so processed.
SPECIAL = {DataCategory.FACE_EMBEDDING}
EEA = {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
       "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO"}
State = BreachAffected.NoticeState


@dataclass
class Section:
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, label: str, value: object) -> None:
        self.rows.append((label, _text(value)))


def _text(value: object) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def utc(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "—"


def _labels(values: Iterable[str], choices: Any) -> str:
    names = dict(choices.choices)
    return ", ".join(str(names.get(v, v)) for v in values) or "—"


def _category_counts(breach: Breach) -> str:
    counts = (breach.scope_counts or {}).get("categories", {})
    names = dict(DataCategory.choices)
    parts = []
    for category in breach.categories or []:
        c = counts.get(category, {})
        parts.append(f"{names.get(category, category)}: {c.get('items', 0):,} records "
                     f"({c.get('subjects', 0):,} people)")
    return "; ".join(parts) or "—"


def _subject_kinds(breach: Breach) -> str:
    rows = (BreachAffected.objects.filter(breach=breach, in_scope=True).values("subject__kind")
            .annotate(n=Count("pk")).order_by("subject__kind"))
    names = dict(Subject.Kind.choices)
    parts = [f"{names.get(r['subject__kind'], r['subject__kind'])}: {r['n']:,}" for r in rows]
    return "; ".join(parts) or "Users of the platform and people who appear in their photos (no one scoped yet)"


def _jurisdictions(breach: Breach) -> dict[str, int]:
    return dict((breach.scope_counts or {}).get("jurisdictions", {}))


def _rule_for(authority: str) -> str:
    lowered = authority.lower()
    if "ico" in lowered.split() or "information commissioner" in lowered or "(ico)" in lowered:
        return "UK-BR"
    if "anpd" in lowered:
        return "BR-BR"
    return "B-SA"


def _people_told(breach: Breach) -> str:
    if breach.exception_34_3:
        return (f"Not told individually: Art. 34(3) exception {Exception34(breach.exception_34_3).label}. "
                f"Reason: {breach.exception_rationale or '—'}")
    if breach.risk_level != RiskLevel.HIGH:
        return "Not required: the risk is not assessed as high (Art. 34(1))."
    agg = BreachAffected.objects.filter(breach=breach, in_scope=True).aggregate(
        first=Min("notice_sent_at"), last=Max("notice_sent_at"))
    progress = breach_notices.notice_progress(breach)
    total = sum(progress[s.value] for s in State)
    if not progress[State.SENT]:
        return (f"Required (high risk, Art. 34(1)); not yet sent — {progress[State.PENDING]:,} queued of "
                f"{total:,} affected.")
    return (f"Yes, by e-mail: {progress[State.SENT]:,} of {total:,} people told between {utc(agg['first'])} and "
            f"{utc(agg['last'])}; {progress[State.FAILED]:,} could not be reached directly "
            f"({progress['no_address']:,} without an address), {progress[State.PENDING]:,} still queued.")


def art33_sections(breach: Breach, *, authority: str, phase: str, now: datetime, delay_reason: str = "",
                   follows: BreachFiling | None = None, rule: str = "") -> list[Section]:
    """The §10.2 items, in the order of the authority's form. A follow-up links to ``follows`` (default: the
    initial filing of the rule). What is missing is said in the document (a late notification without its
    reasons, a follow-up with no initial filing): refusing the filing itself is ``record_filing``'s job."""
    if phase not in FilingPhase.values:
        raise BreachInputError({"phase": f"must be one of: {', '.join(FilingPhase.values)}"})
    rule = rule or _rule_for(authority)
    deadline = BreachDeadline.objects.filter(breach=breach, rule=rule).first()
    due = deadline.due_at if deadline and deadline.due_at else hours_after(breach.aware_at, SA_HOURS)
    filings = BreachFiling.objects.filter(breach=breach, rule=rule)
    initial = filings.filter(phase=FilingPhase.INITIAL).first()
    if phase != FilingPhase.INITIAL:
        follows = follows or initial
    first_at = initial.filed_at if initial else now
    late = first_at > due
    delay_reason = delay_reason or (initial.delay_reason if initial else "")
    controller_country = settings.DSR_CONTROLLER_COUNTRY
    sections: list[Section] = []

    s = Section("1. Report, controller and supervisory authority")
    s.add("Type of report", dict(FilingPhase.choices)[phase] + " notification (Art. 33(4))")
    s.add("Breach reference", breach.reference)
    s.add("Date of this report", now)
    s.add("Controller", settings.DSR_CONTROLLER_NAME)
    s.add("Controller contact details", settings.DSR_CONTROLLER_CONTACT)
    s.add("Controller's main establishment", controller_country)
    s.add("Supervisory authority notified", authority)
    s.add("Lead supervisory authority (Art. 56)", eu_authority(controller_country,
                                                               settings.DSR_CONTROLLER_SUBDIVISION).name)
    sections.append(s)

    s = Section("2. Nature of the breach (Art. 33(3)(a))")
    s.add("Summary", breach.title)
    s.add("Type of breach", _labels(breach.types, BreachType))
    s.add("Categories of data subjects", _subject_kinds(breach))
    s.add("Approximate number of data subjects", f"{breach.scope_subjects:,}")
    s.add("Categories of personal data records", _category_counts(breach))
    s.add("Approximate number of personal data records", f"{breach.scope_items:,}")
    s.add("Systems affected", ", ".join(breach.systems or []))
    s.add("Scope computed", f"{utc(breach.scope_computed_at)} (version {breach.scope_version}); approximations "
                            "allowed (EDPB Guidelines 9/2022 ¶52)")
    sections.append(s)

    s = Section("3. Data protection officer or other contact point (Art. 33(3)(b))")
    s.add("Name", settings.DSR_DPO_NAME or "Data Protection Officer")
    s.add("Contact details", settings.DSR_DPO_CONTACT)
    sections.append(s)

    s = Section("4. Likely consequences (Art. 33(3)(c))")
    s.add("Likely consequences", breach.consequences)
    s.add("Risk level", dict(RiskLevel.choices).get(breach.risk_level, "not assessed yet"))
    s.add("Rationale", breach.risk_rationale)
    s.add("Assessed", f"{utc(breach.risk_assessed_at)} by {breach.risk_assessed_by or '—'}")
    sections.append(s)

    s = Section("5. Measures taken or proposed (Art. 33(3)(d))")
    s.add("Measures", breach.measures)
    actions = [f"{a.get('at', '')[:16].replace('T', ' ')} — {a.get('action', '')}"
               for a in breach.remedial_actions or [] if isinstance(a, dict)]
    s.add("Remedial actions taken", "; ".join(actions))
    sections.append(s)

    s = Section("6. Timeline")
    s.add("Breach started", breach.occurred_from)
    s.add("Breach ended", breach.occurred_until)
    s.add("Detected", breach.detected_at)
    s.add("Investigation started", breach.investigation_started_at)
    s.add("Controller aware", breach.aware_at)
    s.add("Awareness based on", breach.aware_basis)
    s.add("Awareness reached by", breach.aware_by)
    s.add("Processor informed the controller", breach.processor_notified_controller_at)
    s.add("High risk determined", breach.high_risk_determined_at)
    sections.append(s)

    s = Section("7. Cause and attack vector")
    s.add("Description of the incident", breach.description)
    sections.append(s)

    s = Section("8. Special categories and biometric data")
    special = SPECIAL & set(breach.categories or [])
    s.add("Special categories (Art. 9) involved", "Yes — biometric data: face templates used to identify people"
          if special else "No")
    faces = breach_notices.FACE_CATEGORIES & set(breach.categories or [])
    s.add("Images of faces involved", "Yes — " + _labels(sorted(faces), DataCategory) if faces else "No")
    sections.append(s)

    s = Section("9. Encryption and pseudonymisation")
    s.add("Affected data encrypted", breach.data_encrypted)
    s.add("Keys exposed", breach.keys_exposed)
    applies, reason = art34_3a_applies(breach)
    s.add("Data unintelligible to the recipient (Art. 34(3)(a))", ("Yes. " if applies else "No. ") + reason)
    sections.append(s)

    s = Section("10. Processor involved")
    p = breach.processor
    s.add("Processor", f"{p.name} — {p.service} ({p.country}); contact: {p.contact or '—'}" if p else "None")
    sections.append(s)

    s = Section("11. Cross-border impact")
    places = _jurisdictions(breach)
    s.add("Affected people by residence", "; ".join(f"{k}: {v:,}" for k, v in places.items()))
    others = sorted(k for k in places if k in EEA and k != controller_country)
    s.add("Other EEA states concerned (Art. 56, cross-border processing)",
          "Yes: " + ", ".join(others) if others else "No")
    sections.append(s)

    s = Section("12. Communication to data subjects (Art. 34)")
    s.add("Data subjects informed", _people_told(breach))
    sections.append(s)

    s = Section("13. Timeliness (Art. 33(1))")
    s.add("72-hour deadline", f"{utc(due)} ({rule}: awareness {utc(breach.aware_at)} + 72 hours)")
    s.add("Initial notification", utc(first_at) + (" (this report)" if initial is None else ""))
    s.add("Notified within 72 hours", "No — late" if late else "Yes")
    s.add("Reasons for the delay", (delay_reason or "NOT GIVEN — required with a late notification (Art. 33(1))")
          if late else "Not applicable")
    sections.append(s)

    s = Section("14. Phased notification (Art. 33(4))")
    s.add("Phase", dict(FilingPhase.choices)[phase])
    if phase == FilingPhase.INITIAL:
        s.add("Follow-up", "Further information will be provided in phases without undue further delay as the "
                           "investigation proceeds.")
    elif follows is not None:
        s.add("Follows the notification of", f"{utc(follows.filed_at)} to {follows.authority}, authority "
                                              f"reference {follows.submission_ref or '—'} (dsr filing {follows.pk})")
    else:
        s.add("Follows the notification of", "NO INITIAL NOTIFICATION RECORDED for this authority yet")
    sections.append(s)
    return sections


def art33_pdf(breach: Breach, *, authority: str, phase: str, now: datetime, delay_reason: str = "",
              follows: BreachFiling | None = None, rule: str = "") -> bytes:
    """The Art. 33 notification as a PDF, every §10.2 item in the form's order (see ``art33_sections``)."""
    sections = art33_sections(breach, authority=authority, phase=phase, now=now, delay_reason=delay_reason,
                              follows=follows, rule=rule)
    return render_pdf("pdf/breach_art33.html", {
        "breach": breach, "sections": sections, "authority": authority, "phase": dict(FilingPhase.choices)[phase],
        "generated_at": now, "controller_name": settings.DSR_CONTROLLER_NAME})


def california_notice_pdf(breach: Breach, *, now: datetime) -> bytes:
    """The sample copy for the California Attorney General (1798.82(f), CB-AG): the consumer notice exactly as
    California residents get it (English, §10.7 layout). It is the same for everyone, so it holds no one's data."""
    residents = BreachAffected.objects.filter(breach=breach, in_scope=True, jurisdiction="US-CA")
    agg = residents.aggregate(first=Min("notice_sent_at"), last=Max("notice_sent_at"))
    context = breach_notices.notice_context(breach, california=True, now=agg["first"] or now, language="en")
    context.update({
        "controller_name": settings.DSR_CONTROLLER_NAME, "controller_contact": settings.DSR_CONTROLLER_CONTACT,
        "dpo_contact": settings.DSR_DPO_CONTACT, "generated_at": now,
        "residents": residents.count(), "residents_told": residents.filter(notice_state=State.SENT).count(),
        "first_sent": agg["first"], "last_sent": agg["last"],
    })
    return render_pdf("pdf/breach_california_notice.html", context)


# --- the Art. 33(5) register (§10.8) ---------------------------------------------------------------------

REGISTER_FIELDS: list[tuple[str, str]] = [
    ("incident_id", "Incident"),
    ("title", "Title"),
    ("state", "State"),
    ("detected_at", "Detected"),
    ("aware_at", "Aware"),
    ("aware_basis", "Awareness based on"),
    ("aware_by", "Awareness reached by"),
    ("description", "Facts"),
    ("breach_types", "Breach type"),
    ("data_categories", "Data categories"),
    ("special_or_biometric", "Special / biometric data"),
    ("subjects_count_est", "Data subjects (approx.)"),
    ("records_count_est", "Records (approx.)"),
    ("jurisdictions", "Jurisdictions"),
    ("occurred", "Breach window"),
    ("encryption", "Encryption"),
    ("effects", "Effects and consequences"),
    ("risk_level", "Risk level"),
    ("risk_rationale", "Risk rationale"),
    ("risk_assessed_at", "Risk assessed"),
    ("remedial_actions", "Remedial actions"),
    ("sa_notified_at", "Supervisory authority notified"),
    ("sa_refs", "Authority references"),
    ("delay_reason", "Reasons for delay"),
    ("ds_notified_at", "Data subjects notified"),
    ("exception_34_3", "Art. 34(3) exception"),
    ("processor_involved", "Processor involved"),
    ("us_state_notices", "US state notices and deadlines"),
    ("law_enforcement_delay", "Law-enforcement delay"),
    ("closed_at", "Closed"),
]


def register_entry(breach: Breach) -> dict[str, str]:
    """One breach's register entry as text, keyed by the §10.8 field names."""
    categories = list(breach.categories or [])
    special = SPECIAL & set(categories)
    sa = [f for f in breach.filings.all() if f.rule in SA_RULES]
    deadlines = [d for d in breach.deadlines.all() if d.regime in US_REGIMES]
    sent = [a for a in breach.affected.all() if a.in_scope and a.notice_sent_at]
    told = [a for a in breach.affected.all() if a.in_scope]
    actions = [f"{a.get('at', '')[:16].replace('T', ' ')} {a.get('action', '')} ({a.get('by', '')})"
               for a in breach.remedial_actions or [] if isinstance(a, dict)]
    p = breach.processor
    return {
        "incident_id": breach.reference,
        "title": breach.title,
        "state": breach.get_state_display(),
        "detected_at": utc(breach.detected_at),
        "aware_at": utc(breach.aware_at),
        "aware_basis": breach.aware_basis,
        "aware_by": breach.aware_by,
        "description": breach.description,
        "breach_types": _labels(breach.types, BreachType),
        "data_categories": _labels(categories, DataCategory),
        "special_or_biometric": "Yes (biometric: face templates)" if special else "No",
        "subjects_count_est": str(breach.scope_subjects),
        "records_count_est": str(breach.scope_items),
        "jurisdictions": "; ".join(f"{k}: {v}" for k, v in _jurisdictions(breach).items()),
        "occurred": f"{utc(breach.occurred_from)} – {utc(breach.occurred_until)}",
        "encryption": f"encrypted: {_text(breach.data_encrypted)}; keys exposed: {_text(breach.keys_exposed)}",
        "effects": breach.consequences,
        "risk_level": dict(RiskLevel.choices).get(breach.risk_level, "not assessed"),
        "risk_rationale": breach.risk_rationale,
        "risk_assessed_at": f"{utc(breach.risk_assessed_at)} {breach.risk_assessed_by}".strip(),
        "remedial_actions": "; ".join(actions),
        "sa_notified_at": "; ".join(f"{utc(f.filed_at)} {f.authority} ({f.get_phase_display()}"
                                    f"{', late' if f.late else ''})" for f in sa),
        "sa_refs": "; ".join(f.submission_ref for f in sa if f.submission_ref),
        "delay_reason": "; ".join(f.delay_reason for f in sa if f.delay_reason),
        "ds_notified_at": (f"{len(sent)} of {len(told)} told, {utc(min(a.notice_sent_at for a in sent))} – "
                           f"{utc(max(a.notice_sent_at for a in sent))}" if sent else
                           ("none told yet" if told else "no one in scope")),
        "exception_34_3": (f"{Exception34(breach.exception_34_3).label}: {breach.exception_rationale}"
                           if breach.exception_34_3 else "none"),
        "processor_involved": f"{p.name} ({p.country})" if p else "none",
        "us_state_notices": "; ".join(
            f"{d.rule} due {utc(d.due_at) if d.due_at else 'without unreasonable delay'}"
            f"{' met ' + utc(d.met_at) if d.met_at else ''}{' (not required)' if d.not_required else ''}"
            for d in deadlines),
        "law_enforcement_delay": (f"yes: {breach.law_enforcement_reason}" if breach.law_enforcement_delay else "no"),
        "closed_at": utc(breach.closed_at),
    }


def _register_rows(queryset: QuerySet[Breach]) -> Iterable[dict[str, str]]:
    qs = (queryset.select_related("processor").prefetch_related("filings", "deadlines", "affected")
          .order_by("aware_at", "reference"))
    for breach in qs:
        yield register_entry(breach)


def register_csv(queryset: QuerySet[Breach]) -> bytes:
    """The register as UTF-8 CSV, one row per breach, every cell neutralised against formula injection."""
    names = [name for name, _ in REGISTER_FIELDS]
    return b"".join(csv_document(names, ([entry[n] for n in names] for entry in _register_rows(queryset))))


def register_pdf(queryset: QuerySet[Breach], *, now: datetime) -> bytes:
    entries = [[(label, entry[name]) for name, label in REGISTER_FIELDS] for entry in _register_rows(queryset)]
    return render_pdf("pdf/breach_register.html", {
        "entries": entries, "generated_at": now, "controller_name": settings.DSR_CONTROLLER_NAME})
