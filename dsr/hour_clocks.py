"""Hour clocks of the takedown desk — PURE: instants in, instants out; never reads the clock or the database.

Regimes (../shared/reference/takedown.md "The clocks"):

* **T-TIDA** — US TAKE IT DOWN Act, 47 U.S.C. 223a: an intimate depiction is removed within 48 hours of a
  valid request (statutory: not configurable).
* **T-UK48** — UK 48-hour takedown of non-consensual intimate images (commencement not verified: a setting).
* **T-POLICY** — the platform's own clock for a depiction of a non-consenting person that is not intimate
  (default 48 hours, configurable). Every depiction report runs on it until the operator decides.
* **T-DSA** — EU Digital Services Act Art. 16: act "in a timely … manner" — a configurable target.

A clock counts elapsed hours from the instant the request became valid, through nights, weekends, holidays and
daylight-saving changes: 48 hours after 2026-03-27 20:00 UTC is 2026-03-29 20:00 UTC, which in London is 21:00
BST although the request came in at 20:00 GMT. Due instants are UTC; ``local`` shows them in a zone.

One report can carry several clocks (a takedown and an erasure of the person's own data): every one is kept and
the earliest governs (legal-matrix §1.4). A day clock (a GDPR response date) ends at the end of its day in its
own zone (``day_clock_instant``), so it can be compared with hour clocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

TIDA_HOURS = 48  # 47 U.S.C. 223a(a)(3): "as soon as possible, but not later than 48 hours"
ESCALATE_HOURS_BEFORE = (24, 4)


class HourRegime(StrEnum):
    TIDA = "T-TIDA"
    UK48 = "T-UK48"
    POLICY = "T-POLICY"
    DSA = "T-DSA"


LABELS = {
    HourRegime.TIDA: "US TAKE IT DOWN Act (47 U.S.C. 223a)",
    HourRegime.UK48: "UK 48-hour NCII takedown",
    HourRegime.POLICY: "Platform policy (non-consensual depiction)",
    HourRegime.DSA: "EU DSA Art. 16 (timely action)",
}


@dataclass(frozen=True)
class HourClockOptions:
    """Settings turned into plain values (dsr/takedowns.py builds it from settings)."""

    policy_hours: int = 48
    dsa_hours: int = 72
    uk48_hours: int = 48
    uk48: bool = True
    dsa: bool = True

    def __post_init__(self) -> None:
        for name in ("policy_hours", "dsa_hours", "uk48_hours"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 24 * 30:
                raise ValueError(f"{name} must be a whole number of hours between 1 and 720, not {value!r}")


@dataclass(frozen=True)
class HourClock:
    regime: HourRegime
    starts_at: datetime
    hours: int
    due_at: datetime
    basis: str


def _aware_utc(at: datetime, what: str) -> datetime:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise ValueError(f"{what} must be an aware datetime")
    return at.astimezone(UTC)


def clock(regime: HourRegime, starts_at: datetime, hours: int, basis: str) -> HourClock:
    start = _aware_utc(starts_at, "the clock's start")
    # Elapsed time: arithmetic on UTC instants, so a daylight-saving change in any zone never moves the due time.
    return HourClock(regime, start, hours, start + timedelta(hours=hours), basis)


def _policy(valid_at: datetime, opts: HourClockOptions) -> HourClock:
    return clock(HourRegime.POLICY, valid_at, opts.policy_hours,
                 f"Platform policy: a report of a depiction made without consent is acted on within "
                 f"{opts.policy_hours} hours of a valid request (T-POLICY, configurable)")


def _intimate(valid_at: datetime, opts: HourClockOptions, provisional: bool) -> list[HourClock]:
    why = "the requester says the depiction is intimate; the operator confirms or corrects" if provisional \
        else "the operator decided the depiction is intimate (15 U.S.C. 6851(a)(5))"
    out = [clock(HourRegime.TIDA, valid_at, TIDA_HOURS,
                 f"47 U.S.C. 223a(a)(3): remove within 48 hours of a valid request — {why} (T-TIDA)")]
    if opts.uk48:
        out.append(clock(HourRegime.UK48, valid_at, opts.uk48_hours,
                         f"UK 48-hour takedown of intimate images flagged by the victim — {why} (T-UK48; "
                         "commencement to be re-checked)"))
    return out


def _dsa(valid_at: datetime, opts: HourClockOptions) -> list[HourClock]:
    if not opts.dsa:
        return []
    return [clock(HourRegime.DSA, valid_at, opts.dsa_hours,
                  f"DSA Art. 16(6): act in a timely manner — this platform's target is {opts.dsa_hours} hours (T-DSA)")]


def clocks_at_validity(valid_at: datetime, *, intimate_claimed: bool, opts: HourClockOptions) -> list[HourClock]:
    """The clocks that start when a request becomes valid, before anyone has reviewed it: T-POLICY always (every
    depiction report runs on an hour clock), T-TIDA/T-UK48 as well when the requester says it is intimate
    (provisional: the 48 hours run from validity whatever the review later finds), and T-DSA."""
    out = [_policy(valid_at, opts)]
    if intimate_claimed:
        out += _intimate(valid_at, opts, provisional=True)
    return out + _dsa(valid_at, opts)


def clocks_after_decision(valid_at: datetime, *, valid: bool, intimate: bool,
                          opts: HourClockOptions) -> list[HourClock]:
    """The clocks the operator's validity decision leaves running, still counted from validity: an intimate
    depiction moves onto T-TIDA (and T-UK48), anything else stays on T-POLICY; T-DSA applies either way. A
    refused request keeps no running clock (the decision itself answered it)."""
    if not valid:
        return []
    main = _intimate(valid_at, opts, provisional=False) if intimate else [_policy(valid_at, opts)]
    return main + _dsa(valid_at, opts)


def governing(clocks: Iterable[HourClock]) -> HourClock | None:
    """The earliest due clock (ties: the statutory one first, in LABELS order)."""
    order = list(LABELS)
    clocks = list(clocks)
    if not clocks:
        return None
    return min(clocks, key=lambda c: (c.due_at, order.index(c.regime)))


def day_clock_instant(due_on: date, time_zone: str) -> datetime:
    """The instant a day clock (a statutory due *date*) runs out: the end of that day in its zone, in UTC."""
    next_midnight = datetime.combine(due_on + timedelta(days=1), time(0), tzinfo=ZoneInfo(time_zone))
    return next_midnight.astimezone(UTC)


def escalation_times(due_at: datetime, hours_before: Iterable[int] = ESCALATE_HOURS_BEFORE
                     ) -> list[tuple[int, datetime]]:
    """When to warn staff: (hours before, instant), earliest warning first."""
    due = _aware_utc(due_at, "the due instant")
    return sorted(((h, due - timedelta(hours=h)) for h in hours_before), key=lambda p: p[1])


def escalations_due(due_at: datetime, now: datetime, hours_before: Iterable[int] = ESCALATE_HOURS_BEFORE
                    ) -> list[int]:
    """Which warnings are due at ``now`` (their instant has come and the deadline has not passed). When several
    are due at once (a request that became valid late, a worker that was down) only the nearest one is sent."""
    due = _aware_utc(due_at, "the due instant")
    current = _aware_utc(now, "now")
    if current >= due:
        return []
    passed = [h for h, at in escalation_times(due, hours_before) if at <= current]
    return [min(passed)] if passed else []


def margin(due_at: datetime, done_at: datetime) -> timedelta:
    """How much time was left when the duty was done (negative: late)."""
    return _aware_utc(due_at, "the due instant") - _aware_utc(done_at, "the completion instant")


def hours_between(start: datetime, end: datetime) -> float:
    return (_aware_utc(end, "end") - _aware_utc(start, "start")).total_seconds() / 3600.0


def local(at: datetime, time_zone: str) -> datetime:
    """An instant shown in an operator's zone."""
    return _aware_utc(at, "the instant").astimezone(ZoneInfo(time_zone))


def describe_margin(delta: timedelta) -> str:
    """'3 h 12 min left' / '1 h 5 min late'."""
    late = delta < timedelta(0)
    minutes = int(abs(delta).total_seconds() // 60)
    hours, mins = divmod(minutes, 60)
    text = f"{hours} h {mins:02d} min"
    return f"{text} late" if late else f"{text} to spare"
