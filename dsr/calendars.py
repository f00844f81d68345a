"""Holiday calendars and controller time zones, as data (pure: no clock, no Django, no database).

* **California** (legal-matrix §1.3): business days are Monday–Friday minus the holidays of Gov. Code §6700
  as observed under §6701.  The list is kept here, rule by rule, with its source and the date it was read,
  instead of the ``holidays`` package's US/CA calendar, which models state-employee days off (Day after
  Thanksgiving, Susan B. Anthony Day, every Saturday holiday moved to Friday) and lacks Lincoln Day, Lunar
  New Year, Genocide Remembrance Day, Admission Day, Native American Day and Columbus Day.
* **UK** (legal-matrix §2.5 UK-CAL): the bank holidays of the nation where the controller acts — England &
  Wales, Scotland or Northern Ireland differ — from the ``holidays`` package (Banking and Financial Dealings
  Act 1971 Sch. 1 plus proclaimed days).
* **EU/EEA** (legal-matrix §1.1, Reg. 1182/71 Art 2): the controller's Member State, optionally a
  subdivision (e.g. ``DE``/``BY``) for regional holidays, from the ``holidays`` package.
* **Time zones**: the controller's zone follows its country (a table) unless the operator sets one.

Every calendar answers ``get(day) -> name | None`` and ``day in calendar`` and carries a ``label`` that the
basis sentences and the case page show, so an operator can see which calendar produced a date.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Protocol

import holidays

CHECKED_ON = "2026-11-30"  # when the §6700/§6701 text below was last read; re-check every year


class HolidayCalendar(Protocol):
    """What the deadline arithmetic needs from a calendar."""

    label: str

    def get(self, day: date) -> str | None: ...

    def __contains__(self, day: object) -> bool: ...


# --------------------------------------------------------------------------------------------------
# California: Gov. Code §6700 / §6701
# --------------------------------------------------------------------------------------------------

# Lunar New Year, §6700(a)(4): "the date corresponding with the second new moon following the winter
# solstice, or the third new moon following the winter solstice should an intercalary month intervene".
# The dates are the conventional (Chinese-calendar) New Year's Day, taken from the ``holidays`` package's
# lunisolar table and checked for 2024-2030 against published calendars.  [S]  In some years the new moon
# itself falls on the previous day in California time (e.g. 9 Feb 2024 PST); the statute does not say
# whose date, so the conventional date is used.
LUNAR_NEW_YEAR: dict[int, date] = {
    y: date.fromisoformat(d)
    for y, d in {
        2023: "2023-01-22", 2024: "2024-02-10", 2025: "2025-01-29", 2026: "2026-02-17", 2027: "2027-02-06",
        2028: "2028-01-26", 2029: "2029-02-13", 2030: "2030-02-03", 2031: "2031-01-23", 2032: "2032-02-11",
        2033: "2033-01-31", 2034: "2034-02-19", 2035: "2035-02-08", 2036: "2036-01-28", 2037: "2037-02-15",
        2038: "2038-02-04", 2039: "2039-01-24", 2040: "2040-02-12", 2041: "2041-02-01", 2042: "2042-01-22",
        2043: "2043-02-10", 2044: "2044-01-30", 2045: "2045-02-17", 2046: "2046-02-06", 2047: "2047-01-26",
        2048: "2048-02-14", 2049: "2049-02-02", 2050: "2050-01-23",
    }.items()
}

# Diwali, added to §6700 by AB 268 (Stats. 2025, ch. 358) from 2026.  Date rule as summarised by a law
# firm (lcwlegal.com): "the 15th day of the month of Kartik in the Hindu lunar calendar" [S]; the amended
# §6700 paragraph itself was not read [NV].  Dates: the ``holidays`` package's India Diwali table (the
# Lakshmi Puja date), which the package also uses for California.  Operators can add or correct days
# with DSR_CCPA_EXTRA_HOLIDAYS.
DIWALI: dict[int, date] = {
    y: date.fromisoformat(d)
    for y, d in {
        2026: "2026-11-08", 2027: "2027-10-29", 2028: "2028-10-17", 2029: "2029-11-05", 2030: "2030-10-26",
        2031: "2031-11-14", 2032: "2032-11-02", 2033: "2033-10-22", 2034: "2034-11-10", 2035: "2035-10-30",
    }.items()
}

_MON, _THU, _FRI = 0, 3, 4


@dataclass(frozen=True)
class HolidayRule:
    """One holiday of Gov. Code §6700(a), with where it comes from and how sure we are.

    ``kind`` is "fixed" (``month``/``day``), "nth" (the ``n``-th ``weekday`` of ``month``; ``n=-1`` is the
    last) or "table" (``table`` year -> date).  ``sunday_to_monday`` / ``saturday_to_friday`` are the
    §6701 observance rules, which apply only to the dates that section names.
    """

    name: str
    kind: str
    source: str
    confidence: str  # legal-matrix §0.1 tags: V, S, K, U, NV (not verified)
    month: int = 0
    day: int = 0
    weekday: int = 0
    n: int = 0
    table: dict[int, date] = field(default_factory=dict, compare=False, hash=False)
    since: int | None = None  # first year the rule applies (None: before 2020, when the CCPA began)
    sunday_to_monday: bool = False
    saturday_to_friday: bool = False
    checked_on: str = CHECKED_ON

    def actual(self, year: int) -> date | None:
        """The date the rule names in ``year`` (before any §6701 observance), or None."""
        if self.since is not None and year < self.since:
            return None
        if self.kind == "fixed":
            return date(year, self.month, self.day)
        if self.kind == "nth":
            return _nth_weekday(year, self.month, self.weekday, self.n)
        return self.table.get(year)

    def dates(self, year: int) -> list[tuple[date, str]]:
        """The day(s) the rule makes a holiday in ``year``, with their names (§6701 observance included)."""
        day = self.actual(year)
        if day is None:
            return []
        out = [(day, self.name)]
        if self.sunday_to_monday and day.weekday() == 6:
            out.append((day + timedelta(days=1), f"{self.name} (observed, Gov. Code §6701)"))
        if self.saturday_to_friday and day.weekday() == 5:
            out.append((day - timedelta(days=1), f"{self.name} (observed, Gov. Code §6701)"))
        return out


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year, month, _calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


# §6701 (as amended by Stats. 2002, ch. 784; not amended by the 2022 and 2025 holiday bills, whose titles
# list §6700 only): "If January 1st, February 12th, March 31st, July 4th, September 9th, November 11th, or
# December 25th falls upon a Sunday, the Monday following is a holiday.  If November 11th falls upon a
# Saturday, the preceding Friday is a holiday."  [V: text as reproduced by law.onecle.com and
# californiaglobe.com]  No other holiday moves: a Saturday holiday stays on the Saturday (so the Friday is
# a business day), and Juneteenth, Genocide Remembrance Day, Lunar New Year and Diwali do not move from a
# Sunday.  Note: legal-matrix §1.3 states the Sunday rule for every holiday and no Saturday rule; the
# statute's narrower list and its Veterans Day rule are followed here.
_P = "Gov. Code §6700(a)"
CALIFORNIA_RULES: tuple[HolidayRule, ...] = (
    HolidayRule("New Year's Day", "fixed", f"{_P}(2)", "V", month=1, day=1, sunday_to_monday=True),
    HolidayRule("Dr. Martin Luther King, Jr. Day", "nth", f"{_P}(3), third Monday in January", "V",
                month=1, weekday=_MON, n=3),
    HolidayRule("Lunar New Year", "table", f"{_P}(4) (AB 2596, Stats. 2022, ch. 792); dates: see LUNAR_NEW_YEAR",
                "S", table=LUNAR_NEW_YEAR, since=2023),
    HolidayRule("Lincoln Day", "fixed", f"{_P}(5)", "V", month=2, day=12, sunday_to_monday=True),
    HolidayRule("Washington's Birthday (third Monday in February)", "nth", f"{_P}(6)", "V",
                month=2, weekday=_MON, n=3),
    HolidayRule("Cesar Chavez Day", "fixed", f"{_P}(7)", "V", month=3, day=31, sunday_to_monday=True),
    HolidayRule("Genocide Remembrance Day", "fixed", f"{_P}(8) (AB 1801, Stats. 2022)", "V", month=4, day=24,
                since=2023),
    HolidayRule("Memorial Day (last Monday in May)", "nth", f"{_P}(9)", "V", month=5, weekday=_MON, n=-1),
    HolidayRule("Juneteenth", "fixed", f"{_P}(10) (AB 1655, Stats. 2022)", "V", month=6, day=19, since=2023),
    HolidayRule("Independence Day", "fixed", f"{_P}(11)", "V", month=7, day=4, sunday_to_monday=True),
    HolidayRule("Labor Day (first Monday in September)", "nth", f"{_P}(12)", "V", month=9, weekday=_MON, n=1),
    HolidayRule("Admission Day", "fixed", f"{_P}(13)", "V", month=9, day=9, sunday_to_monday=True),
    HolidayRule("Native American Day", "nth", f"{_P}(14), fourth Friday in September", "V",
                month=9, weekday=_FRI, n=4),
    HolidayRule("Columbus Day", "nth", f"{_P}(15), second Monday in October", "V", month=10, weekday=_MON, n=2),
    HolidayRule("Diwali", "table", "Gov. Code §6700(a) as amended by AB 268 (Stats. 2025, ch. 358); "
                "dates: see DIWALI", "NV", table=DIWALI, since=2026),
    HolidayRule("Veterans Day", "fixed", f"{_P}(16)", "V", month=11, day=11, sunday_to_monday=True,
                saturday_to_friday=True),
    # §6700(a): "every day appointed by the President or Governor for a public fast, thanksgiving, or
    # holiday" -- Thanksgiving Day is appointed every year for the fourth Thursday of November
    # (5 U.S.C. §6103(a) and the annual proclamation).  Other appointed days: DSR_CCPA_EXTRA_HOLIDAYS.
    HolidayRule("Thanksgiving Day", "nth", f"{_P}, day appointed by the President (fourth Thursday in November)",
                "V", month=11, weekday=_THU, n=4),
    HolidayRule("Christmas Day", "fixed", f"{_P}", "V", month=12, day=25, sunday_to_monday=True),
)

# Days people often take for California holidays that are NOT §6700 holidays (shown in the docs and
# tested, so nobody "fixes" the list back):
NOT_CALIFORNIA_HOLIDAYS: tuple[tuple[str, str], ...] = (
    ("Good Friday", "§6700(a) makes it a holiday only from noon until 3 p.m.: a part day, so the day counts as "
                    "a business day (the earlier, safe reading, legal-matrix §1.3)"),
    ("Day after Thanksgiving", "a state-employee day off (Gov. Code §19853), not a §6700 holiday"),
    ("Susan B. Anthony Day (15 February)", "a commemorative day, not a §6700 holiday"),
    ("Friday before a Saturday holiday", "§6701 moves only Veterans Day from a Saturday to the Friday"),
)

CALIFORNIA_LABEL = "California (Gov. Code §6700/§6701 holidays)"


class CaliforniaCalendar:
    """The §6700/§6701 holidays of the years asked for, computed lazily from :data:`CALIFORNIA_RULES`.

    Years are filled in on first look-up, so a date outside the years given at construction is never
    silently "not a holiday".  Instances are shared through a cache; the lazy fill is idempotent.
    """

    label = CALIFORNIA_LABEL

    def __init__(self, years: Iterable[int] = (), extra: tuple[tuple[date, str], ...] = ()) -> None:
        self._extra = extra
        self._days: dict[date, str] = {}
        self._years: set[int] = set()
        for y in years:
            self._fill(y)

    def _fill(self, year: int) -> None:
        if year in self._years:
            return
        for rule in CALIFORNIA_RULES:
            for day, name in rule.dates(year):
                self._days.setdefault(day, name)
        for day, name in self._extra:
            if day.year == year:
                self._days.setdefault(day, f"{name} (operator-added holiday, DSR_CCPA_EXTRA_HOLIDAYS)")
        self._years.add(year)

    def get(self, day: date) -> str | None:
        self._fill(day.year)
        return self._days.get(day)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.get(day) is not None

    def holidays_in(self, year: int) -> list[tuple[date, str]]:
        """Every holiday of ``year`` in date order (for tests, docs and the console)."""
        self._fill(year)
        return sorted((d, n) for d, n in self._days.items() if d.year == year)


@lru_cache(maxsize=64)
def california(years: tuple[int, ...] = (), extra: tuple[tuple[date, str], ...] = ()) -> CaliforniaCalendar:
    return CaliforniaCalendar(years, extra)


def parse_extra_holidays(spec: str | None) -> tuple[tuple[date, str], ...]:
    """``"2025-01-09=National Day of Mourning,2031-11-14"`` -> ((date, name), ...); bad input raises ValueError."""
    out: list[tuple[date, str]] = []
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        raw, _, name = part.partition("=")
        try:
            day = date.fromisoformat(raw.strip())
        except ValueError:
            raise ValueError(f"DSR_CCPA_EXTRA_HOLIDAYS: {raw.strip()!r} is not a date YYYY-MM-DD") from None
        out.append((day, name.strip() or "Holiday appointed by the President or Governor (§6700(a))"))
    return tuple(sorted(out))


# --------------------------------------------------------------------------------------------------
# Package calendars (EU Member States, UK nations)
# --------------------------------------------------------------------------------------------------


class PackageCalendar:
    """A ``holidays`` package calendar with a label; names pinned to English where available."""

    def __init__(self, cal: holidays.HolidayBase, label: str) -> None:
        self._cal = cal
        self.label = label
        self.country = cal.country
        self.subdiv = getattr(cal, "subdiv", None)

    def get(self, day: date) -> str | None:
        return self._cal.get(day)

    def __contains__(self, day: object) -> bool:
        return day in self._cal


@lru_cache(maxsize=256)
def package_calendar(country: str, subdiv: str | None, years: tuple[int, ...], label: str) -> PackageCalendar:
    try:
        probe = holidays.country_holidays(country, subdiv=subdiv, years=())
    except NotImplementedError as exc:  # unknown country / subdivision
        raise ValueError(f"no holiday calendar for {country!r} subdivision {subdiv!r}: {exc}") from exc
    # Holiday names otherwise follow the process locale ($LANG); pin them so the basis sentence is
    # reproducible, in English wherever the calendar has a translation.
    supported = getattr(probe, "supported_languages", ()) or ()
    language = "en_US" if "en_US" in supported else getattr(probe, "default_language", None)
    # expand=True: a look-up outside ``years`` adds that year instead of answering "not a holiday".
    cal = holidays.country_holidays(country, subdiv=subdiv, years=years, language=language, expand=True)
    return PackageCalendar(cal, label)


# UK-CAL (legal-matrix §2.5): DSR_UK_NATION -> ``holidays`` GB subdivision and the label shown.
UK_NATIONS: dict[str, tuple[str, str]] = {
    "england-wales": ("ENG", "GB-ENG (England and Wales bank holidays)"),
    "scotland": ("SCT", "GB-SCT (Scotland bank holidays)"),
    "northern-ireland": ("NIR", "GB-NIR (Northern Ireland bank holidays)"),
}


def uk_nation(nation: str) -> tuple[str, str]:
    try:
        return UK_NATIONS[nation]
    except KeyError:
        raise ValueError(f"unknown UK nation {nation!r}; use one of {', '.join(UK_NATIONS)}") from None


# --------------------------------------------------------------------------------------------------
# Controller time zones
# --------------------------------------------------------------------------------------------------

# Country -> the zone of its capital (EU/EEA, the UK and Switzerland); override with DSR_TIME_ZONE.
COUNTRY_TIME_ZONES: dict[str, str] = {
    "AT": "Europe/Vienna", "BE": "Europe/Brussels", "BG": "Europe/Sofia", "HR": "Europe/Zagreb",
    "CY": "Asia/Nicosia", "CZ": "Europe/Prague", "DK": "Europe/Copenhagen", "EE": "Europe/Tallinn",
    "FI": "Europe/Helsinki", "FR": "Europe/Paris", "DE": "Europe/Berlin", "GR": "Europe/Athens",
    "HU": "Europe/Budapest", "IE": "Europe/Dublin", "IT": "Europe/Rome", "LV": "Europe/Riga",
    "LT": "Europe/Vilnius", "LU": "Europe/Luxembourg", "MT": "Europe/Malta", "NL": "Europe/Amsterdam",
    "PL": "Europe/Warsaw", "PT": "Europe/Lisbon", "RO": "Europe/Bucharest", "SK": "Europe/Bratislava",
    "SI": "Europe/Ljubljana", "ES": "Europe/Madrid", "SE": "Europe/Stockholm",
    "IS": "Atlantic/Reykjavik", "LI": "Europe/Vaduz", "NO": "Europe/Oslo",
    "GB": "Europe/London", "CH": "Europe/Zurich",
}
# Regions of a Member State that keep another zone (``holidays`` subdivision codes).
SUBDIVISION_TIME_ZONES: dict[tuple[str, str], str] = {
    ("ES", "CN"): "Atlantic/Canary",
    ("PT", "20"): "Atlantic/Azores",
    ("PT", "30"): "Atlantic/Madeira",
}


def time_zone_for_country(country: str, subdivision: str | None = None) -> str:
    """The controller's zone from its country (and region); ValueError if the table does not know it."""
    country = country.upper()
    if subdivision and (country, subdivision.upper()) in SUBDIVISION_TIME_ZONES:
        return SUBDIVISION_TIME_ZONES[(country, subdivision.upper())]
    try:
        return COUNTRY_TIME_ZONES[country]
    except KeyError:
        raise ValueError(
            f"no time zone known for country {country!r}: set DSR_TIME_ZONE (an IANA zone such as Europe/Berlin)"
        ) from None
