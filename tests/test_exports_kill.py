"""A real qcluster is killed (SIGKILL, the whole cluster) in the middle of building an export, then restarted: the
result is one correct package, and nothing the killed build wrote — partial blob or temporary file — is left."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.utils import timezone

from dsr import exports, steps, vault
from dsr.models import CaseState, DataItem, ExportPackage, Holding, PackageState, StepRun
from tests import factories
from tests.qcluster import QCluster, require_postgres, wait_for

MiB = 1024 * 1024


def files_under(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}


@pytest.mark.django_db(transaction=True)  # seed data is put back by tests/conftest.py
def test_a_worker_killed_mid_export_restarts_into_one_correct_package_and_leaves_nothing_behind(tmp_path: Path):
    require_postgres()
    from dsr import workflow
    from dsr.roles import Role, create_staff

    subject = factories.subject("killed.export@example.com")
    media = []
    for i in range(6):  # 24 MiB, read at a capped 6 MiB/s: the build takes about four seconds
        media.append(vault.store_item(vault.NewItem(
            category="generated_video", purpose="photo_generation", holders=[(subject, Holding.Role.OWNER)],
            content=bytes([i]) * (4 * MiB - 17), content_type="video/mp4"), actor="test", now=factories.T0))
    operator = create_staff("kill-op", "pw-for-tests-only", Role.OPERATOR)
    case, _ = workflow.submit_case(kind="access", regimes=["eu_gdpr"], subject=subject, received_at=factories.T0,
                                   actor="test", now=factories.T0)
    workflow.verify_identity(case, method="account_reauth", actor=operator, now=factories.T0)

    blobs = tmp_path / "blobs"
    before = files_under(blobs)
    assert before == {i.blob_name for i in DataItem.objects.all() if i.blob_name}
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"DSR_STEP_LEASE_SECONDS": "3", "DSR_EXPORT_MAX_BYTES_PER_SECOND": str(6 * MiB), "TMPDIR": str(scratch)}
    with QCluster(tmp_path, **env) as cluster:
        run = exports.start_export(case, actor="test", now=timezone.now())
        package = ExportPackage.objects.get(case=case)

        def halfway() -> bool:
            p = ExportPackage.objects.get(pk=package.pk)
            return p.bytes_done > 4 * MiB and p.state == PackageState.BUILDING

        wait_for(halfway, timeout=60, what="the build to be under way")
        partial = ExportPackage.objects.get(pk=package.pk).blob_name
        assert (blobs / partial).exists()  # the killed attempt's file, named on the row before it was written
        cluster.kill_all()  # SIGKILL: no handler, no cleanup
        assert ExportPackage.objects.get(pk=package.pk).state == PackageState.BUILDING
        cluster.start()

        def reconciled_and_done() -> bool:
            steps.reconcile(timezone.now())
            return StepRun.objects.get(pk=run.pk).state == "done"

        wait_for(reconciled_and_done, timeout=120, interval=1, what="the export to finish after the restart")

    package.refresh_from_db()
    case.refresh_from_db()
    assert package.state == PackageState.READY and package.attempt == 2
    assert case.state == CaseState.COMPLETED
    assert ExportPackage.objects.filter(case=case).count() == 1
    assert not (blobs / partial).exists()
    assert files_under(blobs) == before | {package.blob_name}  # exactly one package blob, nothing else
    assert list(scratch.iterdir()) == []  # no temporary files

    with zipfile.ZipFile(io.BytesIO(b"".join(exports.open_package(package)))) as z:
        manifest = json.loads(z.read("manifest.json"))
        for entry in manifest["files"]:
            assert hashlib.sha256(z.read(entry["path"])).hexdigest() == entry["sha256"]
        items = {r["id"]: r for r in json.loads(z.read("data/items.json"))["items"]}
        for item in media:
            assert z.read(items[str(item.pk)]["file"]) == vault.read_item(item)
