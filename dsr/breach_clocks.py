"""The clocks a personal-data breach starts (issue 12; legal-matrix §1.2, §2.2, §2.4, §2.5, §8, §12).

``rules(facts)`` is PURE: facts in, ``DeadlineSpec`` rows out; it never reads the clock or the database.
``facts_of(breach)`` reads what the rules need from the database (the stored scope, the notices sent, the
filings made) and ``sync_deadlines`` upserts the ``BreachDeadline`` rows. The earliest open ``due_at`` governs
(legal-matrix §1.4) and the board names its rule (``dsr.breaches.governing_deadline``).

Rules:

* **B-SA** (Art. 33): the supervisory authority, ``aware_at`` + 72 hours exactly — elapsed hours, UTC arithmetic,
  so a daylight-saving change never moves it (§1.2: the conservative reading of Reg. 1182/71 Art. 3(1)). Not
  required once the operator *decided* the risk is unlikely (B-SKIP: documented only) or that no personal data
  was affected. A suggested "unlikely" does not switch it off: only a decision with its rationale does.
* **UK-BR** (UK GDPR Art. 33): the same 72 hours to the ICO when an affected person lives in GB / GB-*.
* **B-DS** (Art. 34): the people, "without undue delay" from ``high_risk_determined_at``: no due instant, but
  shown; not required when an Art. 34(3) exception is recorded. Met when every in-scope person was notified.
* **CB-IND** (Cal. Civ. Code §1798.82(a)): California residents within 30 calendar days of discovery (counted
  from ``aware_at``, the instant the business knew; ``detected_at`` is only the first anomaly), "in the most
  expedient time possible and without unreasonable delay". The statute covers acquisition of unencrypted data
  (or encrypted data with its key): an availability/integrity-only breach, or encrypted data whose key was not
  exposed, does not trigger it (§8.1) — the row stays, marked not required, with the reason.
* **CB-AG** (§1798.82(f)): a sample copy to the Attorney General when more than 500 California residents are
  notified, 15 calendar days after the consumers were notified (the first notice sent: the earlier, safe date);
  shown as pending (no due instant) until notices go out.
* **US-xx / US-xx-REG**: the other states, from ``dsr/data/us_breach_states.json`` (§8.2, with each row's
  source, the date it was checked and the matrix's confidence tag); a state without a row gets a "most expedient
  time" row without a due instant.
* **BR-BR** (LGPD, Res. CD/ANPD 15/2024 art. 6): ANPD and the people within 3 business days (Brazilian national
  holidays, ``holidays`` BR) of knowing personal data was affected; doubled for small processing agents
  (``DSR_LGPD_SMALL_AGENT``). Not required when the operator decided there is no relevant risk.

Which jurisdictions apply: the union of the stored scope's ``scope_counts["jurisdictions"]`` and the residences
the operator declared (``jurisdictions_declared``). A union, because the vault may not hold every affected
person (data outside dsr, a processor's systems) and a scope must not silently switch off a clock the operator
knows applies; counts come from the scope, and a declared jurisdiction without a scope count has an unknown
count (CB-AG is then shown pending: "applies if more than 500").

Day clocks end at the end of their last day in the jurisdiction's zone (CB-*: America/Los_Angeles; the other
states: the easternmost zone of the state, i.e. the earliest end of day; BR: America/Sao_Paulo), like the
takedown desk's ``day_clock_instant``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from dsr.hour_clocks import day_clock_instant, local

SA_HOURS = 72  # Art. 33(1): "not later than 72 hours after having become aware of it"
CA_INDIVIDUAL_DAYS = 30  # §1798.82(a)(2) as amended by SB 446 (in force 2026-01-01) [V/S]
CA_AG_DAYS = 15  # §1798.82(f) [S]
CA_AG_MORE_THAN = 500
CA_ZONE = "America/Los_Angeles"
BR_BUSINESS_DAYS = 3  # Res. CD/ANPD 15/2024 art. 6 [S]
BR_ZONE = "America/Sao_Paulo"
STATES_FILE = Path(__file__).with_name("data") / "us_breach_states.json"

# Rules whose deadline is met by a filing to an authority (dsr.breaches.record_filing, phase initial).
FILING_RULES = ("B-SA", "UK-BR", "CB-AG", "BR-BR")
NO_RISK = ("unlikely", "no_personal_data")


@dataclass(frozen=True)
class DeadlineSpec:
    rule: str
    regime: str
    authority: str
    started_at: datetime | None
    due_at: datetime | None
    basis: str
    not_required: bool = False
    not_required_reason: str = ""
    met_at: datetime | None = None


@dataclass(frozen=True)
class NoticeProgress:
    """The Art. 34 / state-law notices of the people of one jurisdiction (in scope)."""

    total: int = 0
    sent: int = 0
    first_sent_at: datetime | None = None
    last_sent_at: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.sent == self.total


@dataclass(frozen=True)
class BreachFacts:
    aware_at: datetime
    risk_level: str = ""  # the operator's decision ("" until assessed)
    high_risk_determined_at: datetime | None = None
    exception_34_3: str = ""
    types: tuple[str, ...] = ()
    data_encrypted: bool = True
    keys_exposed: bool = False
    # code -> people (None: declared by the operator, no scope count yet)
    jurisdictions: dict[str, int | None] = field(default_factory=dict)
    notices: dict[str, NoticeProgress] = field(default_factory=dict)  # jurisdiction ("" unknown) -> progress
    initial_filings: dict[str, datetime] = field(default_factory=dict)  # rule -> filed_at of its initial filing
    sa_name: str = "the lead supervisory authority"
    lgpd_small_agent: bool = False


# --- the state table ------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def state_table() -> dict[str, dict[str, Any]]:
    """The §8.2 rows, keyed by ISO 3166-2 code ("US-NY"). Loaded once; a malformed file fails loudly."""
    data = json.loads(STATES_FILE.read_text(encoding="utf-8"))
    states = data["states"]
    for code, row in states.items():
        for key in ("individual_deadline_days", "clock_start", "regulator", "regulator_threshold",
                    "regulator_deadline_days", "source_url", "verified_on", "status", "time_zone"):
            if key not in row:
                raise ValueError(f"{STATES_FILE.name}: {code} lacks {key}")
        date.fromisoformat(row["verified_on"])
        ZoneInfo(row["time_zone"])
    return states


# --- arithmetic -----------------------------------------------------------------------------------------------


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("breach instants must be aware datetimes")
    return at.astimezone(UTC)


def hours_after(start: datetime, hours: int) -> datetime:
    # Elapsed time on UTC instants: 72 h after 2026-03-27 22:30 UTC is 2026-03-30 22:30 UTC, although Berlin
    # moved from CET to CEST in between (23:30 local at the start, 00:30 local at the end).
    return _utc(start) + timedelta(hours=hours)


def calendar_days_after(start: datetime, days: int, zone: str) -> datetime:
    """The end of the ``days``-th day after the day ``start`` falls on in ``zone`` (the first day is excluded,
    the last included)."""
    day = local(start, zone).date() + timedelta(days=days)
    return day_clock_instant(day, zone)


def business_days_after(start: datetime, days: int, zone: str, calendar: Any) -> datetime:
    """The end of the ``days``-th business day (Monday–Friday, not in ``calendar``) after ``start``'s day."""
    day = local(start, zone).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in calendar:
            counted += 1
    return day_clock_instant(day, zone)


@lru_cache(maxsize=8)
def brazil_holidays(years: tuple[int, ...]) -> holidays.HolidayBase:
    return holidays.country_holidays("BR", years=list(years))


# --- the rules ------------------------------------------------------------------------------------------------


def _uk(code: str) -> bool:
    return code == "GB" or code.startswith("GB-")


def _risk_off(facts: BreachFacts) -> str:
    if facts.risk_level == "unlikely":
        return "documented only (B-SKIP): the operator decided the breach is unlikely to result in a risk"
    if facts.risk_level == "no_personal_data":
        return "documented only: the operator decided no personal data was affected (security incident)"
    return ""


def _us_trigger_off(facts: BreachFacts) -> str:
    """§8.1 trigger: acquisition of unencrypted personal information, or of encrypted data with its key."""
    if "confidentiality" not in facts.types:
        return "not triggered: no acquisition by an unauthorised person (availability or integrity only)"
    if facts.data_encrypted and not facts.keys_exposed:
        return "not triggered: the data was encrypted and the key was not exposed"
    return ""


def _people_met(progress: NoticeProgress | None) -> datetime | None:
    return progress.last_sent_at if progress is not None and progress.complete else None


def _gdpr(facts: BreachFacts, codes: Iterable[str]) -> list[DeadlineSpec]:
    off = _risk_off(facts)
    out = [DeadlineSpec(
        "B-SA", "eu_gdpr", facts.sa_name, facts.aware_at, hours_after(facts.aware_at, SA_HOURS),
        "Art. 33(1) GDPR: notify the supervisory authority without undue delay and not later than 72 hours after "
        "becoming aware (wall-clock hours through weekends and holidays; later only with the reasons for the "
        "delay; phased under Art. 33(4)) — B-SA",
        not_required=bool(off), not_required_reason=off, met_at=facts.initial_filings.get("B-SA"))]
    if any(_uk(c) for c in codes):
        out.append(DeadlineSpec(
            "UK-BR", "uk_gdpr", "Information Commissioner's Office (ICO)", facts.aware_at,
            hours_after(facts.aware_at, SA_HOURS),
            "UK GDPR Art. 33(1): the same 72 hours from awareness, to the ICO, because people living in the UK "
            "are affected — UK-BR",
            not_required=bool(off), not_required_reason=off, met_at=facts.initial_filings.get("UK-BR")))
    if facts.risk_level == "high" and facts.high_risk_determined_at is not None:
        exception = facts.exception_34_3
        total = _all_progress(facts)
        out.append(DeadlineSpec(
            "B-DS", "eu_gdpr", "subjects", facts.high_risk_determined_at, None,
            "Art. 34(1) GDPR: tell the affected people without undue delay once a high risk is determined "
            "(no fixed hours: the board shows the time elapsed since the decision) — B-DS",
            not_required=bool(exception),
            not_required_reason=f"Art. 34(3)({exception}) exception recorded" if exception else "",
            met_at=_people_met(total)))
    return out


def _all_progress(facts: BreachFacts) -> NoticeProgress | None:
    if not facts.notices:
        return None
    values = list(facts.notices.values())
    firsts = [p.first_sent_at for p in values if p.first_sent_at]
    lasts = [p.last_sent_at for p in values if p.last_sent_at]
    return NoticeProgress(sum(p.total for p in values), sum(p.sent for p in values),
                          min(firsts) if firsts else None, max(lasts) if lasts else None)


def _california(facts: BreachFacts, count: int | None) -> list[DeadlineSpec]:
    off = _us_trigger_off(facts)
    progress = facts.notices.get("US-CA")
    out = [DeadlineSpec(
        "CB-IND", "ca_breach", "subjects", facts.aware_at,
        calendar_days_after(facts.aware_at, CA_INDIVIDUAL_DAYS, CA_ZONE),
        "Cal. Civ. Code §1798.82(a): notify California residents in the most expedient time possible and without "
        "unreasonable delay, and within 30 calendar days of discovery (counted from awareness; delay only for "
        "law enforcement or to determine the scope and restore the system) — CB-IND",
        not_required=bool(off), not_required_reason=off, met_at=_people_met(progress))]
    if off:
        return out
    basis = ("Cal. Civ. Code §1798.82(f): more than 500 California residents notified → a sample copy (no "
             "personal data) to the Attorney General within 15 calendar days of notifying them — CB-AG")
    if count is not None and count <= CA_AG_MORE_THAN:
        return out
    if count is None:
        basis += " (if more than 500: count unknown until the scope is stored)"
    sent = progress.first_sent_at if progress else None
    if sent is None:
        out.append(DeadlineSpec("CB-AG", "ca_breach", "California Attorney General", None, None,
                                basis + "; pending: no consumer notice sent yet",
                                met_at=facts.initial_filings.get("CB-AG")))
    else:
        out.append(DeadlineSpec("CB-AG", "ca_breach", "California Attorney General", sent,
                                calendar_days_after(sent, CA_AG_DAYS, CA_ZONE), basis,
                                met_at=facts.initial_filings.get("CB-AG")))
    return out


def _threshold_met(row: dict[str, Any], count: int | None) -> bool | None:
    threshold = row.get("regulator_threshold")
    if threshold is None:
        return True
    if count is None:
        return None
    return count > threshold if row.get("regulator_threshold_rule") == "more_than" else count >= threshold


def _other_state(facts: BreachFacts, code: str, count: int | None) -> list[DeadlineSpec]:
    off = _us_trigger_off(facts)
    row = state_table().get(code)
    progress = facts.notices.get(code)
    if row is None:
        return [DeadlineSpec(code, "us_state", "subjects", facts.aware_at, None,
                             f"{code}: no fixed deadline in dsr's state table — notify residents in the most "
                             "expedient time and without unreasonable delay (legal-matrix §8.2 'All others'); "
                             "check the state's statute",
                             not_required=bool(off), not_required_reason=off, met_at=_people_met(progress))]
    tag = f"[{row['status']}; checked {row['verified_on']}: {row['source'].split(' (')[0]}]"
    days = row["individual_deadline_days"]
    zone = row["time_zone"]
    out = [DeadlineSpec(
        code, "us_state", "subjects", facts.aware_at,
        calendar_days_after(facts.aware_at, days, zone) if days else None,
        (f"{row['name']}: notify residents within {days} calendar days of {row['clock_start']} (counted from "
         f"awareness) {tag}" if days else
         f"{row['name']}: notify residents as expeditiously as possible {tag}"),
        not_required=bool(off), not_required_reason=off, met_at=_people_met(progress))]
    if off or not row.get("regulator"):
        return out
    applies = _threshold_met(row, count)
    if applies is False:
        return out
    rule = f"{code}-REG"
    basis = f"{row['name']}: notify the state regulator"
    if row.get("regulator_threshold") is not None:
        more = "more than" if row.get("regulator_threshold_rule") == "more_than" else "at least"
        basis += f" when {more} {row['regulator_threshold']} residents are affected"
        if applies is None:
            basis += " (the number is not known until the scope is stored)"
    met = facts.initial_filings.get(rule)
    reg_days = row.get("regulator_deadline_days")
    business = row.get("regulator_deadline_business_days")
    if row.get("regulator_clock_start") == "consumer_notice":
        sent = progress.first_sent_at if progress else None
        if reg_days and sent:
            due: datetime | None = calendar_days_after(sent, reg_days, zone)
            basis += f", within {reg_days} days of notifying residents {tag}"
        else:
            due, sent = None, sent
            basis += f", with or after the residents' notice (no fixed day count in the table) {tag}"
        return [*out, DeadlineSpec(rule, "us_state", row["regulator"], sent, due, basis, met_at=met)]
    if business:
        due = business_days_after(facts.aware_at, business, zone, holidays.country_holidays("US", subdiv=code[3:]))
        basis += f", within {business} business days of discovery {tag}"
    elif reg_days:
        due = calendar_days_after(facts.aware_at, reg_days, zone)
        basis += f", within {reg_days} calendar days of discovery {tag}"
    else:
        due = None
        basis += f" (no fixed day count in the table) {tag}"
    return [*out, DeadlineSpec(rule, "us_state", row["regulator"], facts.aware_at, due, basis, met_at=met)]


def _brazil(facts: BreachFacts) -> DeadlineSpec:
    days = BR_BUSINESS_DAYS * (2 if facts.lgpd_small_agent else 1)
    year = local(facts.aware_at, BR_ZONE).year
    due = business_days_after(facts.aware_at, days, BR_ZONE, brazil_holidays((year, year + 1)))
    off = _risk_off(facts)
    return DeadlineSpec(
        "BR-BR", "lgpd", "Autoridade Nacional de Proteção de Dados (ANPD) and the data subjects", facts.aware_at, due,
        f"LGPD Art. 48 and Res. CD/ANPD 15/2024 art. 6: notify the ANPD and the people within {days} business days "
        "(Brazilian national holidays excluded"
        + ("; doubled for a small processing agent" if facts.lgpd_small_agent else "")
        + ") of knowing personal data was affected; complementary information within 20 business days — BR-BR",
        not_required=bool(off),
        not_required_reason=off.replace("B-SKIP", "no relevant risk or damage, LGPD Art. 48") if off else "",
        met_at=facts.initial_filings.get("BR-BR"))


def rules(facts: BreachFacts) -> list[DeadlineSpec]:
    """Every deadline the facts start (pure). Order: as the board lists them before sorting by due instant."""
    codes = sorted(facts.jurisdictions)
    out = _gdpr(facts, codes)
    for code in codes:
        if code == "US-CA":
            out += _california(facts, facts.jurisdictions[code])
        elif code.startswith("US-"):
            out += _other_state(facts, code, facts.jurisdictions[code])
    if any(c == "BR" or c.startswith("BR-") for c in codes):
        out.append(_brazil(facts))
    return out


def governing(specs: Iterable[DeadlineSpec]) -> DeadlineSpec | None:
    """The earliest open due instant (ties: by rule id, so B-SA comes before UK-BR)."""
    open_ = [s for s in specs if s.due_at is not None and s.met_at is None and not s.not_required]
    return min(open_, key=lambda s: (s.due_at, s.rule)) if open_ else None


# --- from the database ----------------------------------------------------------------------------------------


def jurisdictions_of(breach: Any) -> dict[str, int | None]:
    """Scope counts, plus the operator's declared residences (count unknown unless the scope has them)."""
    scoped = (breach.scope_counts or {}).get("jurisdictions") or {}
    out: dict[str, int | None] = {str(code): int(n) for code, n in scoped.items() if code}
    for code in breach.jurisdictions_declared or []:
        out.setdefault(code, None)
    return out


def facts_of(breach: Any) -> BreachFacts:
    from django.conf import settings
    from django.db.models import Count, Max, Min, Q

    from dsr.models import BreachAffected, BreachFiling, FilingPhase

    notices: dict[str, NoticeProgress] = {}
    if breach.pk is not None:
        rows = (BreachAffected.objects.filter(breach=breach, in_scope=True).values("jurisdiction")
                .annotate(total=Count("pk"), sent=Count("pk", filter=Q(notice_state="sent")),
                          first=Min("notice_sent_at"), last=Max("notice_sent_at")).order_by())
        notices = {r["jurisdiction"]: NoticeProgress(r["total"], r["sent"], r["first"], r["last"]) for r in rows}
        filings = dict(BreachFiling.objects.filter(breach=breach, phase=FilingPhase.INITIAL)
                       .values_list("rule").annotate(at=Min("filed_at")).order_by())
    else:
        filings = {}
    return BreachFacts(
        aware_at=breach.aware_at, risk_level=breach.risk_level or "",
        high_risk_determined_at=breach.high_risk_determined_at, exception_34_3=breach.exception_34_3 or "",
        types=tuple(breach.types or ()), data_encrypted=breach.data_encrypted, keys_exposed=breach.keys_exposed,
        jurisdictions=jurisdictions_of(breach), notices=notices, initial_filings=filings,
        sa_name=supervisory_authority_name(),
        lgpd_small_agent=bool(getattr(settings, "DSR_LGPD_SMALL_AGENT", False)))


def supervisory_authority_name() -> str:
    from django.conf import settings

    from dsr import notices

    if settings.DSR_SUPERVISORY_AUTHORITY:
        return settings.DSR_SUPERVISORY_AUTHORITY[:200]
    return notices.eu_authority(settings.DSR_CONTROLLER_COUNTRY, settings.DSR_CONTROLLER_SUBDIVISION).name[:200]


def deadline_specs(breach: Any) -> list[DeadlineSpec]:
    return rules(facts_of(breach))


def sync_deadlines(breach: Any, *, now: datetime) -> list[Any]:
    """Upsert one BreachDeadline per rule (in the caller's transaction). A row already met keeps its ``met_at``;
    a row whose rule no longer applies (risk lowered, scope narrowed) is kept, marked not required, so its
    history and escalations stay. Returns the rows, earliest due first."""
    from django.db import transaction

    from dsr.models import BreachDeadline

    specs = deadline_specs(breach)
    with transaction.atomic():
        existing = {d.rule: d for d in BreachDeadline.objects.select_for_update().filter(breach=breach)}
        wanted = {s.rule for s in specs}
        for spec in specs:
            row = existing.get(spec.rule) or BreachDeadline(breach=breach, rule=spec.rule)
            row.regime, row.authority = spec.regime, spec.authority[:200]
            row.started_at, row.due_at, row.basis = spec.started_at, spec.due_at, spec.basis[:300]
            row.not_required, row.not_required_reason = spec.not_required, spec.not_required_reason[:300]
            row.met_at = row.met_at or spec.met_at
            row.save()
        for rule, row in existing.items():
            if rule not in wanted and row.met_at is None and not row.not_required:
                row.not_required = True
                row.not_required_reason = "no longer applies (the risk decision or the scope changed)"
                row.save(update_fields=["not_required", "not_required_reason"])
    return list(BreachDeadline.objects.filter(breach=breach))
