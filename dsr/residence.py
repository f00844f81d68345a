"""Where a person lives, as an ISO 3166 code (Subject.residence, Breach.jurisdictions_declared): breach scoping
counts affected people per jurisdiction and the breach clocks pick UK-BR, CB-IND/CB-AG, the other US states and
BR-BR from it (issue 12). PURE: no Django.

Accepted: an ISO 3166-1 alpha-2 country ("DE", "BR"), or ISO 3166-2 "CC-SUB" where CC is a country. US states
(and DC, PR) and the UK nations are checked against their full lists, because clocks depend on them; other
subdivisions ("DE-BY") are checked for form only (the full ISO 3166-2 list is not held here)."""

from __future__ import annotations

import re

_ALPHA2_TEXT = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO
JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR
MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV
TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""

_US_TEXT = """
AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR
PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP UM
"""
ALPHA2 = frozenset(_ALPHA2_TEXT.split())
US_STATES = frozenset(_US_TEXT.split())
UK_NATIONS = frozenset({"ENG", "SCT", "WLS", "NIR"})
_SUB = re.compile(r"^([A-Z]{2})-([A-Z0-9]{1,3})$")


def normalise(code: str) -> str:
    """'us-ca ' -> 'US-CA'; raises ValueError (a message naming the rule, not the value) when it is not one."""
    if not isinstance(code, str):
        raise ValueError("a residence is an ISO 3166 code such as DE, GB-SCT or US-CA")
    value = code.strip().upper()
    if value in ALPHA2:
        return value
    m = _SUB.match(value)
    if m and m.group(1) in ALPHA2:
        country, sub = m.groups()
        if country == "US" and sub not in US_STATES:
            raise ValueError("not a US state code (ISO 3166-2:US, e.g. US-CA)")
        if country == "GB" and sub not in UK_NATIONS:
            raise ValueError("a UK residence is GB or one of GB-ENG, GB-SCT, GB-WLS, GB-NIR")
        return value
    raise ValueError("a residence is an ISO 3166 code such as DE, GB-SCT or US-CA")


def country_of(code: str) -> str:
    return (code or "")[:2].upper()
