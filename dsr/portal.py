"""The public portal's rules (issue 11): what a person may ask for in plain words, which law applies where they
live, how a filing becomes a case, how a person proves they control the address on file, and what the status
page may show. Views parse and render; everything that changes state is here, with its audit event.

The security bar (security.md): nothing is revealed before verification and nothing irreversible happens on an
impostor's word. So the request path does the same work whoever the address belongs to — it stores the filing and
enqueues its id — and the job finds the subject, files the case and sends the code *only to the address on file*
(for a subject dsr does not know, to the address given). A code proves control of that address; an account holder
asking for access, a copy or erasure also confirms through the platform's own sign-in (the hand-off); depicted
people and agents go to an operator; an opt-out of sale or sharing needs no verification at all (CCPA §7026).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from dsr import audit, crypto, deadlines, emails, keys, vault, workflow
from dsr.deadlines import Kind, Purpose, Regime
from dsr.models import (
    Case,
    CaseMessage,
    CaseState,
    Channel,
    Event,
    FiledBy,
    LegalBasis,
    PortalFiling,
    PortalPass,
    ProcessingActivity,
    SigninRequest,
    Subject,
)
from dsr.models.cases import OPEN_STATES
from dsr.models.register import EEA_COUNTRIES

ACTOR = "portal:subject"
GPC_ACTOR = "portal:gpc"
DEPICTED_INTAKE = "depicted_person"
# Kinds for which an account holder also confirms through the platform's own sign-in (§7061, EDPB-ACCESS §§72-75).
ACCOUNT_KINDS = frozenset({Kind.ACCESS, Kind.PORTABILITY, Kind.ERASURE})
# Kinds that set no identity bar: the opt-out and limit requests must not be verified (C-OPT, C-LIM); an objection
# to direct marketing and a withdrawal of consent are honoured at once; a complaint is heard from anyone.
NO_IDENTITY_KINDS = workflow.NO_VERIFICATION_KINDS | workflow.IMMEDIATE_KINDS | {Kind.COMPLAINT}


class PortalError(Exception):
    """Bad input: the message is shown to the person, next to the field it names."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message, self.field = message, field


# --- what a person can ask for ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    key: str
    label: Any
    hint: Any
    kind: Kind | None  # None: decided by the purpose chosen (objections)


CHOICES: tuple[Choice, ...] = (
    Choice("access", _("Get a copy of my data"),
           _("We tell you what we hold about you, why, who receives it, and send you a copy."), Kind.ACCESS),
    Choice("portability", _("Download my data to take elsewhere"),
           _("The data you gave us, in a file another service can read."), Kind.PORTABILITY),
    Choice("erasure", _("Delete my data"),
           _("We delete what we hold about you, unless the law makes us keep something — then we tell you what "
             "and why. You can change your mind during a short waiting period."), Kind.ERASURE),
    Choice("rectification", _("Correct my data"),
           _("Tell us below what is wrong and what it should say."), Kind.RECTIFICATION),
    Choice("objection", _("Stop using my data for …"),
           _("Choose below what you want us to stop."), None),
    Choice("restriction", _("Restrict use while something is checked"),
           _("We keep your data but stop using it while a question about it is settled."), Kind.RESTRICTION),
    Choice("opt_out", _("Do not sell or share my data"),
           _("For residents of California. No proof of identity needed."), Kind.OPT_OUT_SALE_SHARING),
    Choice("limit", _("Limit use of my sensitive data"),
           _("For residents of California: we use sensitive data, such as your face, only for what you asked "
             "for. No proof of identity needed."), Kind.LIMIT_SENSITIVE),
    Choice("complaint", _("Complain about how my data was handled"),
           _("Tell us below what happened. We confirm receipt and tell you what we did about it."), Kind.COMPLAINT),
    Choice("depicted", _("I appear in a photo or video on this platform and did not agree"),
           _("You do not need an account. Tell us below where it is; our team checks it and deletes your face data "
             "and everything made from it."), Kind.ERASURE),
)
CHOICES_BY_KEY = {c.key: c for c in CHOICES}


@dataclass(frozen=True)
class PurposeChoice:
    purpose: str
    name: str
    kind: Kind


# The seeded register's activity names, marked so they are translated where the portal shows them; an activity
# added later shows as the DPO named it until its translation is added.
REGISTER_NAMES = (
    gettext_noop("Generating videos from uploaded photos"),
    gettext_noop("Face detection and embedding"),
    gettext_noop("Providing the account and the service"),
    gettext_noop("Security and abuse prevention"),
    gettext_noop("Keeping proof of consent"),
    gettext_noop("Direct marketing e-mails and ad measurement"),
)


def objection_purposes() -> list[PurposeChoice]:
    """The purposes of the processing register a person can object to, each with the right it engages: an
    objection to direct marketing is absolute (Art. 21(2)); consent-based processing stops when consent is
    withdrawn (Art. 7(3)); processing on legitimate interests or a public task can be objected to (Art. 21(1)).
    Processing needed for a contract or a legal obligation has no such right, so it is not offered."""
    out = []
    for activity in ProcessingActivity.objects.order_by("name"):
        if activity.direct_marketing:
            kind = Kind.DIRECT_MARKETING_OBJECTION
        elif activity.legal_basis in LegalBasis.consent_based():
            kind = Kind.CONSENT_WITHDRAWAL
        elif activity.legal_basis in (LegalBasis.LEGITIMATE_INTERESTS, LegalBasis.PUBLIC_TASK):
            kind = Kind.OBJECTION
        else:
            continue
        out.append(PurposeChoice(activity.purpose, activity.name, kind))
    return out


# --- where the person lives → which law --------------------------------------------------------------------

COUNTRY_NAMES: dict[str, Any] = {
    "AT": _("Austria"), "BE": _("Belgium"), "BG": _("Bulgaria"), "HR": _("Croatia"), "CY": _("Cyprus"),
    "CZ": _("Czechia"), "DK": _("Denmark"), "EE": _("Estonia"), "FI": _("Finland"), "FR": _("France"),
    "DE": _("Germany"), "GR": _("Greece"), "HU": _("Hungary"), "IS": _("Iceland"), "IE": _("Ireland"),
    "IT": _("Italy"), "LV": _("Latvia"), "LI": _("Liechtenstein"), "LT": _("Lithuania"), "LU": _("Luxembourg"),
    "MT": _("Malta"), "NL": _("Netherlands"), "NO": _("Norway"), "PL": _("Poland"), "PT": _("Portugal"),
    "RO": _("Romania"), "SK": _("Slovakia"), "SI": _("Slovenia"), "ES": _("Spain"), "SE": _("Sweden"),
    "GB": _("United Kingdom"), "US": _("United States"), "ZZ": _("Another country"),
}
US_STATES = {"CA": _("California"), "OTHER": _("Another US state")}


def home_regimes(country: str, region: str = "") -> list[str]:
    """The regime of where the person lives: the UK → UK GDPR; the EU/EEA → GDPR; California → CCPA/CPRA;
    anywhere else the controller's own regime (DSR_PORTAL_FALLBACK_REGIME: an EU-established controller is bound
    by the GDPR for all its processing, Art. 3(1))."""
    country = (country or "").upper()
    if country == "GB":
        return [Regime.UK_GDPR.value]
    if country in EEA_COUNTRIES:
        return [Regime.EU_GDPR.value]
    if country == "US" and (region or "").upper() == "CA":
        return [Regime.CCPA.value]
    return [settings.DSR_PORTAL_FALLBACK_REGIME]


def infer_regimes(kind: Kind, country: str, region: str = "") -> list[str]:
    """The regimes a filing is handled under: those of where the person lives that know the request; if none
    does, the controller's own regime if it knows it; otherwise PortalError, telling the person what to choose
    instead. An operator can change the result afterwards (workflow.change_regimes)."""
    home = home_regimes(country, region)
    fitting = [r for r in home if deadlines.supports(r, kind)]
    if fitting:
        return fitting
    fallback = settings.DSR_PORTAL_FALLBACK_REGIME
    if deadlines.supports(fallback, kind):
        return [fallback]
    if kind in (Kind.OPT_OUT_SALE_SHARING, Kind.LIMIT_SENSITIVE):
        raise PortalError(_("This choice is a right under California law. Where you live, choose “Stop using my "
                            "data for …” and pick what you want us to stop."), "choice")
    raise PortalError(_("This request is not available where you live. Please choose another one."), "choice")


# --- filing ----------------------------------------------------------------------------------------------------


@dataclass
class Submission:
    """A validated portal form (dsr/forms.py builds it)."""

    choice: str
    email: str
    country: str
    region: str = ""
    purpose: str = ""
    details: str = ""
    content_ref: str = ""
    signature: str = ""
    agent_name: str = ""
    agent_email: str = ""
    mandate: bytes | None = None
    mandate_type: str = ""
    language: str = "en"
    gpc: bool = False

    @property
    def is_agent(self) -> bool:
        return bool(self.agent_name or self.agent_email or self.mandate)


def resolve_kind(sub: Submission) -> Kind:
    choice = CHOICES_BY_KEY.get(sub.choice)
    if choice is None:
        raise PortalError(_("Choose what you would like us to do."), "choice")
    if choice.kind is not None:
        return choice.kind
    purposes = {p.purpose: p for p in objection_purposes()}
    if sub.purpose not in purposes:
        raise PortalError(_("Choose what you want us to stop using your data for."), "purpose")
    return purposes[sub.purpose].kind


def _digest(label: str, value: str) -> str:
    return hmac.new(keys.pseudonym_key(), f"portal|{label}|{value}".encode(), hashlib.sha256).hexdigest()


def fingerprint(sub: Submission, kind: Kind, regimes: list[str], now: datetime) -> str:
    """The same submission within the same window (DSR_PORTAL_DUPLICATE_HOURS) has the same fingerprint, so a
    double click, a reload or twenty concurrent replays make one filing, one case, one e-mail."""
    window = int(now.timestamp()) // (settings.DSR_PORTAL_DUPLICATE_HOURS * 3600)
    mandate = hashlib.sha256(sub.mandate).hexdigest() if sub.mandate else ""
    fields = [sub.choice, kind.value, sub.purpose, sorted(regimes), sub.email, sub.country, sub.region,
              " ".join(sub.details.split()), " ".join(sub.content_ref.split()), " ".join(sub.signature.split()),
              " ".join(sub.agent_name.split()), sub.agent_email, mandate, window]
    return _digest("filing", json.dumps(fields, ensure_ascii=False))


def _seal_mandate(filing_id: uuid.UUID, data: bytes) -> tuple[bytes, str]:
    """The agent's mandate under its own data key, wrapped by the key ring: never stored in clear."""
    data_key = crypto.new_data_key()
    context = f"dsr-portal-mandate|{filing_id}".encode()
    wrapped = keys.get_keyring().wrap(data_key, context=context)
    return crypto.seal(data_key, data, aad=context), wrapped


def open_mandate(filing: PortalFiling) -> bytes:
    context = f"dsr-portal-mandate|{filing.pk}".encode()
    data_key = keys.get_keyring().unwrap(filing.mandate_wrapped_key, context=context)
    return crypto.open_sealed(data_key, bytes(filing.mandate_sealed), aad=context)


def receive(sub: Submission, *, now: datetime) -> tuple[PortalFiling, bool]:
    """The request path: store the filing and enqueue its id. Identical work whoever the address belongs to —
    nothing here looks at subjects. Returns (filing, created); a duplicate returns the first filing."""
    kind = resolve_kind(sub)
    regimes = infer_regimes(kind, sub.country, sub.region)
    try:
        workflow.validate_request(kind=kind.value, regimes=regimes)
    except workflow.WorkflowError as exc:
        raise PortalError(_("This request cannot be filed online at the moment. Please write to us."),
                          "choice") from exc
    fp = fingerprint(sub, kind, regimes, now)
    existing = PortalFiling.objects.filter(fingerprint=fp).first()
    if existing is not None:
        return existing, False
    filing_id = uuid.uuid4()
    sealed, wrapped = _seal_mandate(filing_id, sub.mandate) if sub.mandate else (None, "")
    try:
        with transaction.atomic():
            filing = PortalFiling.objects.create(
                id=filing_id, fingerprint=fp, created_at=now, choice=sub.choice, kind=kind.value,
                purpose=sub.purpose if sub.choice == "objection" else "", regimes=regimes,
                country=sub.country, region=sub.region, email=sub.email, details=sub.details,
                content_ref=sub.content_ref, signature=sub.signature,
                filed_by=FiledBy.AGENT if sub.is_agent else FiledBy.SUBJECT,
                agent_name=sub.agent_name, agent_email=sub.agent_email, mandate_sealed=sealed,
                mandate_wrapped_key=wrapped, mandate_type=sub.mandate_type if sub.mandate else "",
                mandate_size=len(sub.mandate or b""), language=sub.language, gpc=sub.gpc,
            )
            audit.record("portal.filed", actor="portal:web", now=now, object_type="portal_filing",
                         object_id=filing.pk, data={"kind": kind.value, "regimes": regimes, "agent": sub.is_agent,
                                                    "depicted": sub.choice == "depicted", "gpc": sub.gpc})
            transaction.on_commit(lambda: _enqueue("dsr.jobs.process_portal_filing", str(filing_id)))
    except IntegrityError:
        # A concurrent identical filing won the insert; its job does the work.
        return PortalFiling.objects.get(fingerprint=fp), False
    return filing, True


def _enqueue(func: str, object_id: str) -> None:
    from django_q.tasks import async_task

    async_task(func, object_id, task_name=f"{func.rsplit('.', 1)[-1]}-{object_id}")


def _details_text(filing: PortalFiling) -> str:
    """What the operator reads on the case: the person's words, and for a depicted person the four elements of
    a valid removal request (takedown.md) as given."""
    parts = []
    if filing.choice == "depicted":
        parts.append("Depicted person: appears in a photo or video on the platform and did not agree. Until the "
                     "takedown desk exists: erase their face data and everything derived from it.")
        parts.append(f"Where it is: {filing.content_ref}")
        parts.append("Good-faith statement: given (box ticked on the form).")
    if filing.purpose:
        parts.append(f"Purpose objected to: {filing.purpose}")
    if filing.details:
        parts.append(filing.details)
    if filing.signature:
        parts.append(f"Signed: {filing.signature}")
    if filing.is_agent:
        parts.append(f"Filed by an authorized agent: {filing.agent_name} <{filing.agent_email}>; mandate attached "
                     f"({filing.mandate_type}, {filing.mandate_size} bytes). The data goes to the subject only.")
    return "\n\n".join(parts)


def process_filing(filing_id: str, *, now: datetime) -> str:
    """The job behind a filing (ids only in its arguments; safe to run twice). Steps: find the subject by the
    address given, or create one; file the case (idempotent on the filing's fingerprint) without the generic
    acknowledgement; put it where it belongs — opt-outs complete at once, requests needing identity wait for
    verification; record a Global Privacy Control opt-out if the browser sent one; send one message, to the
    address on file only, with the code, the link and the acknowledgement."""
    with transaction.atomic():
        filing = PortalFiling.objects.select_for_update().filter(pk=filing_id).first()
        if filing is None or filing.processed_at is not None:
            return "nothing to do"
        kind = Kind(filing.kind)
        subject_kind = Subject.Kind.DEPICTED if filing.choice == "depicted" else Subject.Kind.ACCOUNT_HOLDER
        try:
            subject, _created = vault.find_or_create_subject(actor="portal:web", now=now, email=filing.email,
                                                             kind=subject_kind)
        except (vault.VaultError, ValueError):
            filing.processed_at = now
            filing.save(update_fields=["processed_at"])
            audit.record("portal.filing_unusable", actor="portal:web", now=now, object_type="portal_filing",
                         object_id=filing.pk, data={"reason": "subject"})
            return "unusable"
        case, created = workflow.submit_case(
            kind=kind.value, regimes=list(filing.regimes), subject=subject, received_at=filing.created_at,
            actor="portal:web", now=now, channel=Channel.WEB_FORM, filed_by=filing.filed_by,
            agent_name=filing.agent_name, details=_details_text(filing), idempotency_key=f"portal:{filing.fingerprint}",
            intake=DEPICTED_INTAKE if filing.choice == "depicted" else "", acknowledge=False,
        )
        filing.subject, filing.case, filing.processed_at = subject, case, now
        filing.save(update_fields=["subject", "case", "processed_at"])
        sent = _send_code(filing, subject, case, now=now, acknowledging=created)
        if created:
            _route(case, filing, now=now)
        if filing.gpc:
            record_gpc(subject, now=now)
    return f"case={case.pk} created={created} mailed={sent}"


def _route(case: Case, filing: PortalFiling, *, now: datetime) -> None:
    kind = Kind(case.kind)
    if kind is Kind.OPT_OUT_SALE_SHARING:
        # C-OPT: no verification; the opt-out is recorded by completing the case (the confirmation §7026 asks for).
        workflow.complete_case(case, note="", actor="portal:web", now=now)
    elif kind not in NO_IDENTITY_KINDS:
        workflow.request_verification(case, actor="portal:web", now=now)


def _mails_this_hour(subject: Subject, now: datetime) -> int:
    # Messages anyone can trigger from the portal; an operator's question (minted_by "operator") does not count.
    return (PortalPass.objects.filter(subject=subject, kind__in=[PortalPass.Kind.EMAIL, PortalPass.Kind.SIGNIN],
                                      created_at__gte=now - timedelta(hours=1))
            .exclude(minted_by="operator").count())


def _new_pass(kind: str, subject: Subject, *, now: datetime, filing: PortalFiling | None = None,
              lifetime: timedelta, with_code: bool, minted_by: str = "") -> tuple[PortalPass, str, str]:
    """A pass with a fresh link token (and a six-digit code): only keyed hashes are stored."""
    pass_id = uuid.uuid4()
    token = secrets.token_urlsafe(32)
    code = f"{secrets.randbelow(10**6):06d}" if with_code else ""
    p = PortalPass.objects.create(
        id=pass_id, kind=kind, subject=subject, filing=filing, token_hash=_digest("token", token),
        code_hash=_digest(f"code:{pass_id}", code) if code else "", created_at=now, expires_at=now + lifetime,
        minted_by=minted_by,
    )
    return p, token, code


def _link(token: str) -> str:
    return settings.DSR_BASE_URL.rstrip("/") + reverse("portal-link", args=[token])


def _send_code(filing: PortalFiling, subject: Subject, case: Case, *, now: datetime, acknowledging: bool) -> bool:
    """Supersede the filing's earlier codes and send a new one — to the address on file, never to one given with
    a request, and at most DSR_PORTAL_MAILS_PER_SUBJECT_HOUR times an hour per subject."""
    address = subject.email
    if not address:
        return False
    if _mails_this_hour(subject, now) >= settings.DSR_PORTAL_MAILS_PER_SUBJECT_HOUR:
        audit.record("portal.mail_suppressed", actor="portal:web", now=now, object_type="case", object_id=case.pk,
                     subject_ref=subject.reference, data={"reason": "per_subject_limit"})
        return False
    PortalPass.objects.filter(filing=filing, kind=PortalPass.Kind.EMAIL, used_at__isnull=True,
                              superseded_at__isnull=True).update(superseded_at=now)
    lifetime = timedelta(minutes=settings.DSR_PORTAL_CODE_MINUTES)
    _p, token, code = _new_pass(PortalPass.Kind.EMAIL, subject, now=now, filing=filing, lifetime=lifetime,
                                with_code=True)
    with translation.override(filing.language):
        context = {
            "case": case, "code": code, "link": _link(token), "minutes": settings.DSR_PORTAL_CODE_MINUTES,
            "request_name": request_name(case.kind), "dates": due_dates_in_words(case),
            "agent": filing.agent_name if filing.is_agent else "", "depicted": filing.choice == "depicted",
            "needs_confirmation": Kind(case.kind) not in NO_IDENTITY_KINDS,
            "opt_out_done": Kind(case.kind) is Kind.OPT_OUT_SALE_SHARING,
        }
        emails.queue("portal_code", to=address, context=context, now=now, case=case)
    if acknowledging and case.acknowledged_at is None:
        workflow.record_acknowledgement(case, channel="email", actor="portal:web", now=now)
    audit.record("portal.code_sent", actor="portal:web", now=now, object_type="case", object_id=case.pk,
                 subject_ref=subject.reference, data={"filing": str(filing.pk)})
    return True


def resend_code(filing_id: str, *, now: datetime) -> str:
    """Job: a new code for a filing whose code was lost, expired or locked (same limits as the first)."""
    with transaction.atomic():
        filing = PortalFiling.objects.select_for_update(of=("self",)).select_related("subject", "case").filter(
            pk=filing_id).first()
        if filing is None or filing.subject is None or filing.case is None or filing.confirmed_at is not None:
            return "nothing to do"
        return "sent" if _send_code(filing, filing.subject, filing.case, now=now, acknowledging=False) else "not sent"


# --- proving who you are -------------------------------------------------------------------------------------


class Refused(Exception):
    """A code or link that does not work; ``reason`` is one of wrong, expired, used, locked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Login:
    """Who the status page is for, and how they proved it."""

    subject_id: str
    method: str  # "email" (code or link to the address on file) or "account" (the platform's hand-off)


def check_code(filing_id: str | None, code: str, *, now: datetime) -> Login:
    """The code typed on the confirmation page, for the filing this browser made. Wrong codes count; after
    DSR_PORTAL_CODE_MAX_TRIES the code is locked (a new one must be asked for). The same work is done when there
    is no code to compare with, so the answer's timing does not tell the cases apart."""
    code = "".join(ch for ch in (code or "") if ch.isdigit())[:6]
    refused = ""
    with transaction.atomic():  # the attempt counts even though the answer is a refusal: commit, then refuse
        p = None
        if filing_id:
            p = (PortalPass.objects.select_for_update(of=("self",)).select_related("filing")
                 .filter(filing_id=filing_id, kind=PortalPass.Kind.EMAIL, superseded_at__isnull=True)
                 .order_by("-created_at").first())
        expected = p.code_hash if p else _digest("code:none", "000000")
        matches = hmac.compare_digest(_digest(f"code:{p.pk if p else 'none'}", code), expected) and p is not None
        if p is None:
            refused = "wrong"
        elif p.used_at is not None:
            refused = "used"
        elif p.locked_at is not None:
            refused = "locked"
        elif now >= p.expires_at:
            refused = "expired"
        elif not matches:
            p.attempts += 1
            locked = p.attempts >= settings.DSR_PORTAL_CODE_MAX_TRIES
            if locked:
                p.locked_at = now
            p.save(update_fields=["attempts", "locked_at"])
            audit.record("portal.code_refused", actor="portal:web", now=now, object_type="portal_pass",
                         object_id=p.pk, subject_ref=audit.subject_reference(p.subject_id),
                         data={"attempts": p.attempts, "locked": locked})
            refused = "locked" if locked else "wrong"
        else:
            p.used_at = now
            p.save(update_fields=["used_at"])
            confirm_filing(p.filing, method="email_code", now=now)
    if refused or p is None:
        raise Refused(refused or "wrong")
    return Login(str(p.subject_id), "email")


def use_link(token: str, *, now: datetime) -> Login:
    """A single-use link from an e-mail (code link or sign-in link) or the platform's hand-off."""
    with transaction.atomic():
        p = (PortalPass.objects.select_for_update(of=("self",)).select_related("filing")
             .filter(token_hash=_digest("token", token or "")).first())
        if p is None:
            raise Refused("wrong")
        if p.used_at is not None:
            raise Refused("used")
        if p.superseded_at is not None or p.locked_at is not None or now >= p.expires_at:
            raise Refused("expired")
        p.used_at = now
        p.save(update_fields=["used_at"])
        audit.record("portal.link_used", actor=ACTOR, now=now, object_type="portal_pass", object_id=p.pk,
                     subject_ref=audit.subject_reference(p.subject_id), data={"kind": p.kind})
        if p.kind == PortalPass.Kind.EMAIL and p.filing is not None:
            confirm_filing(p.filing, method="email_link", now=now)
        return Login(str(p.subject_id), "account" if p.kind == PortalPass.Kind.HANDOFF else "email")


def peek_link(token: str, *, now: datetime) -> str | None:
    """The kind of a usable link (for the page that asks the person to continue), without using it."""
    p = PortalPass.objects.filter(token_hash=_digest("token", token or "")).first()
    return p.kind if p is not None and p.usable(now) else None


def confirm_filing(filing: PortalFiling, *, method: str, now: datetime) -> None:
    """The subject controls the address on file and confirmed *this* filing (a code confirms only the filing it
    was sent for, so a request someone else filed in their name is never confirmed by accident). Then: a request
    that only needs that is verified; an account holder's access, copy or erasure still waits for the platform's
    sign-in; an agent's or a depicted person's request goes to an operator."""
    if filing.confirmed_at is None:
        filing.confirmed_at = now
        filing.save(update_fields=["confirmed_at"])
    case = Case.objects.select_related("subject").filter(pk=filing.case_id).first()
    if case is None:
        return
    audit.record("case.confirmed_by_subject", actor=ACTOR, now=now, object_type="case", object_id=case.pk,
                 subject_ref=case.subject_ref, data={"method": method, "agent": filing.is_agent,
                                                     "depicted": filing.choice == "depicted"})
    if verification_route(case, filing) == "email" and case.is_open and not case.verified_at:
        workflow.verify_identity(case, method="email_code", actor=ACTOR, now=now)


def verification_route(case: Case, filing: PortalFiling | None) -> str:
    """How this case's requester proves who they are: 'none', 'email' (the code), 'account' (the platform's
    hand-off), or 'operator' (agent mandate + the subject's own confirmation, or a depicted person)."""
    kind = Kind(case.kind)
    if kind in NO_IDENTITY_KINDS:
        return "none"
    if case.filed_by == FiledBy.AGENT or case.intake == DEPICTED_INTAKE:
        return "operator"
    if case.subject is not None and case.subject.account_id and kind in ACCOUNT_KINDS:
        return "account"
    return "email"


def confirm_by_account(case: Case, login: Login, *, now: datetime) -> None:
    """The account holder, signed in through the platform's hand-off moments ago, confirms one of their own
    requests (CCPA §7061: re-authentication before disclosing or deleting)."""
    if login.method != "account" or str(case.subject_id) != login.subject_id:
        raise PortalError(_("Sign in through your account on the platform to confirm this request."))
    if verification_route(case, None) != "account" or case.verified_at or not case.is_open:
        raise PortalError(_("This request does not need to be confirmed."))
    workflow.verify_identity(case, method="account_reauth", actor=ACTOR, now=now)


def mint_handoff(subject: Subject, *, reauthenticated_at: datetime, actor: str, now: datetime) -> tuple[str, datetime]:
    """The platform's signed-in user is handed to the portal: a short-lived, single-use link for this subject
    only. The platform must have re-authenticated the user moments before (§7061, security.md step-up)."""
    if reauthenticated_at > now + timedelta(seconds=30):
        raise PortalError("reauthenticated_at is in the future", "reauthenticated_at")
    if now - reauthenticated_at > timedelta(seconds=settings.DSR_PORTAL_REAUTH_SECONDS):
        raise PortalError(f"the user must have re-authenticated within the last {settings.DSR_PORTAL_REAUTH_SECONDS}"
                          " seconds", "reauthenticated_at")
    if subject.is_erased:
        raise PortalError("this subject was erased", "subject")
    lifetime = timedelta(seconds=settings.DSR_PORTAL_HANDOFF_SECONDS)
    p, token, _code = _new_pass(PortalPass.Kind.HANDOFF, subject, now=now, lifetime=lifetime, with_code=False,
                                minted_by=actor)
    audit.record("portal.handoff_minted", actor=actor, now=now, object_type="portal_pass", object_id=p.pk,
                 subject_ref=subject.reference, data={"expires_at": p.expires_at.isoformat()})
    return settings.DSR_BASE_URL.rstrip("/") + reverse("portal-handoff", args=[token]), p.expires_at


def ask_for_signin(address: str, *, language: str, now: datetime) -> None:
    """The request path of 'send me a link to my requests': store the address, enqueue the row's id."""
    row = SigninRequest.objects.create(email=address, language=language, created_at=now)
    transaction.on_commit(lambda: _enqueue("dsr.jobs.portal_signin", str(row.pk)))


def send_signin(request_id: str, *, now: datetime) -> str:
    """Job: a sign-in link to the status page, to the address on file, if dsr holds requests for it; the request
    row is deleted either way."""
    with transaction.atomic():
        row = SigninRequest.objects.select_for_update().filter(pk=request_id).first()
        if row is None:
            return "nothing to do"
        address, language = row.email, row.language
        row.delete()
        try:
            address = vault.normalise_email(address)
        except ValueError:
            return "nothing to do"
        subject = Subject.objects.filter(email=address).first()
        if subject is None or not subject.cases.exists():
            return "nothing to do"
        if _mails_this_hour(subject, now) >= settings.DSR_PORTAL_MAILS_PER_SUBJECT_HOUR:
            return "limited"
        lifetime = timedelta(minutes=settings.DSR_PORTAL_CODE_MINUTES)
        _p, token, _code = _new_pass(PortalPass.Kind.SIGNIN, subject, now=now, lifetime=lifetime, with_code=False)
        with translation.override(language):
            emails.queue("portal_signin", to=subject.email, now=now,
                         context={"link": _link(token), "minutes": settings.DSR_PORTAL_CODE_MINUTES})
    return "sent"


# --- Global Privacy Control (CCPA §7025) ----------------------------------------------------------------------


def record_gpc(subject: Subject, *, now: datetime) -> Case | None:
    """A browser sent ``Sec-GPC: 1`` for an identified subject: an opt-out of sale and sharing is recorded as a
    case that completes at once, without verification (legal-matrix §7.5, §7026(a)); once per subject."""
    with transaction.atomic():
        # One opt-out per subject even when two signalled requests arrive at once: serialise on the subject row.
        Subject.objects.select_for_update().filter(pk=subject.pk).values_list("pk", flat=True).first()
        existing = (Case.objects.filter(subject=subject, kind=Kind.OPT_OUT_SALE_SHARING)
                    .exclude(state__in=[CaseState.CANCELLED, CaseState.REFUSED]).first())
        if existing is not None:
            return None
        try:
            case, created = workflow.submit_case(
                kind=Kind.OPT_OUT_SALE_SHARING.value, regimes=[Regime.CCPA.value], subject=subject,
                received_at=now, actor=GPC_ACTOR, now=now, channel=Channel.GPC,
                details="Global Privacy Control signal (Sec-GPC: 1).",
                idempotency_key=f"gpc:{subject.pk}:{int(now.timestamp())}",
            )
        except workflow.WorkflowError:
            return None
        if created:
            workflow.complete_case(case, actor=GPC_ACTOR, now=now)
    return case


def opted_out(subject: Subject) -> bool:
    """Whether the subject's opt-out of sale/sharing is on record (a completed opt-out case)."""
    return Case.objects.filter(subject=subject, kind=Kind.OPT_OUT_SALE_SHARING, state=CaseState.COMPLETED).exists()


# --- the case thread ---------------------------------------------------------------------------------------------


def post_message(case: Case, *, body: str, from_subject: bool, actor: workflow.Actor, now: datetime) -> CaseMessage:
    """A question from an operator (the subject is told at the address on file, with a sign-in link) or an
    answer from the subject on the status page."""
    body = (body or "").strip()
    if len(body) < 2:
        raise PortalError(_("Write a message first."), "body")
    if len(body) > 5000:
        raise PortalError(_("Please keep the message under 5,000 characters."), "body")
    with transaction.atomic():
        message = CaseMessage.objects.create(case=case, from_subject=from_subject, body=body, created_at=now,
                                             author="subject" if from_subject else workflow.actor_label(actor))
        audit.record("case.message_from_subject" if from_subject else "case.message_to_subject",
                     actor=workflow.actor_label(actor), now=now, object_type="case", object_id=case.pk,
                     subject_ref=case.subject_ref, data={"message": message.pk})
        subject = case.subject
        if not from_subject and subject is not None and subject.email:
            _p, token, _code = _new_pass(PortalPass.Kind.SIGNIN, subject, now=now, with_code=False,
                                         lifetime=timedelta(days=3), minted_by="operator")
            filing = case.portal_filings.order_by("created_at").first()
            with translation.override(filing.language if filing else settings.LANGUAGE_CODE):
                emails.queue("portal_question", to=subject.email, now=now, case=case,
                             context={"case": case, "question": body, "link": _link(token),
                                      "request_name": request_name(case.kind)})
    return message


# --- what the status page shows ----------------------------------------------------------------------------------

STATE_WORDS = {
    CaseState.RECEIVED: _("Received"),
    CaseState.AWAITING_VERIFICATION: _("Waiting for confirmation that it is you"),
    CaseState.IN_PROGRESS: _("In progress"),
    CaseState.EXTENDED: _("In progress (deadline extended)"),
    CaseState.PAUSED: _("Waiting for your answer"),
    CaseState.COMPLETED: _("Completed"),
    CaseState.REFUSED: _("Closed: we could not do what you asked"),
    CaseState.CANCELLED: _("Withdrawn"),
}

KIND_WORDS = {
    Kind.ACCESS: _("Copy of your data"),
    Kind.PORTABILITY: _("Your data to take elsewhere"),
    Kind.ERASURE: _("Deletion of your data"),
    Kind.RECTIFICATION: _("Correction of your data"),
    Kind.RESTRICTION: _("Restricted use of your data"),
    Kind.OBJECTION: _("Objection to a use of your data"),
    Kind.DIRECT_MARKETING_OBJECTION: _("No more marketing"),
    Kind.CONSENT_WITHDRAWAL: _("Withdrawal of your consent"),
    Kind.AUTOMATED_DECISION_REVIEW: _("Human review of an automated decision"),
    Kind.OPT_OUT_SALE_SHARING: _("Do not sell or share my data"),
    Kind.LIMIT_SENSITIVE: _("Limited use of your sensitive data"),
    Kind.COMPLAINT: _("Complaint"),
}


def request_name(kind: str) -> str:
    return str(KIND_WORDS.get(Kind(kind), kind))


# Why a date is what it is, per rule, in words a person understands (the provisions as in dsr/notices.py).
_RULE_WORDS = {
    "EU": _("The EU General Data Protection Regulation (Article 12(3)) gives us one month from the day we received "
            "your request; a last day on a weekend or public holiday moves to the next working day."),
    "EU_EXT": _("We extended the deadline by two further months, as the EU General Data Protection Regulation "
                "(Article 12(3)) allows for complex requests, and told you why."),
    "UK": _("The UK General Data Protection Regulation (Articles 12(3) and 12A) gives us one month from the day we "
            "received your request; a last day on a weekend or bank holiday moves to the next working day."),
    "UK_EXT": _("We extended the deadline by two further months, as the UK General Data Protection Regulation "
                "(Articles 12(3) and 12A) allows for complex requests, and told you why."),
    "CCPA": _("The California Consumer Privacy Act regulations (Cal. Code Regs. tit. 11, §7021(b)) give us 45 "
              "calendar days from the day we received your request."),
    "CCPA_EXT": _("We extended the deadline to 90 days in total, as the CCPA regulations (§7021(b)) allow, and "
                  "told you why."),
    "CCPA_15": _("The CCPA regulations (Cal. Code Regs. tit. 11, §§7026, 7027) give us 15 business days; we do not "
                 "ask you to prove who you are for this request."),
    "IMMEDIATE": _("We stop at once, on the day we receive your request (GDPR Articles 7(3) and 21(3)), and tell you "
                   "what we did within one month."),
    "P-CMP": _("No law sets a deadline for a complaint made to us; this is our own commitment."),
    "UK-CMP": _("UK law (Data Protection Act 2018, section 164A) asks us to acknowledge a complaint within 30 days; "
                "we then tell you what we did without undue delay."),
}


def _rule_key(row_rule: str, regime: str, purpose: str, kind: str) -> str:
    extended = purpose == Purpose.EXTENDED_RESPONSE
    if row_rule in ("P-CMP", "UK-CMP"):
        return row_rule
    if Kind(kind) in workflow.IMMEDIATE_KINDS and regime != Regime.CCPA:
        return "IMMEDIATE"
    if regime == Regime.CCPA:
        if Kind(kind) in workflow.NO_VERIFICATION_KINDS:
            return "CCPA_15"
        return "CCPA_EXT" if extended else "CCPA"
    if regime == Regime.UK_GDPR:
        return "UK_EXT" if extended else "UK"
    return "EU_EXT" if extended else "EU"


def due_dates_in_words(case: Case) -> list[dict[str, Any]]:
    """Each date the person can rely on (the response dates, and the UK acknowledgement of a complaint), with the
    rule behind it in plain words; the earliest governs (legal-matrix §1.4)."""
    out = []
    for row in workflow.current_deadlines(case):
        wanted = row.purpose in (Purpose.RESPONSE, Purpose.EXTENDED_RESPONSE) or row.rule == "UK-CMP"
        if not wanted:
            continue
        out.append({
            "due_on": row.due_on,
            "rule": row.rule,
            "acknowledgement": row.purpose == Purpose.ACKNOWLEDGEMENT,
            "met": row.met_at is not None,
            "governing": row.due_on == case.due_on and row.rule == case.due_rule and row.regime == case.due_regime,
            "why": _RULE_WORDS[_rule_key(row.rule, row.regime, row.purpose, case.kind)],
        })
    return out


_HISTORY_WORDS = {
    "case.submitted": _("We received your request."),
    "case.acknowledged": _("We confirmed receipt."),
    "case.verification_requested": _("We asked you to confirm that the request comes from you."),
    "case.confirmed_by_subject": _("You confirmed the request from your e-mail address."),
    "case.identity_verified": _("It is confirmed that the request comes from you."),
    "case.extended": _("We extended the deadline and told you why."),
    "case.paused": _("We asked you a question; the clock stopped until you answer."),
    "case.resumed": _("The clock runs again."),
    "case.message_to_subject": _("We sent you a question."),
    "case.message_from_subject": _("You answered."),
    "case.regimes_changed": _("We corrected which law applies to your request."),
    "case.completed": _("Done."),
    "case.refused": _("We closed the request and told you why."),
    "case.cancelled": _("The request was withdrawn."),
    "case.erasure_approved": _("The deletion will start after a short waiting period; you can still cancel it."),
    "case.erasure_cancelled": _("You cancelled the deletion; nothing was deleted."),
    "export.ready": _("Your download is ready."),
    "export.downloaded": _("You downloaded your data."),
}


def history(case: Case) -> list[dict[str, Any]]:
    """What has happened, in words: only the events a person should see (audit events hold ids only)."""
    events = Event.objects.for_object("case", case.pk).filter(kind__in=list(_HISTORY_WORDS)).order_by("id")
    return [{"at": ev.at, "text": _HISTORY_WORDS[ev.kind]} for ev in events]


def subject_cases(subject_id: str) -> list[Case]:
    return list(Case.objects.filter(subject_id=subject_id).select_related("subject").order_by("-received_at"))


def case_of(subject_id: str, case_id: uuid.UUID | str) -> Case | None:
    """A case only if it belongs to this subject: anything else is 'not found' (never 'forbidden')."""
    try:
        case_uuid = uuid.UUID(str(case_id))
    except ValueError:
        return None
    return Case.objects.select_related("subject").filter(pk=case_uuid, subject_id=subject_id).first()


def withdraw(case: Case, *, now: datetime) -> None:
    """The requester withdraws a request that has not started yet (e.g. one they never made)."""
    if case.state not in (CaseState.RECEIVED, CaseState.AWAITING_VERIFICATION):
        raise PortalError(_("This request can no longer be withdrawn here. Write to us instead."))
    workflow.cancel_case(case, reason="withdrawn by the requester on the status page", actor=ACTOR, now=now)


# --- erasure of what the portal holds -----------------------------------------------------------------------------


def erase_subject_records(subject: Subject) -> dict[str, int]:
    """The portal's part of an erasure (a holder's erase): filings as given (with any mandate), codes and links,
    and the text of the subject's case threads. Safe to run twice."""
    passes = PortalPass.objects.filter(subject=subject).delete()[0]
    filings = PortalFiling.objects.filter(subject=subject).delete()[1].get(PortalFiling._meta.label, 0)
    messages = CaseMessage.objects.filter(case__subject=subject).delete()[0]
    return {"portal_filings": filings, "verification_records": passes, "case_messages": messages}


def open_cases(cases: Iterable[Case]) -> list[Case]:
    return [c for c in cases if c.state in OPEN_STATES]
