"""What notices to people say, per regime (issue 8 §6): plain law names instead of internal codes, the
rights text of every regime of the case, and the supervisory authority of the controller's country.

Data and functions: workflow builds the template context from them, and the templates in ``templates/emails/``
only print what is given. Sentences go through Django's gettext, so a notice is written in the language of the
person's portal filing (English and German, issue 11); without an active translation they are the English below.
Never put a regime code (``eu_gdpr``) or a rule id (``G-ERA``) into a sentence for a data subject: those are for
operators and the audit trail.

Sources: GDPR Art 12(3)-(4), 77, 79 [K]; UK GDPR Art 12(4), 12A, 79, DPA 2018 s.164A (complaints to the
controller, from 19 June 2026) and s.167 [S] (legal-matrix §2.5 UK-DSR, UK-CMP); Cal. Code Regs. tit. 11
§§7021, 7022, 7024, 7101 (legal-matrix §2.3, §7.7, §7.8).  Authority names and websites [K]: re-check before
relying on them; DSR_SUPERVISORY_AUTHORITY overrides the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

EU, UK, CCPA = "eu_gdpr", "uk_gdpr", "ccpa"
GDPR_FAMILY = (EU, UK)

UK_CMP_FROM = date(2026, 6, 19)  # DPA 2018 s.164A (inserted by DUAA 2025 s.103) in force (legal-matrix UK-CMP)


@dataclass(frozen=True)
class Authority:
    name: str
    website: str
    address: str = ""

    def text(self) -> str:
        parts = [self.name, self.address, self.website]
        return ", ".join(p for p in parts if p)


# EU/EEA lead supervisory authority by the controller's country (GDPR Art 51, 56). [K]
AUTHORITIES: dict[str, Authority] = {
    "AT": Authority("Österreichische Datenschutzbehörde (Austrian Data Protection Authority)", "dsb.gv.at"),
    "BE": Authority("Autorité de protection des données / Gegevensbeschermingsautoriteit (Belgian Data Protection "
                    "Authority)", "dataprotectionauthority.be"),
    "BG": Authority("Commission for Personal Data Protection (Bulgaria)", "cpdp.bg"),
    "HR": Authority("Agencija za zaštitu osobnih podataka (Croatian Personal Data Protection Agency)", "azop.hr"),
    "CY": Authority("Commissioner for Personal Data Protection (Cyprus)", "dataprotection.gov.cy"),
    "CZ": Authority("Úřad pro ochranu osobních údajů (Czech Office for Personal Data Protection)", "uoou.gov.cz"),
    "DK": Authority("Datatilsynet (Danish Data Protection Agency)", "datatilsynet.dk"),
    "EE": Authority("Andmekaitse Inspektsioon (Estonian Data Protection Inspectorate)", "aki.ee"),
    "FI": Authority("Office of the Data Protection Ombudsman (Finland)", "tietosuoja.fi"),
    "FR": Authority("Commission Nationale de l'Informatique et des Libertés (CNIL)", "cnil.fr"),
    "DE": Authority("the data protection supervisory authority of the German federal state (Land) where we are "
                    "established", "bfdi.bund.de (list of the Länder authorities)"),
    "GR": Authority("Hellenic Data Protection Authority", "dpa.gr"),
    "HU": Authority("Nemzeti Adatvédelmi és Információszabadság Hatóság (NAIH, Hungary)", "naih.hu"),
    "IE": Authority("Data Protection Commission", "dataprotection.ie",
                    "21 Fitzwilliam Square South, Dublin 2, D02 RD28, Ireland"),
    "IT": Authority("Garante per la protezione dei dati personali (Italy)", "garanteprivacy.it"),
    "LV": Authority("Datu valsts inspekcija (Latvian Data State Inspectorate)", "dvi.gov.lv"),
    "LT": Authority("Valstybinė duomenų apsaugos inspekcija (Lithuanian State Data Protection Inspectorate)",
                    "vdai.lrv.lt"),
    "LU": Authority("Commission nationale pour la protection des données (CNPD, Luxembourg)", "cnpd.public.lu"),
    "MT": Authority("Information and Data Protection Commissioner (Malta)", "idpc.org.mt"),
    "NL": Authority("Autoriteit Persoonsgegevens (Dutch Data Protection Authority)", "autoriteitpersoonsgegevens.nl"),
    "PL": Authority("Urząd Ochrony Danych Osobowych (UODO, Poland)", "uodo.gov.pl"),
    "PT": Authority("Comissão Nacional de Proteção de Dados (CNPD, Portugal)", "cnpd.pt"),
    "RO": Authority("Autoritatea Națională de Supraveghere a Prelucrării Datelor cu Caracter Personal (ANSPDCP, "
                    "Romania)", "dataprotection.ro"),
    "SK": Authority("Úrad na ochranu osobných údajov (Slovak Office for Personal Data Protection)",
                    "dataprotection.gov.sk"),
    "SI": Authority("Informacijski pooblaščenec (Information Commissioner, Slovenia)", "ip-rs.si"),
    "ES": Authority("Agencia Española de Protección de Datos (AEPD)", "aepd.es"),
    "SE": Authority("Integritetsskyddsmyndigheten (IMY, Swedish Authority for Privacy Protection)", "imy.se"),
    "IS": Authority("Persónuvernd (Icelandic Data Protection Authority)", "personuvernd.is"),
    "LI": Authority("Datenschutzstelle Liechtenstein", "datenschutzstelle.li"),
    "NO": Authority("Datatilsynet (Norwegian Data Protection Authority)", "datatilsynet.no"),
}

# Germany: private controllers answer to the authority of their Land (BDSG §40). [K]
GERMAN_LAND_AUTHORITIES: dict[str, Authority] = {
    "BW": Authority("Der Landesbeauftragte für den Datenschutz und die Informationsfreiheit Baden-Württemberg",
                    "baden-wuerttemberg.datenschutz.de"),
    "BY": Authority("Bayerisches Landesamt für Datenschutzaufsicht (BayLDA)", "lda.bayern.de"),
    "BE": Authority("Berliner Beauftragte für Datenschutz und Informationsfreiheit", "datenschutz-berlin.de"),
    "BB": Authority("Die Landesbeauftragte für den Datenschutz und für das Recht auf Akteneinsicht Brandenburg",
                    "lda.brandenburg.de"),
    "HB": Authority("Die Landesbeauftragte für Datenschutz und Informationsfreiheit der Freien Hansestadt Bremen",
                    "datenschutz.bremen.de"),
    "HH": Authority("Der Hamburgische Beauftragte für Datenschutz und Informationsfreiheit", "datenschutz-hamburg.de"),
    "HE": Authority("Der Hessische Beauftragte für Datenschutz und Informationsfreiheit", "datenschutz.hessen.de"),
    "MV": Authority("Der Landesbeauftragte für Datenschutz und Informationsfreiheit Mecklenburg-Vorpommern",
                    "datenschutz-mv.de"),
    "NI": Authority("Die Landesbeauftragte für den Datenschutz Niedersachsen", "lfd.niedersachsen.de"),
    "NW": Authority("Landesbeauftragte für Datenschutz und Informationsfreiheit Nordrhein-Westfalen", "ldi.nrw.de"),
    "RP": Authority("Der Landesbeauftragte für den Datenschutz und die Informationsfreiheit Rheinland-Pfalz",
                    "datenschutz.rlp.de"),
    "SL": Authority("Unabhängiges Datenschutzzentrum Saarland", "datenschutz.saarland.de"),
    "SN": Authority("Sächsische Datenschutz- und Transparenzbeauftragte", "datenschutz.sachsen.de"),
    "ST": Authority("Landesbeauftragter für den Datenschutz Sachsen-Anhalt", "datenschutz.sachsen-anhalt.de"),
    "SH": Authority("Unabhängiges Landeszentrum für Datenschutz Schleswig-Holstein (ULD)", "datenschutzzentrum.de"),
    "TH": Authority("Thüringer Landesbeauftragter für den Datenschutz und die Informationsfreiheit", "tlfdi.de"),
}

ICO = Authority("Information Commissioner's Office (ICO)", "ico.org.uk",
                "Wycliffe House, Water Lane, Wilmslow, Cheshire SK9 5AF")
CPPA = Authority("California Privacy Protection Agency", "cppa.ca.gov")
CALIFORNIA_AG = Authority("California Attorney General", "oag.ca.gov/privacy")

UNKNOWN_EU = Authority("a data protection supervisory authority, in particular in the EU Member State where you "
                       "live or work or where the alleged infringement took place", "edpb.europa.eu (list of "
                       "authorities)")


def eu_authority(country: str, subdivision: str | None = None) -> Authority:
    """The lead supervisory authority for the controller's country (and German Land), or a generic one."""
    country = (country or "").upper()
    if country == "DE" and subdivision and subdivision.upper() in GERMAN_LAND_AUTHORITIES:
        return GERMAN_LAND_AUTHORITIES[subdivision.upper()]
    return AUTHORITIES.get(country, UNKNOWN_EU)


def knows_authority(country: str, subdivision: str | None = None) -> bool:
    """Whether the table names a specific authority (Germany needs its Land)."""
    return eu_authority(country, subdivision) not in (UNKNOWN_EU, AUTHORITIES["DE"])


# --- names ------------------------------------------------------------------------------------------------

LAW_NAMES = {
    EU: gettext_noop("the EU General Data Protection Regulation (GDPR)"),
    UK: gettext_noop("the UK General Data Protection Regulation (UK GDPR) and the Data Protection Act 2018"),
    CCPA: gettext_noop("the California Consumer Privacy Act (CCPA), as amended by the California Privacy Rights Act"),
}
SHORT_NAMES = {EU: gettext_noop("EU GDPR"), UK: gettext_noop("UK GDPR"), CCPA: gettext_noop("CCPA")}

# kind -> (GDPR name, CCPA name) of the request as a person would call it
REQUEST_NAMES: dict[str, tuple[str | None, str | None]] = {
    "access": (gettext_noop("access request"), gettext_noop("request to know")),
    "portability": (gettext_noop("data portability request"), None),
    "erasure": (gettext_noop("erasure request"), gettext_noop("request to delete")),
    "rectification": (gettext_noop("rectification request"), gettext_noop("request to correct")),
    "restriction": (gettext_noop("request to restrict processing"), None),
    "objection": (gettext_noop("objection to processing"), None),
    "direct_marketing_objection": (gettext_noop("objection to direct marketing"), None),
    "consent_withdrawal": (gettext_noop("withdrawal of consent"), None),
    "automated_decision_review": (gettext_noop("request for human review of an automated decision"), None),
    "opt_out_sale_sharing": (None, gettext_noop(
        "request to opt out of the sale or sharing of your personal information")),
    "limit_sensitive": (None, gettext_noop("request to limit the use of your sensitive personal information")),
    "complaint": (gettext_noop("complaint"), gettext_noop("complaint")),
}


def _ordered(regimes: Iterable[str]) -> list[str]:
    present = set(regimes)
    return [r for r in (EU, UK, CCPA) if r in present]


def request_name(kind: str, regimes: Iterable[str]) -> str:
    """"access request", "request to know", or "access request (under the CCPA: request to know)"."""
    gdpr, ccpa = REQUEST_NAMES.get(kind, (kind.replace("_", " ") + " request", None))
    gdpr, ccpa = (_(gdpr) if gdpr else None), (_(ccpa) if ccpa else None)
    regimes = set(regimes)
    has_gdpr, has_ccpa = bool(regimes & set(GDPR_FAMILY)), CCPA in regimes
    if has_gdpr and has_ccpa and gdpr and ccpa and gdpr != ccpa:
        return _("{gdpr} (under the CCPA: {ccpa})").format(gdpr=gdpr, ccpa=ccpa)
    if has_gdpr and gdpr:
        return gdpr
    return ccpa or gdpr or kind.replace("_", " ")


def laws_sentence(regimes: Iterable[str]) -> str:
    names = [_(LAW_NAMES[r]) for r in _ordered(regimes)]
    joined = names[0] if len(names) == 1 else _("{first} and {last}").format(first=", ".join(names[:-1]),
                                                                              last=names[-1])
    return _("Your request is handled under {laws}.").format(laws=joined)


def date_law(regime: str, purpose: str, kind: str) -> str:
    """The provision behind a response date, in words (never a rule id)."""
    extended = purpose == "extended_response"
    if kind == "complaint":  # deadlines.py P-CMP / UK-CMP: no statutory answer period for a complaint to us
        return (_("Data Protection Act 2018, section 164A (acknowledgement within 30 days); the answer date is our "
                  "own commitment") if regime == UK
                else _("our own commitment: no law sets a period for a complaint made to us"))
    if regime == EU:
        return _("EU General Data Protection Regulation, Article 12(3)") + (
            _(", extended by two further months") if extended else "")
    if regime == UK:
        return _("UK General Data Protection Regulation, Articles 12(3) and 12A") + (
            _(", extended by two further months") if extended else "")
    section = {"opt_out_sale_sharing": "§7026", "limit_sensitive": "§7027"}.get(kind, "§7021(b)")
    return _("CCPA regulations, Cal. Code Regs. tit. 11, {section}").format(section=section) + (
        _(", extended by up to 45 days (90 days in total)") if extended else "")


def ground_text(label: str, ground_regimes: Iterable[str], case_regimes: Iterable[str]) -> str:
    """A refusal ground as written in a letter: its label with the law it comes from."""
    translated = _(label)
    if set(ground_regimes) >= {EU, UK, CCPA}:
        return translated  # "other": not tied to one law
    laws = [_(SHORT_NAMES[r]) for r in _ordered(set(ground_regimes) & set(case_regimes))]
    label = label.replace(" — Art. ", " — Article ") if translated == label else translated
    return f"{label} ({_(' and ').join(laws)})" if laws else label


# --- rights -------------------------------------------------------------------------------------------------


def _uk_own(today: date) -> str:
    return (_(" You may also complain to us first (Data Protection Act 2018, section 164A): we acknowledge complaints "
              "within 30 days.") if today >= UK_CMP_FROM else "")


def refusal_rights(regimes: Iterable[str], *, authority: Authority, today: date) -> list[str]:
    """One paragraph per regime for a refusal or a partial refusal (GDPR/UK GDPR Art 12(4) apply to both,
    EDPB-ACCESS §193; CCPA regs §§7022, 7024: the basis of a denial is explained)."""
    out = []
    for r in _ordered(regimes):
        if r == EU:
            out.append(_("Under the EU General Data Protection Regulation (Article 12(4)) you may lodge a complaint "
                         "with a supervisory authority, in particular in the EU Member State where you live or work "
                         "or where the alleged infringement took place (Article 77); our lead supervisory authority "
                         "is {authority}, and you may seek a judicial remedy before the courts (Article 79)."
                         ).format(authority=authority.text()))
        elif r == UK:
            out.append(_("Under the UK General Data Protection Regulation (Article 12(4)) you may complain to the "
                         "{ico}, and you may apply to a court to enforce your rights (UK GDPR Article 79; Data "
                         "Protection Act 2018, section 167).").format(ico=ICO.text()) + _uk_own(today))
        else:
            out.append(_("Under the California Consumer Privacy Act we have given the basis of our decision above. "
                         "You may file a complaint with the {cppa} or contact the {ag}. We keep a record of your "
                         "request and our response for at least 24 months (Cal. Code Regs. tit. 11, §7101)."
                         ).format(cppa=CPPA.text(), ag=CALIFORNIA_AG.text()))
    return out


def extension_rights(regimes: Iterable[str], *, authority: Authority, today: date) -> list[str]:
    """Why the law allows the extension, and where to complain, per regime."""
    out = []
    for r in _ordered(regimes):
        if r == EU:
            out.append(_("The EU General Data Protection Regulation (Article 12(3)) allows two further months where "
                         "necessary, taking into account the complexity and number of requests. If you disagree, "
                         "you may lodge a complaint with a supervisory authority, in particular in the EU Member "
                         "State where you live or work or where the alleged infringement took place (Article 77); "
                         "our lead supervisory authority is {authority}.").format(authority=authority.text()))
        elif r == UK:
            out.append(_("The UK General Data Protection Regulation (Articles 12(3) and 12A) allows two further months "
                         "where necessary, taking into account the complexity and number of requests. If you "
                         "disagree, you may complain to the {ico}, and you may apply to a court to enforce your "
                         "rights (UK GDPR Article 79; Data Protection Act 2018, section 167)."
                         ).format(ico=ICO.text()) + _uk_own(today))
        else:
            out.append(_("The CCPA regulations (Cal. Code Regs. tit. 11, §7021(b)) allow up to 45 further days, 90 "
                         "days in total, where reasonably necessary."))
    return out


def acknowledgement_lines(regimes: Iterable[str], kind: str) -> list[str]:
    """What happens next, per regime (CCPA regs §7021(a): how the request is processed and verified)."""
    out = []
    regimes = _ordered(regimes)
    if CCPA in regimes and kind in ("opt_out_sale_sharing", "limit_sensitive"):
        out.append(_("We do not ask you to prove who you are for this request (Cal. Code Regs. tit. 11, §§7026, "
                     "7027)."))
    if CCPA in regimes and kind in ("access", "erasure", "rectification"):
        out.append(_("Under the CCPA we confirm receipt within 10 business days and answer within 45 calendar days, "
                     "or tell you within that time if we need up to 45 more (Cal. Code Regs. tit. 11, §7021)."))
    return out
