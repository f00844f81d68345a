"""Registry of what holds personal data, in one explicit order (design.md "Erasure cascade").

Every model that stores personal data must be claimed by exactly one holder; ``checks.py`` refuses to
start otherwise (the Sentry-deletions pattern), so a new table cannot silently escape access reports and
erasure. A model opts in by setting ``PERSONAL_DATA = True``; audit events and the register hold none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import Count

from dsr.models import (
    BreachAffected,
    Case,
    CaseMessage,
    Complaint,
    Consent,
    DataItem,
    Erasure,
    ExportPackage,
    Holding,
    ItemHash,
    Notifier,
    OutboundMessage,
    PortalFiling,
    PortalPass,
    ProcessingFlag,
    SigninRequest,
    Subject,
    SubjectKey,
    Takedown,
)


@dataclass(frozen=True)
class RecordSet:
    """What a holder adds to a subject's access package (``Holder.export``): one JSON file (schema ``records``)
    and its CSV, ``data/<holder>-<name>.json``. ``fields`` describes every key of a record in plain words;
    records hold plain JSON values, and nothing about other people."""

    name: str
    description: str
    fields: dict[str, str]
    records: list[dict[str, Any]]


@dataclass(frozen=True)
class Holder:
    name: str
    models: tuple[type[models.Model], ...]
    describe: Callable[[Subject], dict[str, int]]
    # interfaces.md: the erasure cascade calls erase(subject, ctx) -> counts; exports call export.
    erase: Callable[[Subject, Any], dict[str, int]] | None = None
    # The access package reads the core holders (identity, vault, consents, cases) itself
    # (dsr/export_content.py); ``export(subject) -> list[RecordSet]`` is how any other holder adds to it.
    export: Callable[[Subject], list[RecordSet]] | None = None


def _cascade(name: str) -> Callable[[Subject, Any], dict[str, int]]:
    def erase(subject: Subject, ctx: Any) -> dict[str, int]:
        from dsr import cascade

        return getattr(cascade, name)(subject, ctx)

    erase.__name__ = name
    return erase


def _describe_items(subject: Subject) -> dict[str, int]:
    rows = (DataItem.objects.live().filter(holders__subject=subject)
            .values("category").annotate(n=Count("pk")).order_by("category"))
    return {row["category"]: row["n"] for row in rows}


def _describe_consents(subject: Subject) -> dict[str, int]:
    return {"consent_records": Consent.objects.filter(subject=subject).count()}


def _describe_identity(subject: Subject) -> dict[str, int]:
    return {"identifiers": int(bool(subject.email)) + int(bool(subject.account_id))}


def _describe_cases(subject: Subject) -> dict[str, int]:
    return {
        "cases": Case.objects.filter(subject=subject).count(),
        "messages": OutboundMessage.objects.filter(case__subject=subject).count(),
    }


def _describe_portal(subject: Subject) -> dict[str, int]:
    return {
        "portal_filings": PortalFiling.objects.filter(subject=subject).count(),
        "verification_records": PortalPass.objects.filter(subject=subject).count(),
        "case_messages": CaseMessage.objects.filter(case__subject=subject).count(),
    }


def _export_portal(subject: Subject) -> list[RecordSet]:
    """The subject's portal submissions as they gave them and the message threads of their cases (issue 10)."""
    from dsr.export_content import iso

    filings = [{"submitted_at": iso(f.created_at), "choice": f.choice, "request_kind": f.kind,
                "case": f.case.reference if f.case_id else None, "country": f.country, "region": f.region,
                "email": f.email, "details": f.details, "where_the_content_is": f.content_ref,
                "signature": f.signature, "filed_by": f.filed_by, "agent_name": f.agent_name,
                "language": f.language, "global_privacy_control": f.gpc, "confirmed_at": iso(f.confirmed_at)}
               for f in PortalFiling.objects.filter(subject=subject).select_related("case").order_by("created_at")]
    messages = [{"case": m.case.reference, "at": iso(m.created_at), "from": "you" if m.from_subject else "us",
                 "text": m.body}
                for m in CaseMessage.objects.filter(case__subject=subject).select_related("case")
                .order_by("created_at", "id")]
    return [
        RecordSet("filings", "What you submitted through our privacy portal", {
            "submitted_at": "when you submitted it", "choice": "what you chose on the form",
            "request_kind": "the kind of request it became", "case": "the reference of that request",
            "country": "where you said you live", "region": "your state or region, if given",
            "email": "the e-mail address you gave", "details": "what you wrote",
            "where_the_content_is": "where you said a photo or video of you is",
            "signature": "the name you typed as your signature", "filed_by": "you, or an agent for you",
            "agent_name": "your agent's name, if an agent filed it", "language": "the language of the form",
            "global_privacy_control": "whether your browser sent a Global Privacy Control signal",
            "confirmed_at": "when you confirmed it was you"}, filings),
        RecordSet("messages", "Messages between you and us about your requests", {
            "case": "the reference of the request", "at": "when it was written", "from": "you or us",
            "text": "the message"}, messages),
    ]


def _erase_portal(subject: Subject, ctx: Any = None) -> dict[str, int]:
    """What the portal holds of a subject: filings as given (with any agent mandate), codes and links (only
    hashes, but they are verification records of the person), and the text of their case threads."""
    from dsr import portal

    if ctx is not None and hasattr(ctx, "fenced"):
        with ctx.fenced():  # a cascade worker that lost its lease commits nothing (dsr/steps.py)
            return portal.erase_subject_records(subject)
    return portal.erase_subject_records(subject)
def _describe_hashes(subject: Subject) -> dict[str, int]:
    return {"perceptual_hashes": ItemHash.objects.filter(item__holders__subject=subject,
                                                         item__purged_at__isnull=True).count()}


def _describe_takedowns(subject: Subject) -> dict[str, int]:
    from dsr import takedowns

    return takedowns.describe_for_subject(subject)


def _erase_hashes(subject: Subject, ctx: Any = None) -> dict[str, int]:
    """After the vault's erase: the hashes of items whose content is gone (the subject's among them)."""
    from dsr import copies

    return {"hashes_deleted": copies.purge_hashes_of_erased_items()}


def _erase_takedowns(subject: Subject, ctx: Any = None) -> dict[str, int]:
    from dsr import takedowns

    return takedowns.erase_for_subject(subject, ctx)
def _describe_breaches(subject: Subject) -> dict[str, int]:
    return {"breach_notices": BreachAffected.objects.filter(subject=subject).count()}


def _erase_breaches(subject: Subject, ctx: Any = None) -> dict[str, int]:
    # The breach keeps its counts (scope_counts) for the Art. 33(5) register; only the link to the person goes.
    from dsr.breach_notices import message_id

    rows = BreachAffected.objects.filter(subject=subject)
    # Their notices (no case, so the "cases" holder does not see them): the id is derived from (breach, subject).
    ids = [message_id(b, subject.pk) for b in rows.values_list("breach_id", flat=True)]
    messages, _ = OutboundMessage.objects.filter(pk__in=ids).delete()
    deleted, _ = rows.delete()
    return {"breach_notices": deleted, "breach_notice_messages": messages}


def _describe_exports(subject: Subject) -> dict[str, int]:
    from dsr import exports

    return exports.describe_packages(subject)


def _erase_exports(subject: Subject, ctx: Any = None) -> dict[str, int]:
    from dsr import exports  # imported late: it pulls in the PDF renderer

    return exports.erase_packages(subject, ctx)


def _describe_flags(subject: Subject) -> dict[str, int]:
    return {"processing_flags": ProcessingFlag.objects.filter(subject=subject, lifted_at__isnull=True).count()}


def _describe_erasures(subject: Subject) -> dict[str, int]:
    return {"erasures": Erasure.objects.filter(subject=subject).count()}


def _keep_erasure_records(subject: Subject, ctx: Any) -> dict[str, int]:
    # Proof of erasure is kept; its one personal datum (the sealed contact) is wiped by the cascade's last step.
    return {}


HOLDERS: tuple[Holder, ...] = (
    Holder("identity", (Subject, SubjectKey), _describe_identity, erase=_cascade("erase_identity")),
    Holder("vault", (DataItem, Holding), _describe_items, erase=_cascade("erase_vault")),
    Holder("consents", (Consent,), _describe_consents, erase=_cascade("erase_consents")),
    # Case records are kept for accountability (CCPA §7101: 24 months) and anonymised, not deleted.
    Holder("cases", (Case, OutboundMessage), _describe_cases, erase=_cascade("erase_cases")),
    Holder("portal", (PortalFiling, PortalPass, CaseMessage, SigninRequest), _describe_portal, erase=_erase_portal,
           export=_export_portal),
    # Takedown desk (issue 13): PDQ hashes of held pictures; takedown requests, their complaints and notifiers.
    Holder("perceptual_hashes", (ItemHash,), _describe_hashes, erase=_erase_hashes),
    Holder("takedowns", (Takedown, Complaint, Notifier), _describe_takedowns, erase=_erase_takedowns),
    # Access/portability packages: sealed under the subject's key, deleted (blob and row) on erasure.
    # Breach desk (issue 12): who a breach affected and the state of their notice.
    Holder("breaches", (BreachAffected,), _describe_breaches, erase=_erase_breaches),
    Holder("exports", (ExportPackage,), _describe_exports, erase=_erase_exports),
    Holder("processing_flags", (ProcessingFlag,), _describe_flags, erase=_cascade("erase_flags")),
    Holder("erasures", (Erasure,), _describe_erasures, erase=_keep_erasure_records),
)


def claimed_models() -> set[type[models.Model]]:
    return {m for h in HOLDERS for m in h.models}


def unclaimed_personal_models() -> list[type[models.Model]]:
    claimed = claimed_models()
    return [
        m
        for m in apps.get_models()
        if getattr(m, "PERSONAL_DATA", False) and m not in claimed
    ]


def describe(subject: Subject) -> dict[str, dict[str, int]]:
    return {h.name: h.describe(subject) for h in HOLDERS}
