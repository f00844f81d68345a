"""Access and portability packages (issue 10): started once a case is approved, built by a durable step run,
sealed under the subject's key, delivered by a completion notice that says how to get them, downloaded
through the API or the console (audited), deleted at expiry or when the subject is erased.

The verbs other helpers use (docs/interfaces.md "Exports"): ``start_export``, ``export_status``,
``package_for``, ``open_package``, ``mark_downloaded``; the erasure cascade calls ``erase_packages`` through
the ``exports`` holder.

How a build runs (``build_step``): the package row gets a fresh random blob name (committed before the first
byte is written, so a killed attempt's partial file is known and deleted by the next attempt); the ZIP is
generated entry by entry (``dsr/package.py``), each file hashed while it streams, and sealed chunk by chunk
straight into that blob; the row becomes ``ready`` in a fenced transaction. A killed build starts again
from the beginning: nothing it half-wrote survives it, and no temporary file is used.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import get_template, render_to_string
from django.utils import timezone, translation

from dsr import access_report, audit, crypto, emails, holders, steps, storage, vault, workflow
from dsr.deadlines import Kind
from dsr.export_content import (
    ITEM_COLUMNS,
    Catalogue,
    Scope,
    Stats,
    iso,
    item_record,
    item_row,
    iter_views,
    media_totals,
)
from dsr.models import (
    Case,
    CaseState,
    Consent,
    ExportPackage,
    Outcome,
    PackageState,
    PortalFiling,
    StepRun,
    Subject,
)
from dsr.models.cases import OPEN_STATES
from dsr.package import FileEntry, PackageStream, Pipe, csv_document, json_document, prefetched
from dsr.pdf import render_pdf_isolated
from dsr.steps import StepContext, StepError, StepSpec

EXPORT_KINDS = frozenset({Kind.ACCESS.value, Kind.PORTABILITY.value})
FORMAT_VERSION = "1.0"
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "export" / "v1"
SCHEMA_NAMES = ("manifest", "subject", "items", "consents", "requests", "records")
CCPA_EARLIEST = datetime(2022, 1, 1, tzinfo=UTC)  # on request, a request to know reaches back to here (§7.6)
PROGRESS_EVERY = 1.0  # seconds between progress writes


class ExportError(Exception):
    """A refused export operation; the message is safe to show (no personal data)."""


def schema_url(name: str) -> str:
    return f"{settings.DSR_BASE_URL.rstrip('/')}/schemas/export/v1/{name}.schema.json"


def schema_text(name: str) -> bytes:
    if name not in SCHEMA_NAMES:
        raise KeyError(name)
    return (SCHEMA_DIR / f"{name}.schema.json").read_bytes()


def case_language(case: Case) -> str:
    """The language the request was made in (the portal records it), if dsr speaks it; else the default."""
    language = PortalFiling.objects.filter(case=case).values_list("language", flat=True).first()
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def expiry_days() -> int:
    return int(getattr(settings, "DSR_EXPORT_EXPIRY_DAYS", 7))


def covers_from(case: Case, *, full_history: bool) -> datetime | None:
    """A CCPA-only request to know covers the 12 months before receipt, or back to 2022 on request (§7.6).
    Under the GDPR (also on a case with both) access covers everything."""
    if set(case.regimes) != {"ccpa"}:
        return None
    if full_history:
        return CCPA_EARLIEST
    received = case.received_at
    try:
        return received.replace(year=received.year - 1)
    except ValueError:  # 29 February
        return received.replace(year=received.year - 1, day=28)


# --- verbs --------------------------------------------------------------------------------------------------


def start_export(case: Case, *, actor: workflow.Actor, now: datetime, full_history: bool = False,
                 withheld_note: str = "", withheld_ground: str = "") -> StepRun:
    """Start building the package of an approved access or portability case. Steps: lock the case; refuse
    unless it is an open, unpaused access/portability case with verified identity whose subject is not
    being erased and has no package on its way or ready; create the package row; start the run
    (build → deliver); write ``export.started``. ``withheld_note``: what the operator withholds beyond the
    automatic rules, and why (makes the completion a partial one, with the Art. 12(4) information);
    ``withheld_ground``: the refusal ground of that part (feeds the CCPA §7102 breakdown; "other" if none)."""
    withheld_note = (withheld_note or "").strip()
    if withheld_note and len(withheld_note) < 10:
        raise workflow.WorkflowError("say what is withheld and why (at least 10 characters)")
    if withheld_ground and not withheld_note:
        raise workflow.WorkflowError("a ground is only recorded for a part withheld: say what and why")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        if case.kind not in EXPORT_KINDS:
            raise workflow.WorkflowError("only access and portability requests produce a package")
        if case.state not in OPEN_STATES:
            raise workflow.WorkflowError(f"case {case.reference} is {case.get_state_display().lower()}")
        if case.state == CaseState.PAUSED:
            raise workflow.WorkflowError("resume the case before starting its export")
        if not case.verified_at:
            raise workflow.WorkflowError("verify the requester's identity first")
        if withheld_ground and workflow.GROUNDS_BY_CODE.get(withheld_ground) not in workflow.grounds_for(case):
            raise workflow.WorkflowError("that ground does not apply to this kind of request under its regimes")
        subject = Subject.objects.filter(pk=case.subject_id).first()
        if subject is None or subject.erased_at or subject.writes_blocked_at:
            raise workflow.WorkflowError("the subject is erased or being erased; there is nothing to export")
        if ExportPackage.objects.current().filter(case=case).exists():
            raise workflow.WorkflowError("this case already has a package being built or ready")
        package = ExportPackage.objects.create(
            case=case, subject=subject, kind=case.kind, created_at=now,
            covers_from=covers_from(case, full_history=full_history), withheld_note=withheld_note,
            withheld_ground=withheld_ground if withheld_note else "",
        )
        label = workflow.actor_label(actor)
        run = steps.start_run("export", [
            StepSpec("build", "dsr.exports.build_step", 1, {"package": str(package.pk)}),
            StepSpec("deliver", "dsr.exports.deliver_step", 2, {"package": str(package.pk)}),
        ], object_type="case", object_id=case.pk, actor=label, now=now, subject_ref=case.subject_ref)
        package.run = run
        package.save(update_fields=["run"])
        audit.record("export.started", actor=label, now=now, object_type="case", object_id=case.pk,
                     subject_ref=case.subject_ref,
                     data={"package": str(package.pk), "run": str(run.pk), "kind": case.kind,
                           "full_history": full_history, "operator_withheld": bool(withheld_note)})
    return run


def package_for(case: Case) -> ExportPackage | None:
    """The case's package that is on its way or ready; else its most recent one (expired, deleted…)."""
    packages = ExportPackage.objects.filter(case=case)
    return packages.current().first() or packages.order_by("-created_at").first()


def export_status(case: Case) -> dict[str, Any] | None:
    """For the case JSON, the console and the portal: state, progress, size, expiry, manifest digest."""
    package = package_for(case)
    if package is None:
        return None
    return {
        "id": str(package.pk),
        "state": package.state,
        "progress": package.progress_percent(),
        "files_done": package.files_done,
        "files_total": package.files_total,
        "size": package.size if package.is_ready else None,
        "created_at": iso(package.created_at),
        "ready_at": iso(package.ready_at),
        "expires_at": iso(package.expires_at) if package.state == PackageState.READY else None,
        "manifest_sha256": package.manifest_sha256 or None,
        "covers_from": iso(package.covers_from),
        "downloads": package.download_count,
    }


def _package_key(package: ExportPackage) -> bytes:
    return crypto.derive_item_key([vault.data_key(package.subject_id)], item_id=b"dsr-export-v1|" + package.pk.bytes)


def _package_aad(package: ExportPackage) -> bytes:
    return f"dsr-export-v1|package:{package.pk}|subject:{package.subject_id}|case:{package.case_id}".encode()


def open_package(package: ExportPackage) -> Iterator[bytes]:
    """The decrypted ZIP, streamed. Raises ExportError if the package is not ready, vault.KeyDestroyed if the
    subject was erased. The key and the blob's header are checked before this returns."""
    if package.state != PackageState.READY or not package.blob_name:
        raise ExportError("the package is not ready or no longer exists")
    key = _package_key(package)
    fh = storage.blob_storage().open(package.blob_name, "rb")
    try:
        chunks = crypto.open_stream(key, fh, aad=_package_aad(package))
    except BaseException:
        fh.close()
        raise

    def stream() -> Iterator[bytes]:
        with fh:
            yield from chunks

    return stream()


def download_name(package: ExportPackage) -> str:
    return f"{package.case.reference.lower()}-{package.kind}.zip"


def mark_downloaded(package: ExportPackage, *, actor: workflow.Actor, now: datetime, channel: str) -> None:
    """Record a download (who, through which channel) as an audit event, with the package's counters."""
    with transaction.atomic():
        locked = ExportPackage.objects.select_for_update().get(pk=package.pk)
        locked.download_count += 1
        locked.first_downloaded_at = locked.first_downloaded_at or now
        locked.save(update_fields=["download_count", "first_downloaded_at"])
        audit.record("export.downloaded", actor=workflow.actor_label(actor), now=now, object_type="case",
                     object_id=locked.case_id, subject_ref=locked.case.subject_ref,
                     data={"package": str(locked.pk), "channel": channel, "count": locked.download_count})


def expire_packages(*, now: datetime, actor: str = "system:export-expiry") -> int:
    """Delete every ready package past its expiry: the blob first (idempotent), then the row is marked, so a
    package marked expired is gone from storage; a run killed in between deletes again next time."""
    done = 0
    for package in ExportPackage.objects.due_to_expire(now).order_by("expires_at")[:500]:
        if package.blob_name:
            storage.delete_blob(package.blob_name)
        with transaction.atomic():
            updated = ExportPackage.objects.filter(pk=package.pk, state=PackageState.READY).update(
                state=PackageState.EXPIRED, blob_name="", deleted_at=now)
            if updated:
                audit.record("export.expired", actor=actor, now=now, object_type="case", object_id=package.case_id,
                             data={"package": str(package.pk)})
                done += 1
    return done


def erase_packages(subject: Subject, ctx: StepContext | None = None) -> dict[str, int]:
    """The ``exports`` holder's erase (erasure cascade): stop builds, delete every package blob, then the
    rows. Idempotent: a second run finds nothing."""
    now = timezone.now()
    packages = list(ExportPackage.objects.filter(subject=subject))
    cancelled = 0
    for package in packages:
        if package.run_id and package.run.state in ("running", "needs_attention"):
            cancelled += steps.cancel_run(package.run, actor="system:erasure", now=now, subject_ref=subject.reference)
    blobs = 0
    for package in packages:
        if package.blob_name:
            storage.delete_blob(package.blob_name)
            blobs += 1

    def delete() -> int:
        count, _ = ExportPackage.objects.filter(pk__in=[p.pk for p in packages]).delete()
        if packages:
            audit.record("export.erased", actor="system:erasure", now=now, object_type="subject",
                         object_id=subject.pk, subject_ref=subject.reference,
                         data={"packages": len(packages), "blobs": blobs, "builds_cancelled": cancelled})
        return count

    if ctx is not None:
        with ctx.fenced():
            deleted = delete()
    else:
        with transaction.atomic():
            deleted = delete()
    return {"export_packages": deleted, "export_blobs": blobs, "export_builds_cancelled": cancelled}


def describe_packages(subject: Subject) -> dict[str, int]:
    return {"export_packages": ExportPackage.objects.current().filter(subject=subject).count()}


# --- the run's steps ------------------------------------------------------------------------------------


def build_step(ctx: StepContext) -> dict[str, Any]:
    """Build (or rebuild, after a killed attempt) the package and make it ready. Idempotent."""
    with ctx.fenced():
        package = ExportPackage.objects.select_for_update().select_related("case", "subject").get(
            pk=ctx.params["package"])
        if package.state == PackageState.READY:
            return {"files": package.file_count, "bytes": package.size, "already_built": True}
        if package.state != PackageState.BUILDING:
            raise StepError(f"package {package.pk} is {package.state}; nothing to build")
        if package.subject.writes_blocked_at or package.subject.erased_at:
            raise StepError("the subject is being erased; the export stops")
        stale = package.blob_name
        package.blob_name = storage.new_blob_name()
        package.attempt += 1
        package.files_done = package.bytes_done = 0
        package.save(update_fields=["blob_name", "attempt", "files_done", "bytes_done"])
    if stale:
        storage.delete_blob(stale)  # what a killed attempt had written
    written, stream = _write(package, ctx)
    manifest = next(w for w in stream.written if w.path == "manifest.json")
    now = timezone.now()
    with ctx.fenced():
        current = ExportPackage.objects.select_for_update().get(pk=package.pk)
        if current.state != PackageState.BUILDING or current.blob_name != package.blob_name:
            raise StepError("the package changed while it was being built")
        current.state = PackageState.READY
        current.size, current.stored_size = written.plain_size, written.stored_size
        current.file_count = len(stream.written)
        current.manifest_sha256 = manifest.sha256
        current.ready_at, current.expires_at = now, now + timedelta(days=expiry_days())
        current.files_done, current.bytes_done = current.files_total, current.bytes_total
        current.save()
        audit.record("export.ready", actor="system:exports", now=now, object_type="case",
                     object_id=current.case_id, subject_ref=package.case.subject_ref,
                     data={"package": str(current.pk), "files": current.file_count, "bytes": current.size,
                           "attempt": current.attempt})
    return {"files": len(stream.written), "bytes": written.plain_size, "attempt": package.attempt}


def deliver_step(ctx: StepContext) -> dict[str, Any]:
    """Complete the case with the notice that says how to get the package (never the package itself)."""
    package = ExportPackage.objects.select_related("case").get(pk=ctx.params["package"])
    if package.state != PackageState.READY:
        raise StepError(f"package {package.pk} is {package.state}, not ready")
    case = package.case
    if case.state == CaseState.PAUSED:
        raise steps.Deferred(timezone.now() + timedelta(hours=1), "the case is paused")
    with ctx.fenced():
        completed = complete_with_package(case, package, now=timezone.now())
    return {"case_completed": completed}


def complete_with_package(case: Case, package: ExportPackage, *, now: datetime) -> bool:
    """The only way an access or portability case completes. Call inside a transaction. Returns False when
    the case had already closed (a second delivery, or the case was cancelled meanwhile)."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.state not in OPEN_STATES or case.state == CaseState.PAUSED:
        return False
    partial = bool(package.withheld_note)
    outcome = Outcome.COMPLIED_PARTIAL if partial else Outcome.COMPLIED_FULL
    case.state, case.outcome = CaseState.COMPLETED, outcome
    case.refusal_reason = package.withheld_note
    case.refusal_ground = (package.withheld_ground or "other") if partial else ""
    case.substantive_response_at = case.closed_at = now
    case.save(update_fields=["state", "outcome", "refusal_reason", "refusal_ground", "substantive_response_at",
                             "closed_at"])
    workflow._mark_responded(case, now)
    address = workflow._subject_address(case)
    if address:
        with translation.override(case_language(case)):
            emails.queue("export_ready", to=address, now=now, case=case, context=_notice_context(case, package))
    workflow._event(case, "completed", actor="system:exports", now=now, outcome=outcome, forced=False,
                    package=str(package.pk), notice_sent=bool(address))
    return True


def _notice_context(case: Case, package: ExportPackage) -> dict[str, Any]:
    regimes = [r for r in ("eu_gdpr", "uk_gdpr", "ccpa") if r in case.regimes]
    return {
        "case": case,
        "portability": package.kind == Kind.PORTABILITY,
        # The controller's statutory date, as every other letter gives it (workflow.notice_context): a request at
        # 22:30 UTC on 30 September reached a German controller on 1 October, and its deadline counts from then.
        "received_on": workflow.local_today(case.received_at, case.due_regime),
        "expires_at": package.expires_at,
        "download_hint": settings.DSR_EXPORT_DOWNLOAD_HINT,
        "download_url": settings.DSR_EXPORT_DOWNLOAD_URL,
        "partial": bool(package.withheld_note),
        "note": package.withheld_note,
        "complaints": access_report.complaint_paragraphs(regimes),
    }


# --- writing the package ----------------------------------------------------------------------------------


class _Progress:
    """Progress on the package row (throttled) and the step's lease kept alive while the build streams."""

    def __init__(self, package: ExportPackage, ctx: StepContext | None) -> None:
        self.package_id = package.pk
        self.ctx = ctx
        self.files = 0
        self.bytes = 0
        self._started = self._written = self._beat = time.monotonic()
        self._cap = int(getattr(settings, "DSR_EXPORT_MAX_BYTES_PER_SECOND", 0) or 0)
        self._beat_every = min(10.0, steps.lease_seconds() / 3)  # well inside the lease

    def on_bytes(self, n: int) -> None:
        self.bytes += n
        if self._cap:
            ahead = self.bytes / self._cap - (time.monotonic() - self._started)
            while ahead > 0:  # sleep in short slices so progress and the lease keep moving
                time.sleep(min(ahead, 0.2))
                self._tick()
                ahead = self.bytes / self._cap - (time.monotonic() - self._started)
        self._tick()

    def on_file(self, _written: object) -> None:
        self.files += 1
        self._tick()

    def _tick(self) -> None:
        t = time.monotonic()
        if t - self._written >= PROGRESS_EVERY:
            ExportPackage.objects.filter(pk=self.package_id).update(
                files_done=self.files, bytes_done=self.bytes)
            self._written = t
        if self.ctx is not None and t - self._beat >= self._beat_every:
            self.ctx.heartbeat()  # raises LeaseLost: the build stops and its partial blob is removed
            self._beat = t


def _write(package: ExportPackage, ctx: StepContext | None) -> tuple[storage.Written, PackageStream]:
    case, subject = package.case, package.subject
    scope = Scope(subject_id=subject.pk, kind=package.kind, regimes=tuple(case.regimes),
                  covers_from=package.covers_from)
    files_total, bytes_total = media_totals(scope)
    ExportPackage.objects.filter(pk=package.pk).update(files_total=files_total, bytes_total=bytes_total)
    package.files_total, package.bytes_total = files_total, bytes_total
    progress = _Progress(package, ctx)
    stream = PackageStream(entries=[], on_file=progress.on_file, on_bytes=progress.on_bytes)
    language = case_language(case)
    with translation.override(language):
        stream.entries = _entries(package, case, subject, scope, stream, language)
        key, aad, name = _package_key(package), _package_aad(package), package.blob_name
        # the ZIP is generated here (database, templates); a sealing thread encrypts and writes it meanwhile
        pipe = Pipe(lambda reader: storage.write_sealed(key, reader, aad=aad, name=name, depth=2))
        written = pipe.run(stream)
    return written, stream


def _entries(package: ExportPackage, case: Case, subject: Subject, scope: Scope, stream: PackageStream,
             language: str) -> Iterator[FileEntry]:
    """Every file of the package, in order: the media, the records, the schemas, the report, the index, and the
    manifest of all of it last. The report's counts come from a first walk over the items (metadata only), so
    the PDF renders on a helper thread while the media stream."""
    stats, catalogue = Stats(), Catalogue()
    for view in iter_views(scope, subject):
        stats.add(view)
    # what other holders keep (portal submissions, messages…): not in a portability package (not data the
    # subject provided to the service itself, nor observed about their use of it)
    extra = [] if scope.kind == Kind.PORTABILITY else [
        (h.name, rs) for h in holders.HOLDERS if h.export is not None for rs in h.export(subject)]
    report = access_report.build_context(case=case, subject=subject, package_id=package.pk, scope=scope,
                                         stats=stats, catalogue=catalogue, withheld_note=package.withheld_note,
                                         now=package.created_at)
    report["language"] = language
    report["other_records"] = [{"file": f"data/{h}-{rs.name}", "description": rs.description,
                                "count": len(rs.records)} for h, rs in extra]
    pdf = _RENDERER.submit(_render_report, report, language)  # context built here: no database on the thread
    try:
        yield from _media(scope, subject)
    except BaseException:
        pdf.cancel()
        raise
    def head(name: str, **extra: Any) -> dict[str, Any]:
        return {"schema": schema_url(name), "version": FORMAT_VERSION, "package": str(package.pk), **extra}

    def records() -> Iterator[dict[str, Any]]:
        return (item_record(v, scope, catalogue) for v in iter_views(scope, subject) if not v.withheld)

    yield FileEntry("data/subject.json", lambda: [_json({**head("subject"), "subject": _subject_record(subject)})],
                    compress=True, media_type="application/json", schema=schema_url("subject"))
    yield FileEntry("data/items.json", lambda: json_document(head("items", covers_from=iso(scope.covers_from)),
                                                             "items", records()),
                    compress=True, media_type="application/json", schema=schema_url("items"))
    yield FileEntry("data/items.csv", lambda: csv_document(ITEM_COLUMNS, (item_row(r) for r in records())),
                    compress=True, media_type="text/csv")
    consents = [_consent_record(c, catalogue) for c in Consent.objects.filter(subject=subject).order_by("granted_at")]
    yield FileEntry("data/consents.json", lambda: json_document(head("consents"), "consents", consents),
                    compress=True, media_type="application/json", schema=schema_url("consents"))
    yield FileEntry("data/consents.csv", lambda: csv_document(CONSENT_COLUMNS, ([c[k] for k in CONSENT_COLUMNS]
                                                                                for c in consents)),
                    compress=True, media_type="text/csv")
    requests = [_request_record(c) for c in Case.objects.filter(subject=subject).order_by("received_at")]
    yield FileEntry("data/requests.json", lambda: json_document(head("requests"), "requests", requests),
                    compress=True, media_type="application/json", schema=schema_url("requests"))
    yield FileEntry("data/requests.csv", lambda: csv_document(REQUEST_COLUMNS, (
        [" ".join(r[k]) if isinstance(r[k], list) else r[k] for k in REQUEST_COLUMNS] for r in requests)),
        compress=True, media_type="text/csv")
    for holder, record_set in extra:
        base = f"data/{holder}-{record_set.name}"
        doc = {**head("records"), "source": holder, "name": record_set.name, "description": record_set.description,
               "fields": record_set.fields}
        yield FileEntry(f"{base}.json", lambda doc=doc, rs=record_set: json_document(doc, "records", rs.records),
                        compress=True, media_type="application/json", schema=schema_url("records"))
        columns = list(record_set.fields)
        yield FileEntry(f"{base}.csv", lambda rs=record_set, columns=columns: csv_document(
            columns, ([r.get(c) for c in columns] for r in rs.records)), compress=True, media_type="text/csv")
    for name in SCHEMA_NAMES:
        yield FileEntry(f"schemas/{name}.schema.json", lambda name=name: [schema_text(name)], compress=True,
                        media_type="application/schema+json")

    yield FileEntry("access-report.pdf", lambda: [pdf.result()], media_type="application/pdf")
    yield FileEntry("index.html", lambda: _index_html(report, records()), compress=True, media_type="text/html")
    yield FileEntry("README.txt", lambda: [render_to_string("exports/readme.txt", report).encode()], compress=True,
                    media_type="text/plain")
    yield FileEntry("manifest.json", lambda: [_json(_manifest(package, case, scope, stream))], compress=True,
                    media_type="application/json", schema=schema_url("manifest"))


def _media(scope: Scope, subject: Subject) -> Iterator[FileEntry]:
    for view in iter_views(scope, subject):
        if view.file_path and not view.withheld:
            yield FileEntry(view.file_path, lambda item=view.item: prefetched(vault.open_item(item)),
                            media_type=view.item.content_type)


# The report is laid out by WeasyPrint in a child process (dsr/pdf.py render_pdf_isolated) while the media stream:
# the worker never carries WeasyPrint's memory, and WeasyPrint's pure-Python layout never takes the GIL from the
# streaming threads (bench/export.py). This thread renders the template, then only waits for the child.
_RENDERER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dsr-export-pdf")


def _render_report(report: dict[str, Any], language: str) -> bytes:
    with translation.override(language):  # the active language is per thread
        return render_pdf_isolated("pdf/access_report.html", report)


def _json(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode()


def _subject_record(subject: Subject) -> dict[str, Any]:
    return {"id": str(subject.pk), "kind": subject.kind, "email": subject.email, "account_id": subject.account_id,
            "created_at": iso(subject.created_at)}


CONSENT_COLUMNS = ["id", "purpose", "purpose_name", "item", "granted_at", "withdrawn_at", "method", "notice_version"]


def _consent_record(consent: Consent, catalogue: Catalogue) -> dict[str, Any]:
    activity = catalogue.activities.get(consent.purpose)
    return {"id": str(consent.pk), "purpose": consent.purpose, "purpose_name": activity.name if activity else None,
            "item": str(consent.item_id) if consent.item_id else None, "granted_at": iso(consent.granted_at),
            "withdrawn_at": iso(consent.withdrawn_at), "method": consent.method,
            "notice_version": consent.notice_version}


REQUEST_COLUMNS = ["reference", "kind", "laws", "received_at", "state", "outcome", "closed_at", "details"]


def _request_record(case: Case) -> dict[str, Any]:
    return {"reference": case.reference, "kind": case.kind, "laws": list(case.regimes),
            "received_at": iso(case.received_at), "state": case.state, "outcome": case.outcome or None,
            "closed_at": iso(case.closed_at), "details": case.details}


def _manifest(package: ExportPackage, case: Case, scope: Scope, stream: PackageStream) -> dict[str, Any]:
    files = []
    for w in stream.written:
        entry: dict[str, Any] = {"path": w.path, "sha256": w.sha256, "size": w.size}
        if w.media_type:
            entry["media_type"] = w.media_type
        if w.schema:
            entry["schema"] = w.schema
        files.append(entry)
    return {"schema": schema_url("manifest"), "version": FORMAT_VERSION, "package": str(package.pk),
            "kind": package.kind, "created_at": iso(package.created_at), "case": case.reference,
            "controller": settings.DSR_CONTROLLER_NAME, "covers_from": iso(scope.covers_from), "files": files}


def _index_html(report: dict[str, Any], records: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """The offline index: the report, then every item (escaped by the template engine; no script can run,
    the page's content security policy forbids it and loads nothing from a network)."""
    yield render_to_string("exports/index_head.html", report).encode()
    row = get_template("exports/_index_item.html")
    any_items = False
    for r in records:
        any_items = True
        kind = (r["content_type"] or "").split("/")[0]
        content = r["content"]
        yield row.render({
            "r": r, "is_image": kind == "image", "is_video": kind == "video",
            "created": datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")),
            "delete_by": datetime.fromisoformat(r["delete_by"].replace("Z", "+00:00")) if r["delete_by"] else None,
            "content_text": json.dumps(content, ensure_ascii=False, indent=1) if content is not None else "",
            "attributes": [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                           for k, v in sorted(r["attributes"].items())],
        }).encode()
    yield render_to_string("exports/index_tail.html", {**report, "any_items": any_items}).encode()
