"""Shared fixtures: an isolated key ring and blob directory per test, API clients, staff users."""

from __future__ import annotations

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
