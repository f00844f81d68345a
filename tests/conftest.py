"""Shared fixtures: an isolated key ring and blob directory per test, API clients, staff users."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from django.test import Client

from dsr.crypto import KeyRing


@pytest.fixture(autouse=True)
def isolated_vault(settings, tmp_path: Path, monkeypatch):
    """Every test gets its own key ring and blob storage, so nothing leaks between tests."""
    settings.DSR_KEYS = KeyRing.generate_spec("test1")
    settings.DSR_DATA_DIR = tmp_path
    settings.DSR_KEYRING_DEV_FILE = tmp_path / "keyring"
    settings.DSR_PSEUDONYM_KEY_DEV_FILE = tmp_path / "pseudonym_key"
    settings.STORAGES = {
        **settings.STORAGES,
        "dsr_blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "blobs")},
        },
    }
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # django-q2 reads Q_CLUSTER once at import, so tasks are made to run inline through its Conf.
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)
    return tmp_path / "blobs"


@pytest.fixture
def blob_dir(isolated_vault: Path) -> Path:
    return isolated_vault


@pytest.fixture
def api_token(db) -> str:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_api_token", "test-platform", "--all-scopes", stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def api(api_token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token}")


@pytest.fixture(autouse=True)
def _migration_seed_data_in_transactional_tests(request):
    """Transactional tests (live server, real concurrency) flush every table when they end. The data the
    migrations seed (processing register, regimes) is put back here before each of them, whatever ran
    before. Do not use ``serialized_rollback``: under Playwright's sync API (greenlets) its restore is
    skipped and its flush then re-creates content types under new ids, so the next restore collides."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("serialized_rollback"):
        pytest.fail("use django_db(transaction=True) without serialized_rollback (see tests/conftest.py)")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or (
        {"transactional_db", "live_server"} & set(request.fixturenames))
    if not transactional:
        yield
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps

    from dsr.models import ProcessingActivity, RegimeDefinition

    if not RegimeDefinition.objects.exists():
        importlib.import_module("dsr.migrations.0004_seed_regimes").seed(apps, None)
    if not ProcessingActivity.objects.exists():
        importlib.import_module("dsr.migrations.0002_seed_register").seed(apps, None)
    yield
