"""Notices say the right thing (issue 8 §6): every notice template, rendered through the real workflow for
EU-only, UK-only, CCPA-only and EU+CCPA cases, names the right authority, carries the rights text of each
regime of the case and of no other, and contains no internal code."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dsr import notices, vault, workflow
from dsr.models import Case, OutboundMessage, Outcome
from dsr.roles import Role, create_staff

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 7, 1, 10, tzinfo=UTC)  # after 19 June 2026: DPA 2018 s.164A in force
INTERNAL = re.compile(r"\b(eu_gdpr|uk_gdpr|ccpa|complied_full|complied_partial|UK-DSR|[GC]-[A-Z]{2,5})\b")
COMBOS = {"eu": ("eu_gdpr",), "uk": ("uk_gdpr",), "ccpa": ("ccpa",), "eu+ccpa": ("eu_gdpr", "ccpa")}
NOTE = "Two photos were withheld because they show other people's faces."
REASON = "Your account was closed in 2019 and nothing about you is held any more."

# What each regime's rights text must say, and the marks of it that must not appear without the regime.
SAYS = {
    "eu_gdpr": ["EU General Data Protection Regulation (Article 12(4))", "Article 77",
                "Data Protection Commission, 21 Fitzwilliam Square South, Dublin 2",
                "judicial remedy before the courts"],
    "uk_gdpr": ["UK General Data Protection Regulation (Article 12(4))", "Information Commissioner's Office (ICO)",
                "Wycliffe House", "section 167", "section 164A"],
    "ccpa": ["California Privacy Protection Agency", "California Attorney General", "§7101"],
}
MARKS = {"eu_gdpr": ["EU General Data Protection", "Data Protection Commission", "Article 77"],
         "uk_gdpr": ["UK General Data Protection", "ICO", "Data Protection Act 2018"],
         "ccpa": ["California", "CCPA", "§7101", "§7021"]}


def _case(regimes: tuple[str, ...], kind: str = "access") -> Case:
    subject = vault.create_subject(actor="t", now=T0, email=f"{uuid.uuid4().hex[:12]}@example.com")
    case, _ = workflow.submit_case(kind=kind, regimes=list(regimes), subject=subject, received_at=T0, actor="t",
                                   now=T0)
    return case


def _letters(regimes: tuple[str, ...]) -> dict[str, OutboundMessage]:
    """acknowledgement, extension_notice, refusal, completion (full with a note) and completion (partial)."""
    operator = create_staff(f"op-{uuid.uuid4().hex[:6]}", "notice-test-pass", Role.OPERATOR)
    extended, refused = (_case(regimes) for _ in range(2))
    # access cases complete through their export (issue 10, tests/test_exports.py); "completion" is for the rest
    full, partial = (_case(regimes, "rectification") for _ in range(2))
    now = T0 + timedelta(days=2)
    workflow.extend_case(extended, reason="Photos are spread over three linked accounts.", actor="op", now=now)
    workflow.refuse_case(refused, ground="other", reason=REASON, actor="op", now=now)
    for case, outcome, note in ((full, Outcome.COMPLIED_FULL, "Sent as a ZIP file."),
                                (partial, Outcome.COMPLIED_PARTIAL, NOTE)):
        workflow.verify_identity(case, method="account_reauth", actor=operator, now=now)
        workflow.complete_case(case, outcome=outcome, note=note, actor="op", now=now)
    pick = {"acknowledgement": (extended, "acknowledgement"), "extension_notice": (extended, "extension_notice"),
            "refusal": (refused, "refusal"), "completion_full": (full, "completion"),
            "completion_partial": (partial, "completion")}
    return {name: OutboundMessage.objects.get(case=case, template=template) for name, (case, template) in pick.items()}


def _all_text(m: OutboundMessage) -> str:
    return "\n".join((m.subject_line, m.body_text, m.body_html))


@pytest.mark.parametrize("combo", COMBOS)
def test_every_notice_names_the_right_authority_gives_each_regimes_rights_and_no_internal_code(combo):
    regimes = COMBOS[combo]
    letters = _letters(regimes)
    for name, message in letters.items():
        text = _all_text(message)
        assert not INTERNAL.search(text), (name, INTERNAL.search(text))
        for regime in set(MARKS) - set(regimes):
            for mark in MARKS[regime]:
                assert mark not in text, (combo, name, regime, mark)
    for name in ("refusal", "completion_partial"):
        for regime in regimes:
            for phrase in SAYS[regime]:
                assert phrase in letters[name].body_text, (combo, name, phrase)
                assert phrase.replace("'", "&#x27;") in letters[name].body_html, (combo, name, phrase)
    assert REASON in letters["refusal"].body_text
    assert NOTE in letters["completion_partial"].body_text
    assert "Part of the request could not be met" in letters["completion_partial"].body_text
    full = letters["completion_full"].body_text
    assert "Note: Sent as a ZIP file." in full and "could not be met" not in full and "Your rights" not in full
    extension = letters["extension_notice"].body_text
    if "eu_gdpr" in regimes:
        assert "EU General Data Protection Regulation (Article 12(3)) allows two further months" in extension
        assert "Data Protection Commission" in extension
    if "uk_gdpr" in regimes:
        assert "UK General Data Protection Regulation (Articles 12(3) and 12A)" in extension and "ICO" in extension
    if "ccpa" in regimes:
        assert "up to 45 further days, 90 days in total" in extension


def test_dates_in_letters_name_the_provision_in_words():
    letters = _letters(("eu_gdpr", "ccpa"))
    ack = letters["acknowledgement"].body_text
    assert "We received your access request (under the CCPA: request to know)" in ack
    # Sat 1 Aug -> Mon 3 Aug is the August bank holiday in Ireland -> Tue 4 Aug
    assert "4 August 2026 (EU General Data Protection Regulation, Article 12(3))" in ack
    assert "15 August 2026 (CCPA regulations, Cal. Code Regs. tit. 11, §7021(b))" in ack
    assert "handled under the EU General Data Protection Regulation (GDPR) and the California Consumer Privacy Act" \
        in ack
    extension = letters["extension_notice"].body_text
    assert "Article 12(3), extended by two further months" in extension
    assert "extended by up to 45 days (90 days in total)" in extension


def test_a_uk_refusal_names_the_ico_and_uk_law_never_the_irish_dpc_or_ccpa():
    refusal = _letters(("uk_gdpr",))["refusal"].body_text
    assert "Information Commissioner's Office (ICO)" in refusal and "UK General Data Protection Regulation" in refusal
    assert "Data Protection Commission" not in refusal and "CCPA" not in refusal and "California" not in refusal


def test_a_uk_notice_before_19_june_2026_does_not_offer_the_section_164a_complaint():
    rights = notices.refusal_rights(["uk_gdpr"], authority=notices.eu_authority("IE"),
                                    today=datetime(2026, 6, 18).date())
    assert "164A" not in rights[0] and "ICO" in rights[0]


@pytest.mark.parametrize(
    ("country", "subdivision", "override", "expected"),
    [
        ("FR", None, "", "Commission Nationale de l'Informatique et des Libertés (CNIL), cnil.fr"),
        ("DE", "BY", "", "Bayerisches Landesamt für Datenschutzaufsicht (BayLDA), lda.bayern.de"),
        ("DE", None, "", "the data protection supervisory authority of the German federal state (Land)"),
        ("NL", None, "Autoriteit Persoonsgegevens, Postbus 93374, 2509 AJ Den Haag",
         "Autoriteit Persoonsgegevens, Postbus 93374"),
    ],
)
def test_the_supervisory_authority_follows_the_controllers_country_unless_set(settings, country, subdivision,
                                                                              override, expected):
    settings.DSR_CONTROLLER_COUNTRY, settings.DSR_CONTROLLER_SUBDIVISION = country, subdivision
    settings.DSR_TIME_ZONE, settings.DSR_SUPERVISORY_AUTHORITY = None, override
    case = _case(("eu_gdpr",))
    workflow.refuse_case(case, ground="other", reason=REASON, actor="op", now=T0 + timedelta(days=1))
    refusal = OutboundMessage.objects.get(case=case, template="refusal").body_text
    assert expected in refusal
    assert ("Data Protection Commission" in refusal) is False


def test_an_opt_out_acknowledgement_does_not_say_identity_will_be_checked():
    subject = vault.create_subject(actor="t", now=T0, email="optout@example.com")
    case, _ = workflow.submit_case(kind="opt_out_sale_sharing", regimes=["ccpa"], subject=subject, received_at=T0,
                                   actor="t", now=T0)
    ack = OutboundMessage.objects.get(case=case, template="acknowledgement")
    assert "we check that the request comes from you" not in ack.body_text
    assert "We do not ask you to prove who you are" in ack.body_text
    assert "request to opt out of the sale or sharing of your personal information" in ack.subject_line
    assert not INTERNAL.search(_all_text(ack))


@pytest.mark.parametrize(("regimes", "says", "never"), [
    (("uk_gdpr",), ["Art. 18(3) of the UK GDPR", "Information Commissioner's Office (ICO)"],
     ["Data Protection Commission", "the GDPR requires"]),
    (("eu_gdpr",), ["Art. 18(3) of the GDPR", "Data Protection Commission"], ["ICO", "UK GDPR"]),
])
def test_the_restriction_lifting_notice_names_the_law_and_authority_of_its_cases_regime(regimes, says, never):
    from dsr import processing
    from dsr.models import ProcessingFlag

    operator = create_staff(f"op-{uuid.uuid4().hex[:6]}", "notice-test-pass", Role.OPERATOR)
    case = _case(regimes, "restriction")
    workflow.verify_identity(case, method="account_reauth", actor=operator, now=T0)
    processing.complete_with_flags(case, purposes=["*"], actor=operator, now=T0)
    flag = ProcessingFlag.objects.get(case=case)
    processing.inform_before_lifting(flag, actor=operator, now=T0 + timedelta(hours=1))
    message = OutboundMessage.objects.get(case=case, template="restriction_lifting")
    text = _all_text(message)
    for phrase in says:
        assert phrase in message.body_text, phrase
    for phrase in never:
        assert phrase not in text, phrase
    assert not INTERNAL.search(text)


@pytest.mark.parametrize("combo", COMBOS)
def test_the_erasure_completion_notice_with_a_kept_part_gives_each_regimes_rights_and_no_internal_code(combo):
    """The cascade's completion notice (templates/emails/erasure_completed, built as dsr/cascade.py builds it) when a
    legal hold kept part of the data: each regime's rights text and authority, none of another regime's."""
    from dsr import emails, erasure

    regimes = COMBOS[combo]
    case = _case(regimes, "erasure")
    ground = erasure.hold_grounds_for(case)[0]
    kept = [{"category": "photo", "label": "Photo", "count": 2, "ground": ground.code, "ground_label": ground.label}]
    now = T0 + timedelta(days=3)
    message = emails.queue("erasure_completed", to="someone@example.com", now=now, case=case, context={
        **workflow.notice_context(case, now=now), "evidence": {"key_destroyed_at": now.isoformat()},
        "partial": True, "kept": kept, "erased": {"Generated video": 3}})
    text = _all_text(message)
    assert "Generated video: 3" in message.body_text and ground.label in message.body_text
    assert not INTERNAL.search(text), INTERNAL.search(text)
    for regime in regimes:
        for phrase in SAYS[regime]:
            assert phrase in message.body_text, (combo, phrase)
    for regime in set(MARKS) - set(regimes):
        for mark in MARKS[regime]:
            assert mark not in text, (combo, regime, mark)


RESTRICTION_LETTER_ENGLISH = ["Hello", "We are about to lift", "In response to your request", "we restricted",
                              "We restricted", "We are telling you", "requires", "If you disagree", "reply to",
                              "You may also lodge", "supervisory authority", "the GDPR", "the UK GDPR", " and "]


@pytest.mark.parametrize(("regimes", "purpose", "says"), [
    (("eu_gdpr",), "*", ["Wie es Art. 18 Abs. 3 der DSGVO verlangt", "Data Protection Commission"]),
    (("eu_gdpr", "uk_gdpr"), "ai_training",
     ["für den Zweck „ai_training“", "Art. 18 Abs. 3 der DSGVO und der UK-DSGVO",
      "Information Commissioner's Office (ICO)"]),
], ids=["eu", "uk+eu-one-purpose"])
def test_a_german_portal_filers_restriction_lifting_letter_is_entirely_german(regimes, purpose, says):
    from dsr import processing
    from dsr.models import PortalFiling, ProcessingFlag

    operator = create_staff(f"op-{uuid.uuid4().hex[:6]}", "notice-test-pass", Role.OPERATOR)
    case = _case(regimes, "restriction")
    PortalFiling.objects.create(fingerprint=uuid.uuid4().hex * 2, created_at=T0, choice="restriction",
                                kind="restriction", regimes=list(regimes), country="DE", email=case.subject.email,
                                language="de", case=case, subject=case.subject)
    workflow.verify_identity(case, method="account_reauth", actor=operator, now=T0)
    processing.complete_with_flags(case, purposes=[purpose], actor=operator, now=T0)
    flag = ProcessingFlag.objects.get(case=case)
    processing.inform_before_lifting(flag, actor=operator, now=T0 + timedelta(hours=1))
    message = OutboundMessage.objects.get(case=case, template="restriction_lifting")
    for part in (message.subject_line, message.body_text, message.body_html):
        folded = " ".join(part.split())
        for english in RESTRICTION_LETTER_ENGLISH:
            assert english not in folded.replace("Data Protection Commission", "").replace(
                "Information Commissioner's Office", ""), (english, folded)
    text = " ".join(message.body_text.split())
    assert message.subject_line == ("Wir werden die von Ihnen verlangte Einschränkung in Kürze aufheben "
                                    f"({case.reference})")
    assert text.startswith(f"Guten Tag, Auf Ihre Anfrage {case.reference} hin haben wir die Verarbeitung Ihrer Daten")
    assert "Wenn Sie nicht einverstanden sind, antworten Sie an" in text
    for phrase in says:
        assert phrase in text, phrase
