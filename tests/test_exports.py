"""Access and portability packages (issue 10): what they hold and withhold, how they are delivered, downloaded,
expired and erased. The browser round trip is tests/browser/test_export_index_browser.py; the killed worker is
tests/test_exports_kill.py."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import struct
import zipfile
import zlib
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pypdf
import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from dsr import emails, exports, holders, steps, storage, vault, workflow
from dsr.models import CaseState, Event, ExportPackage, OutboundMessage, Outcome, PackageState, Recipient, StepRun
from dsr.package import neutralise_cell
from dsr.roles import Role, create_staff
from tests import export_world
from tests.export_world import FORMULA, HOSTILE_CAPTION, T0

READY_AT = T0 + timedelta(days=2)
SAFE_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")


def build_package(case, *, now=READY_AT, **kw) -> ExportPackage:
    """Start the export and run its steps here (the qcluster test runs them in a real worker)."""
    with time_machine.travel(now, tick=False):
        run = exports.start_export(case, actor="test", now=now, **kw)
        steps.advance(run.pk)
    return ExportPackage.objects.get(case=case)


def unzip(package: ExportPackage) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(exports.open_package(package))))


def pdf_text(z: zipfile.ZipFile) -> str:
    reader = pypdf.PdfReader(io.BytesIO(z.read("access-report.pdf")))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def identifiers(*subjects) -> list[str]:
    out = []
    for s in subjects:
        out += [str(s.pk), s.pk.hex, s.reference, s.email, s.account_id]
    return [v for v in out if v]


@pytest.fixture
def world(db):
    return export_world.build()


# --- the round trip (browser part: tests/browser/test_export_index_browser.py) -----------------------------


def test_a_package_round_trips_every_hash_every_schema_and_the_media_bytes(world, client):
    package = build_package(world.case)
    assert package.state == PackageState.READY and package.expires_at == READY_AT + timedelta(days=7)
    z = unzip(package)
    names = set(z.namelist())

    manifest_bytes = z.read("manifest.json")
    assert hashlib.sha256(manifest_bytes).hexdigest() == package.manifest_sha256
    manifest = json.loads(manifest_bytes)
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == names - {"manifest.json"}  # every file is listed, nothing else
    for path, entry in listed.items():
        data = z.read(path)
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (entry["sha256"], entry["size"]), path

    json_files = [n for n in names if n.endswith(".json") and not n.startswith("schemas/")]
    assert {"manifest.json", "data/items.json", "data/subject.json", "data/consents.json",
            "data/requests.json", "data/portal-messages.json", "data/portal-filings.json"} <= set(json_files)
    for name in json_files:
        doc = json.loads(z.read(name))
        url = doc["schema"]
        published = client.get(url.split("127.0.0.1:8000", 1)[1])  # the stable URL, served by the app
        assert published.status_code == 200 and published["Content-Type"] == "application/schema+json"
        schema = published.json()
        assert json.loads(z.read("schemas/" + url.rsplit("/", 1)[1])) == schema  # the package carries a copy
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(doc, schema, format_checker=jsonschema.FormatChecker())

    items = {r["id"]: r for r in json.loads(z.read("data/items.json"))["items"]}
    media = [world.ana_photo, world.ana_photo2, world.cleo_photo_of_ana, world.video]
    for item in media:
        assert z.read(items[str(item.pk)]["file"]) == vault.read_item(item)
    assert {n for n in names if n.startswith("media/")} == {items[str(i.pk)]["file"] for i in media}
    assert json.loads(z.read("data/subject.json"))["subject"]["email"] == "ana.export@example.com"
    messages = json.loads(z.read("data/portal-messages.json"))["records"]  # another holder's export hook
    assert [(m["from"], m["text"]) for m in messages] == [("us", "Which account is this about?"),
                                                          ("you", "=The one with my holiday photos")]


def test_every_entry_carries_the_zip_crc32_that_zipfile_verifies(world):
    # dsr/package.py swaps zipstream-ng's CRC-32 for zlib-ng's: the standard check value, then every entry.
    import zipstream.ng

    assert zipstream.ng.crc32(b"123456789") == 0xCBF43926
    assert zipstream.ng.crc32(b"56789", zipstream.ng.crc32(b"1234")) == 0xCBF43926  # running CRC, as streamed
    z = unzip(build_package(world.case))
    assert z.testzip() is None  # reads every entry and compares its CRC with the one recorded
    assert all((zlib.crc32(z.read(info)) & 0xFFFFFFFF) == info.CRC for info in z.infolist())


def test_the_report_is_laid_out_in_a_child_process_not_in_the_worker(world, monkeypatch):
    import subprocess

    calls = []
    real_run = subprocess.run

    def spy(args, **kw):
        calls.append(args)
        return real_run(args, **kw)

    monkeypatch.setattr(subprocess, "run", spy)
    z = unzip(build_package(world.case))
    assert [args[1:] for args in calls] == [["-m", "dsr.pdf_engine"]]  # the HTML went on stdin, never argv
    assert "Article 15(1)(a)" in pdf_text(z)  # the report the child laid out is the one in the package


def test_the_pdf_holds_every_article_15_heading_and_names_the_recipients_from_the_register(world):
    z = unzip(build_package(world.case))
    text = pdf_text(z)
    for ref in ["15(1)(a)", "15(1)(b)", "15(1)(c)", "15(1)(d)", "15(1)(e)", "15(1)(f)", "15(1)(g)", "15(1)(h)",
                "15(2)"]:
        assert f"Article {ref}" in text, ref
    for name in ["CloudHost Europe GmbH", "FaceModel Inference Inc.", "MailRelay Ltd"]:
        assert name in text  # named (C-154/21), from the processing activities of this subject's data
    assert Recipient.objects.get(name="FaceModel Inference Inc.").transfer_safeguard.split(";")[0] in text
    assert "Data Protection Commission" in text  # the complaint authority of an EU case
    assert "uploaded by another user" in text  # Art. 15(1)(g), without naming them
    assert "AdMetrics" not in text  # marketing: no consent, no data of theirs in it
    # the same report is the package's index.html
    index = z.read("index.html").decode()
    assert "Article 15(1)(h)" in index and "FaceModel Inference Inc." in index


def test_nothing_identifies_the_other_person_in_the_two_person_video_or_the_uploader(world):
    z = unzip(build_package(world.case))
    text = pdf_text(z)
    everything = text + "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist()
                                if not n.startswith("media/") and n != "access-report.pdf")
    for ident in identifiers(world.ben, world.cleo) + ["Ben Otherperson", str(world.ben_embedding.pk)]:
        assert ident.lower() not in everything.lower(), ident
    video = next(r for r in json.loads(z.read("data/items.json"))["items"] if r["id"] == str(world.video.pk))
    assert video["shared_with_other_people"] == 1 and video["derived_from_other_people"] == 2
    assert video["derived_from"] == sorted([str(world.ana_photo.pk), str(world.ana_embedding.pk)])
    assert video["attributes"]["people"] == [{"name": "Ana", "subject": str(world.ana.pk)}]  # her own tag stays
    assert "details about other people" in text and "also belong to other people" in text


def test_a_ccpa_case_describes_face_embeddings_and_never_discloses_their_values(db):
    w = export_world.build(regimes=("ccpa",))
    z = unzip(build_package(w.case))
    raw = vault.read_item(w.ana_embedding)
    values = struct.unpack(f"<{len(raw) // 4}f", raw)
    text = pdf_text(z)
    blob = b"".join(z.read(n) for n in z.namelist())
    assert raw not in blob and raw[:16] not in blob
    for v in values[:8]:
        for shown in (repr(v), f"{v:.6f}", f"{round(v, 7)}", f"{v:.4f}"):
            assert shown not in text and shown.encode() not in blob, shown
    record = next(r for r in json.loads(z.read("data/items.json"))["items"] if r["category"] == "face_embedding")
    assert record["embedding"]["values"] is None and record["embedding"]["dimensions"] == 512
    assert "§7024(d)" in text and "face template" in text
    assert "California: your request to know" in text


def test_a_ccpa_request_to_know_covers_the_twelve_months_before_receipt_unless_asked_for_more(db):
    w = export_world.build(regimes=("ccpa",))
    old = export_world.store("photo", "photo_generation", [(w.ana, "owner")], b"old-photo", "image/jpeg",
                             now=w.case.received_at - timedelta(days=400))
    z = unzip(build_package(w.case))
    ids = {r["id"] for r in json.loads(z.read("data/items.json"))["items"]}
    assert str(w.ana_photo.pk) in ids and str(old.pk) not in ids
    assert json.loads(z.read("data/items.json"))["covers_from"].startswith(
        f"{w.case.received_at.year - 1}-{w.case.received_at:%m-%d}")
    assert "12 months" in pdf_text(z)

    w2 = export_world.build(regimes=("ccpa",), kind="access", tag="2")
    old2 = export_world.store("photo", "photo_generation", [(w2.ana, "owner")], b"old-photo-2", "image/jpeg",
                              now=w2.case.received_at - timedelta(days=400))
    z2 = unzip(build_package(w2.case, full_history=True))
    assert str(old2.pk) in {r["id"] for r in json.loads(z2.read("data/items.json"))["items"]}


def pdftotext(pdf: bytes) -> str:
    """The report's text as poppler's pdftotext reads it (a second, independent reader next to pypdf)."""
    import subprocess

    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(out.stdout.decode().split())


def test_under_the_gdpr_by_default_embeddings_are_described_and_their_values_kept_back(world, settings):
    assert settings.DSR_EXPORT_EMBEDDING_VALUES == "describe"  # the recorded setting's default
    z = unzip(build_package(world.case))
    raw = vault.read_item(world.ana_embedding)
    blob = b"".join(z.read(n) for n in z.namelist())
    assert raw not in blob and raw[:16] not in blob
    for v in struct.unpack("<8f", raw[:32]):
        assert f"{v:.6f}".encode() not in blob and repr(v).encode() not in blob
    record = next(r for r in json.loads(z.read("data/items.json"))["items"] if r["category"] == "face_embedding")
    assert record["id"] == str(world.ana_embedding.pk)
    assert record["embedding"]["values"] is None and record["embedding"]["dimensions"] == 512
    text = pdftotext(z.read("access-report.pdf"))
    assert "We hold 1 face template (a face embedding) computed from your photos." in text
    assert "rather than hand over its numbers" in text and "Ask us if you want the numbers." in text
    assert "§7024(d)" not in text  # a GDPR case: the California wording is not used
    # the rest of Art. 15(1), read back by a second PDF reader: confirmation, purposes, retention, automated decisions
    assert "Do we hold data about you? Article 15(1) Yes. We hold 7 items of personal data about you" in text
    assert "Face detection and embedding" in text and "Security and abuse prevention" in text  # the purposes
    assert "Deleted after 90 days" in text  # retention of the IP log, from the register
    assert "perceptual hash matches a list of known abusive images" in text  # the one automated decision


def test_a_uk_case_names_the_uk_law_and_the_ico_as_where_to_complain(db):
    w = export_world.build(regimes=("uk_gdpr",))
    text = pdftotext(unzip(build_package(w.case)).read("access-report.pdf"))
    assert "Information Commissioner" in text and "Data Protection Act 2018, section 167" in text
    assert "Data Protection Commission" not in text  # not the EU authority


def test_under_the_gdpr_the_recorded_setting_can_hand_over_embedding_values(world, settings):
    settings.DSR_EXPORT_EMBEDDING_VALUES = "include"
    z = unzip(build_package(world.case))
    record = next(r for r in json.loads(z.read("data/items.json"))["items"] if r["category"] == "face_embedding")
    raw = vault.read_item(world.ana_embedding)
    assert record["embedding"]["values"] == pytest.approx(list(struct.unpack("<512f", raw)), abs=1e-6)


def test_portability_holds_what_the_subject_provided_and_what_was_observed_not_what_was_inferred(db):
    w = export_world.build(kind="portability")
    z = unzip(build_package(w.case))
    categories = {(r["category"], r["your_role"]) for r in json.loads(z.read("data/items.json"))["items"]}
    assert categories == {("photo", "owner"), ("ip_log", "owner"), ("upload_metadata", "owner")}
    assert not [n for n in z.namelist() if n.startswith("media/videos/")]


# --- CSV and hostile text --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_neutralised(value):
    assert neutralise_cell(value) == "'" + value
    assert neutralise_cell("plain =1") == "plain =1"


def test_csv_cells_starting_with_a_formula_character_are_neutralised_in_the_package(world):
    workflow.cancel_case(world.case, reason="superseded by the next one", actor="test", now=T0 + timedelta(days=1))
    case, _ = workflow.submit_case(kind="access", regimes=["eu_gdpr"], subject=world.ana, actor="test",
                                   received_at=T0 + timedelta(days=1), now=T0 + timedelta(days=1), details=FORMULA)
    operator = create_staff("csv-op", "pw-for-tests-only", Role.OPERATOR)
    workflow.verify_identity(case, method="account_reauth", actor=operator, now=T0 + timedelta(days=1))
    consent = vault.record_consent(world.ana, purpose="face_matching", granted_at=T0, actor="test", now=T0,
                                   method="@in_app", notice_version="-2+3")
    assert consent.pk
    z = unzip(build_package(case))
    cells = []
    for name in ("data/items.csv", "data/consents.csv", "data/requests.csv", "data/portal-messages.csv"):
        rows = list(csv.reader(io.StringIO(z.read(name).decode("utf-8-sig"))))
        cells += [c for row in rows for c in row]
    assert "'" + FORMULA in cells and "'@in_app" in cells and "'-2+3" in cells
    assert "'=The one with my holiday photos" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.srcs: list[str] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}
        self.srcs += [v for name, v in attrs if name == "src"]

    def handle_data(self, data):
        self.text += data


def test_a_caption_with_a_path_or_html_cannot_escape_the_archive_or_become_markup(world):
    z = unzip(build_package(world.case))
    for info in z.infolist():
        assert SAFE_PATH.fullmatch(info.filename) and ".." not in info.filename.split("/"), info.filename
        assert not info.filename.startswith("/")
    index = z.read("index.html").decode()
    parsed = _Elements()
    parsed.feed(index)
    assert "script" not in parsed.tags and not [a for a in parsed.attributes if a.startswith("on")]
    assert {src for src in parsed.srcs} <= {n for n in z.namelist() if n.startswith("media/")}  # no src=x
    assert HOSTILE_CAPTION in parsed.text  # the caption is text, nothing else
    assert "script-src 'none'" in index and "default-src 'none'" in index
    items = json.loads(z.read("data/items.json"))["items"]
    assert any(r["attributes"].get("caption") == HOSTILE_CAPTION for r in items)  # the data itself is kept


# --- delivery -----------------------------------------------------------------------------------------------


def test_access_and_portability_no_longer_complete_by_a_bare_click(world):
    with pytest.raises(workflow.WorkflowError, match="package is ready"):
        workflow.complete_case(world.case, actor="test", now=T0 + timedelta(days=2))
    world.case.refresh_from_db()
    assert world.case.state == CaseState.IN_PROGRESS


def test_the_case_completes_when_the_package_is_ready_and_the_notice_says_how_to_get_it(world, settings):
    settings.DSR_EXPORT_DOWNLOAD_URL = "https://photos.example/account/privacy"
    package = build_package(world.case)
    world.case.refresh_from_db()
    assert (world.case.state, world.case.outcome) == (CaseState.COMPLETED, Outcome.COMPLIED_FULL)
    assert world.case.substantive_response_at == READY_AT
    message = OutboundMessage.objects.get(case=world.case, template="export_ready")
    assert message.to == "ana.export@example.com"
    assert "Download your data" in message.body_text and "https://photos.example/account/privacy" in message.body_text
    assert f"{package.expires_at:%-d %B %Y}" in message.body_text
    assert "never send your data by e-mail" in message.body_text
    mail.outbox.clear()
    assert emails.deliver(str(message.pk))
    [sent] = mail.outbox
    assert sent.attachments == [] and b"PK" not in sent.body.encode()
    event = Event.objects.filter(kind="case.completed", object_id=str(world.case.pk)).get()
    assert event.data["package"] == str(package.pk)


def test_an_operator_note_of_what_was_withheld_makes_a_partial_completion_with_the_rights(world):
    note = "Two support tickets withheld: they quote another customer."
    build_package(world.case, withheld_note=note)
    world.case.refresh_from_db()
    assert world.case.outcome == Outcome.COMPLIED_PARTIAL and world.case.refusal_reason == note
    body = OutboundMessage.objects.get(case=world.case, template="export_ready").body_text
    assert note in body and "complaint" in body


def test_an_export_needs_an_open_verified_access_or_portability_case(db):
    w = export_world.build(verified=False)
    with pytest.raises(workflow.WorkflowError, match="verify"):
        exports.start_export(w.case, actor="test", now=READY_AT)
    erasure, _ = workflow.submit_case(kind="erasure", regimes=["eu_gdpr"], subject=w.ana, actor="test",
                                      received_at=T0, now=T0)
    with pytest.raises(workflow.WorkflowError, match="only access and portability"):
        exports.start_export(erasure, actor="test", now=READY_AT)
    assert not ExportPackage.objects.exists() and not StepRun.objects.exists()


def test_a_second_export_of_the_same_case_is_refused_while_one_exists(world):
    build_package(world.case)
    with pytest.raises(workflow.WorkflowError):
        exports.start_export(world.case, actor="test", now=READY_AT)


def _token(scopes: str) -> str:
    from django.core.management import call_command

    out = io.StringIO()
    call_command("create_api_token", "platform-" + scopes.replace(":", "-"), "--scope", scopes, stdout=out)
    return out.getvalue().strip()


def test_the_platform_downloads_a_ready_package_streamed_as_an_uncached_attachment(world):
    token = _token("exports:read")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    url = f"/api/v1/cases/{world.case.pk}/package"
    assert api.get(url).json()["error"]["code"] == "not_found"  # nothing started yet

    with time_machine.travel(READY_AT, tick=False):
        run = exports.start_export(world.case, actor="test", now=READY_AT)
    building = api.get(url)
    assert building.status_code == 409 and building.json()["error"]["code"] == "not_ready"
    with time_machine.travel(READY_AT, tick=False):
        steps.advance(run.pk)
    package = ExportPackage.objects.get(case=world.case)

    response = api.get(url)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip" and response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"] == f'attachment; filename="{world.case.reference.lower()}-access.zip"'
    body = b"".join(response.streaming_content)
    assert body == b"".join(exports.open_package(package)) and int(response["Content-Length"]) == len(body)
    assert Event.objects.filter(kind="export.downloaded", data__channel="api").count() == 1

    cases_token = _token("cases:read")
    case_json = Client(HTTP_AUTHORIZATION=f"Bearer {cases_token}").get(f"/api/v1/cases/{world.case.pk}").json()
    assert case_json["package"]["state"] == "ready" and case_json["package"]["size"] == len(body)
    assert case_json["package"]["manifest_sha256"] == package.manifest_sha256
    assert case_json["package"]["expires_at"].startswith(f"{package.expires_at:%Y-%m-%d}")
    refused = Client(HTTP_AUTHORIZATION=f"Bearer {cases_token}").get(url)
    assert refused.status_code == 403 and refused.json()["error"]["required_scope"] == "exports:read"


def test_an_expired_package_is_gone_from_storage_and_no_longer_downloadable(world, blob_dir: Path):
    package = build_package(world.case)
    blob = blob_dir / package.blob_name
    assert blob.exists()
    assert exports.expire_packages(now=package.expires_at - timedelta(seconds=1)) == 0
    assert exports.expire_packages(now=package.expires_at) == 1
    package.refresh_from_db()
    assert package.state == PackageState.EXPIRED and not blob.exists() and package.blob_name == ""
    with pytest.raises(exports.ExportError):
        exports.open_package(package)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {_token('exports:read')}")
    assert api.get(f"/api/v1/cases/{world.case.pk}/package").status_code == 410
    assert exports.expire_packages(now=package.expires_at + timedelta(days=1)) == 0  # idempotent


def test_the_package_is_sealed_under_the_subjects_key_and_erased_with_the_subject(world, blob_dir: Path):
    package = build_package(world.case)
    stored = storage.raw_bytes(package.blob_name)
    assert b"PK\x03\x04" not in stored and b"index.html" not in stored  # ciphertext only
    [holder] = [h for h in holders.HOLDERS if ExportPackage in h.models]
    assert holder.erase is not None
    counts = holder.erase(world.ana, None)
    assert counts["export_packages"] == 1 and counts["export_blobs"] == 1
    assert not (blob_dir / package.blob_name).exists() and not ExportPackage.objects.exists()
    assert holder.erase(world.ana, None)["export_packages"] == 0  # a second run finds nothing
    assert Event.objects.filter(kind="export.erased").count() == 1


def test_a_destroyed_subject_key_makes_the_package_unreadable(world):
    package = build_package(world.case)
    vault.destroy_subject_key(world.ana, actor="test", now=READY_AT)
    with pytest.raises(vault.KeyDestroyed):
        exports.open_package(package)


def test_the_orphan_sweep_keeps_package_blobs(world, blob_dir: Path):
    from dsr import orphans

    package = build_package(world.case)
    orphans.sweep_orphan_blobs(now=READY_AT + timedelta(days=3), actor="test")
    assert (blob_dir / package.blob_name).exists()


# --- the console ---------------------------------------------------------------------------------------------


def test_operators_start_the_export_see_its_progress_and_download_it_audited(world):
    operator = create_staff("exp-op", "pw-for-tests-only", Role.OPERATOR)
    auditor = create_staff("exp-aud", "pw-for-tests-only", Role.AUDITOR)
    op = Client()
    op.force_login(operator)
    page = op.get(reverse("staff-case", args=[world.case.pk])).content.decode()
    assert reverse("staff-case-export", args=[world.case.pk]) in page
    assert reverse("staff-case-complete", args=[world.case.pk]) not in page  # no bare "Complete" for access

    with time_machine.travel(READY_AT, tick=False):
        op.post(reverse("staff-case-export", args=[world.case.pk]), {"withheld_note": ""})
    package = ExportPackage.objects.get(case=world.case)
    page = op.get(reverse("staff-case", args=[world.case.pk])).content.decode()
    assert "<progress" in page and reverse("staff-job", args=[package.run_id]) in page
    with time_machine.travel(READY_AT, tick=False):
        steps.advance(package.run_id)
    page = op.get(reverse("staff-case", args=[world.case.pk])).content.decode()
    package.refresh_from_db()
    assert package.manifest_sha256 in page and reverse("staff-case-package", args=[world.case.pk]) in page

    download = op.get(reverse("staff-case-package", args=[world.case.pk]))
    assert download.status_code == 200 and download["Cache-Control"] == "no-store"
    assert b"".join(download.streaming_content) == b"".join(exports.open_package(package))
    event = Event.objects.get(kind="export.downloaded")
    assert event.actor == f"staff:{operator.pk}" and event.data["channel"] == "console"

    aud = Client()
    aud.force_login(auditor)
    assert aud.get(reverse("staff-case-package", args=[world.case.pk])).status_code == 403
    assert Event.objects.filter(kind="export.downloaded").count() == 1


def test_the_report_is_in_the_language_the_request_was_made_in(world):
    from dsr.models import PortalFiling

    PortalFiling.objects.create(fingerprint="f" * 64, created_at=T0, choice="access", kind="access",
                                regimes=["eu_gdpr"], country="DE", email=world.ana.email, language="de",
                                case=world.case, subject=world.ana)
    assert exports.case_language(world.case) == "de"
    z = unzip(build_package(world.case))
    index = z.read("index.html").decode()
    assert '<html lang="de">' in index
    assert "Die personenbezogenen Daten, die wir über Sie speichern" in index
    text = pdftotext(z.read("access-report.pdf"))
    for heading in ("Speichern wir Daten über Sie?", "Warum wir Ihre Daten nutzen", "Welche Daten wir speichern",
                    "Wer Ihre Daten erhält", "Wie lange wir sie speichern", "Ihr Recht auf Beschwerde",
                    "Woher Ihre Daten stammen", "Automatisierte Entscheidungen", "Übermittlungen außerhalb Europas",
                    "Was wir nicht aufgenommen haben, und warum"):
        assert heading in text, heading
    for ref in ("a", "b", "c", "d", "e", "f", "g", "h"):
        assert f"Artikel 15 Absatz 1 Buchstabe {ref}" in text, ref
    assert "Artikel 15 Absatz 2" in text and "FaceModel Inference Inc." in text
    assert "The personal data we hold about you" not in text and "Why we use your data" not in text
    notice = OutboundMessage.objects.get(case=world.case, template="export_ready")
    assert notice.subject_line.startswith("Ihre Daten stehen zum Download bereit")
    assert "Wir haben Ihr Auskunftsersuchen" in notice.body_text and "nie per E-Mail" in notice.body_text
    filings = json.loads(z.read("data/portal-filings.json"))["records"]
    assert [f["language"] for f in filings] == ["de"]


def test_a_german_controllers_export_notice_and_report_date_the_request_the_day_it_arrived_in_berlin(world, settings):
    # 22:30 UTC on 30 September is 00:30 on 1 October in Berlin: the deadline counts from 1 October
    # (tests/test_cases_api.py), so the letters must say 1 October too, not the UTC date.
    from datetime import UTC, datetime

    settings.DSR_CONTROLLER_COUNTRY, settings.DSR_TIME_ZONE = "DE", None
    received = datetime(2026, 9, 30, 22, 30, tzinfo=UTC)
    operator = create_staff("de-export-operator", "pw-for-tests-only", Role.OPERATOR)
    with time_machine.travel(received, tick=False):
        case, _ = workflow.submit_case(kind="access", regimes=["eu_gdpr"], subject=world.ana, received_at=received,
                                       actor="test", now=received)
        case = workflow.verify_identity(case, method="account_reauth", actor=operator, now=received)
    package = build_package(case, now=datetime(2026, 10, 2, 9, tzinfo=UTC))
    message = OutboundMessage.objects.get(case=case, template="export_ready")
    assert f"{case.reference}, received on 1 October 2026." in " ".join(message.body_text.split())
    assert "30 September" not in message.body_text
    text = pdftotext(unzip(package).read("access-report.pdf"))
    assert f"Your request {case.reference}, received on 1 October 2026. Prepared on 2 October 2026." in text
    assert "30 September" not in text
