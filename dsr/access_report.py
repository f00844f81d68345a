"""The access report (issue 10 §1): what GDPR Art. 15(1)(a)-(h) and 15(2), and a CCPA request to know (§7.6),
require, read from the vault and the processing register, in plain language — tailored to this subject,
not the privacy policy copied out (EDPB-ACCESS §4.3).

One context feeds two renderings: the PDF (``templates/pdf/access_report.html``, WeasyPrint) and the
package's ``index.html`` (``templates/exports/index_head.html``); both include
``templates/exports/_report.html``. Every sentence is a Django translation string, so German comes with a
catalogue, not a rewrite.

The complaint paragraphs name the authorities from ``dsr.notices`` (the controller's lead supervisory authority
by country and German Land, the ICO, the CPPA), the same as every notice dsr sends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from dsr import notices, workflow
from dsr.export_content import EMBEDDING, Catalogue, Scope, Stats, source_for
from dsr.models import Case, Consent, ProcessingActivity, Recipient, Subject

GDPR_REGIMES = ("eu_gdpr", "uk_gdpr")

# Our categories as the CCPA's categories of personal information (Civ. Code §1798.140(v)).
CCPA_CATEGORIES = {
    "account_profile": "Identifiers (e-mail address, account name)",
    "photo": "Audio, electronic, visual or similar information (photographs)",
    "thumbnail": "Audio, electronic, visual or similar information (image previews)",
    "generated_video": "Audio, electronic, visual or similar information (generated videos)",
    "face_embedding": "Biometric information — sensitive personal information (face templates)",
    "ip_log": "Identifiers (IP addresses) and internet or other electronic network activity",
    "upload_metadata": "Internet or other electronic network activity information",
    "preferences": "Commercial information (your settings and choices)",
    "consent_record": "Records of your consents",
}


# --- rights and authorities ----------------------------------------------------------------------------------


def complaint_paragraphs(regimes: Iterable[str]) -> list[str]:
    ico, cppa, ag = notices.ICO.text(), notices.CPPA.text(), notices.CALIFORNIA_AG.text()
    out = []
    for regime in regimes:
        if regime == "eu_gdpr":
            out.append(_("You may lodge a complaint with a data protection supervisory authority, in particular in "
                         "the EU Member State where you live, where you work or where you think the law was broken "
                         "(GDPR Article 77). Our lead supervisory authority is: %(authority)s. You may also go to "
                         "court (GDPR Article 79).") % {"authority": workflow.supervisory_authority().text()})
        elif regime == "uk_gdpr":
            out.append(_("You may complain to the %(ico)s, and you may apply to a court (UK GDPR Article 79; Data "
                         "Protection Act 2018, section 167).") % {"ico": ico})
        elif regime == "ccpa":
            out.append(_("You may file a complaint with the %(cppa)s or contact the %(ag)s.")
                       % {"cppa": cppa, "ag": ag})
    return out


def rights_paragraphs(regimes: Iterable[str]) -> list[tuple[str, str]]:
    regimes = set(regimes)
    out: list[tuple[str, str]] = []
    if regimes & set(GDPR_REGIMES):
        out += [
            (_("Correct"), _("You can ask us to correct data that is wrong or to complete data that is incomplete "
                             "(Article 16).")),
            (_("Erase"), _("You can ask us to delete your data, for example when we no longer need it or you "
                           "withdraw your consent (Article 17).")),
            (_("Restrict"), _("You can ask us to limit what we do with your data while a question about it is "
                              "settled (Article 18).")),
            (_("Object"), _("You can object to processing based on our legitimate interests, and at any time to "
                            "direct marketing (Article 21).")),
            (_("Take your data elsewhere"), _("You can receive the data you gave us in a machine-readable form, "
                                              "or have it sent to another service (Article 20).")),
            (_("Withdraw consent"), _("Where we rely on your consent you can withdraw it at any time; this does "
                                      "not affect what we did before (Article 7(3)).")),
        ]
    if "ccpa" in regimes:
        out += [
            (_("Know and access"), _("You can ask what personal information we collect, use and disclose, and "
                                     "for a copy of it.")),
            (_("Delete"), _("You can ask us to delete personal information we collected from you.")),
            (_("Correct"), _("You can ask us to correct inaccurate personal information.")),
            (_("Opt out"), _("You can tell us not to sell or share your personal information.")),
            (_("Limit"), _("You can limit our use of your sensitive personal information (such as face "
                           "templates).")),
            (_("No discrimination"), _("We will not treat you differently for using these rights.")),
        ]
    return out


# --- the context --------------------------------------------------------------------------------------------


def _relevant_activities(subject: Subject, stats: Stats, catalogue: Catalogue) -> list[ProcessingActivity]:
    held = set(stats.categories)
    consented = set(Consent.objects.filter(subject=subject).values_list("purpose", flat=True))
    out = []
    for activity in catalogue.activities.values():
        uses_held = bool(held & set(activity.categories))
        if activity.purpose in stats.purposes or (uses_held and (not activity.needs_consent
                                                                 or activity.purpose in consented)):
            out.append(activity)
    return sorted(out, key=lambda a: a.name)


def _date(value: datetime | None) -> date | None:
    return value.date() if value else None


def build_context(*, case: Case, subject: Subject, package_id: uuid.UUID, scope: Scope, stats: Stats,
                  catalogue: Catalogue, withheld_note: str, now: datetime) -> dict[str, Any]:
    """Everything the report says, from the register and the counts gathered while the items streamed."""
    regimes = [r for r in ("eu_gdpr", "uk_gdpr", "ccpa") if r in case.regimes]
    gdpr = bool(set(regimes) & set(GDPR_REGIMES))
    activities = _relevant_activities(subject, stats, catalogue)
    recipient_ids = {r.pk for a in activities for r in a.recipients.all()}
    recipients = list(Recipient.objects.filter(pk__in=recipient_ids).order_by("name"))
    by_recipient = {r.pk: sorted({a.name for a in activities if r in a.recipients.all()}) for r in recipients}

    categories = []
    for category, count in sorted(stats.categories.items()):
        policy = catalogue.policies.get(category)
        categories.append({
            "code": category,
            "name": catalogue.category_label(category),
            "count": count,
            "description": policy.description if policy else "",
            "special": bool(policy and policy.special_category),
            "copy": category != EMBEDDING,
            "purposes": [a for a in activities if category in a.categories],
            "retention": policy.retention_text if policy else _("Kept while your account exists"),
            "latest_expiry": _date(stats.latest_expiry.get(category)),
            "sources": [(source_for(category, role, policy), n)
                        for (cat, role), n in sorted(stats.sources.items()) if cat == category],
            "ccpa_category": CCPA_CATEGORIES.get(category, category),
        })
    third_country = [r for r in recipients if r.is_third_country]
    automated = [a for a in activities if a.automated_decision.strip()]
    consents = Consent.objects.filter(subject=subject).count()
    requests = Case.objects.filter(subject=subject).count()
    return {
        "case": case,
        "package_id": package_id,
        "kind": scope.kind,
        "portability": scope.kind == "portability",
        "regimes": regimes,
        "gdpr": gdpr,
        "uk": "uk_gdpr" in regimes,
        "ccpa": "ccpa" in regimes,
        "controller_name": settings.DSR_CONTROLLER_NAME,
        "controller_contact": settings.DSR_CONTROLLER_CONTACT,
        "dpo_contact": settings.DSR_DPO_CONTACT,
        # Dates in the controller's statutory zone, as in every letter (workflow.notice_context), not UTC dates.
        "received_on": workflow.local_today(case.received_at, case.due_regime) if case.received_at else None,
        "generated_on": workflow.local_today(now),
        "covers_from": _date(scope.covers_from),
        "holds_anything": stats.total > 0 or bool(subject.email or subject.account_id),
        "item_total": stats.total,
        "file_total": stats.files,
        "has_identifiers": bool(subject.email or subject.account_id),
        "consent_count": consents,
        "request_count": requests,
        "categories": categories,
        "activities": activities,
        "recipients": [{"r": r, "activities": by_recipient[r.pk]} for r in recipients],
        "processors": [r for r in recipients if r.role == Recipient.Role.PROCESSOR],
        "shared_with": [r for r in recipients if r.role == Recipient.Role.CONTROLLER],
        "third_country": third_country,
        "transfer_texts": sorted({a.transfers for a in activities if a.transfers.strip()}),
        "automated": automated,
        "depicted_count": stats.roles.get("depicted", 0),
        "derived_count": stats.roles.get("derived", 0),
        "withheld": {
            "embeddings": stats.withheld_embeddings,
            "attributes": stats.withheld_attributes,
            "lineage": stats.withheld_lineage,
            "shared_items": stats.shared_items,
            "described_embeddings": stats.described_embeddings,
            "embedding_values": scope.embedding_values,
        },
        "withheld_note": withheld_note,
        "rights": rights_paragraphs(regimes),
        "complaints": complaint_paragraphs(regimes),
    }
