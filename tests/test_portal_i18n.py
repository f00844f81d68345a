"""The portal in English and German (Django i18n): every portal string has a German translation, the compiled
catalogue matches it, and a person whose browser asks for German gets German pages and German e-mail."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from dsr.models import OutboundMessage
from tests.portal_helpers import form

PO = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def _entries() -> list[tuple[str, list[str]]]:
    """(msgid, msgstrs) of every entry of the German .po file."""
    out = []
    for block in PO.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        current = None
        for line in block.splitlines():
            m = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?) "(.*)"$', line)
            if m:
                current = m.group(1)
                fields[current] = m.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
        if fields.get("msgid"):
            unescape = lambda s: s.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")  # noqa: E731
            out.append((unescape(fields["msgid"]), [unescape(v) for k, v in fields.items() if k.startswith("msgstr")]))
    return out


def test_every_portal_string_has_a_german_translation_and_the_compiled_catalogue_is_current():
    entries = _entries()
    assert len(entries) > 250
    untranslated = [msgid for msgid, strs in entries if not all(strs)]
    assert not untranslated
    catalogue = gettext.GNUTranslations(MO.open("rb"))
    stale = [msgid for msgid, strs in entries if len(strs) == 1 and catalogue.gettext(msgid) != strs[0]]
    assert not stale, f"run: msgfmt -o {MO} {PO}"
    placeholders = re.compile(r"%\(\w+\)s")
    for msgid, strs in entries:
        for s in strs:
            assert set(placeholders.findall(s)) <= set(placeholders.findall(msgid)) | {"%(minutes)s"}, msgid


@pytest.mark.django_db
def test_a_german_browser_gets_the_portal_and_its_e_mail_in_german(django_capture_on_commit_callbacks):
    client = Client(HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    page = client.get("/")
    assert page["Content-Language"] == "de" and '<html lang="de">' in page.content.decode()
    assert "Meine Daten löschen" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/", form(choice="erasure", email="grete@example.de", country="DE"))
    assert response.status_code == 303
    confirm = client.get("/confirm/").content.decode()
    assert "Sehen Sie in Ihre E-Mails" in confirm
    message = OutboundMessage.objects.get(template="portal_code")
    assert message.subject_line.startswith("Ihr Code:")
    assert "Wir antworten spätestens am" in message.body_text and "Datenschutz-Grundverordnung" in message.body_text
    # The choice of language sticks, and English is one link away.
    english = client.get("/?lang=en")
    assert english.status_code == 302
    assert "Delete my data" in client.get("/").content.decode()


@pytest.mark.django_db
def test_a_german_form_error_is_german():
    response = Client(HTTP_ACCEPT_LANGUAGE="de").post("/", form(email="kaputt", choice=None))
    page = response.content.decode()
    assert "Bitte prüfen Sie Folgendes" in page and "Wählen Sie, was wir für Sie tun sollen." in page


@pytest.mark.django_db
def test_a_german_filers_notices_from_the_workflow_are_in_german_too(django_capture_on_commit_callbacks):
    """Extension and refusal notices of a case filed in German are written in German, with the German rights text
    (issue 11: 'the notices too')."""
    from django.utils import timezone

    from dsr import workflow
    from dsr.models import Case

    client = Client(HTTP_ACCEPT_LANGUAGE="de")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/", form(choice="access", email="hans@example.de", country="DE"))
    case = Case.objects.get()
    workflow.extend_case(case, reason="Wir müssen drei Speichersysteme durchsuchen.", actor="t", now=timezone.now())
    notice = OutboundMessage.objects.get(template="extension_notice")
    assert notice.subject_line.startswith("Wir brauchen mehr Zeit für Ihre Anfrage")
    assert "Wir verlängern die Frist" in notice.body_text and "Datenschutz-Grundverordnung der EU" in notice.body_text
    assert "federführende Aufsichtsbehörde" in notice.body_text
    workflow.refuse_case(case, ground="art15_4_rights_of_others", reason="Die Fotos zeigen vor allem andere Menschen.",
                         actor="t", now=timezone.now())
    refusal = OutboundMessage.objects.get(template="refusal")
    assert "nicht nachkommen" in refusal.body_text and "Würde die Rechte anderer beeinträchtigen" in refusal.body_text
    assert "Ihre Rechte:" in refusal.body_text
    # An English filer's notices stay English.
    with django_capture_on_commit_callbacks(execute=True):
        Client().post("/", form(choice="access", email="jane@example.com", country="IE"))
    other = Case.objects.get(subject__email="jane@example.com")
    workflow.extend_case(other, reason="We must search three storage systems.", actor="t", now=timezone.now())
    assert OutboundMessage.objects.get(template="extension_notice", case=other).body_text.startswith("Hello,")
