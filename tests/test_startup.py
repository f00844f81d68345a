"""Production checks hold wherever the app starts (WSGI and ASGI as well as manage.py), DEBUG is on only when
development is asked for, and the files holding keys and data are private (issue 7 §7)."""

from __future__ import annotations

import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dsr import audit, keys
from tests.test_settings_checks import REPO, _clean_env, _manage, _production_env

DEV_SECRET = "dev-insecure-" + "x" * 50


def _python(env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("module", ["dsr.wsgi", "dsr.asgi"])
def test_importing_the_server_entry_point_with_production_settings_and_a_dev_secret_raises(tmp_path, module):
    env = _production_env(tmp_path, SECRET_KEY=DEV_SECRET, DSR_KEYS=None)

    done = _python(env, f"import {module}; print('SERVING')")

    assert done.returncode != 0
    assert "SERVING" not in done.stdout
    assert "ImproperlyConfigured" in done.stderr and "dsr refuses to start" in done.stderr
    assert "dsr.E002" in done.stderr and "dsr.E004" in done.stderr


@pytest.mark.parametrize("module", ["dsr.wsgi", "dsr.asgi"])
def test_the_server_entry_point_loads_with_the_documented_production_settings(tmp_path, module):
    done = _python(_production_env(tmp_path), f"import {module}; print(callable({module}.application))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_a_production_server_without_a_pseudonym_key_refuses_to_start(tmp_path):
    done = _python(_production_env(tmp_path, DSR_PSEUDONYM_KEY=None), "import dsr.wsgi")
    assert done.returncode != 0 and "dsr.E020" in done.stderr


def test_the_pseudonym_key_must_not_be_the_secret_key(tmp_path):
    shared = secrets.token_urlsafe(48)
    done = _manage(_production_env(tmp_path, SECRET_KEY=shared, DSR_PSEUDONYM_KEY=shared), "check")
    assert done.returncode != 0 and "dsr.E021" in done.stdout + done.stderr


_SHOW_DEBUG = "from django.conf import settings; print(settings.DEBUG)"


@pytest.mark.parametrize(("dsr_env", "debug"), [
    (None, "False"),            # left unset: no debug page
    ("development", "True"),    # what `make run` sets
    ("production", "False"),
])
def test_debug_is_on_only_when_development_is_asked_for(tmp_path, dsr_env, debug):
    env = _clean_env(tmp_path) if dsr_env != "production" else _production_env(tmp_path)
    if dsr_env:
        env["DSR_ENV"] = dsr_env
    done = _manage(env, "shell", "-c", _SHOW_DEBUG)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == debug


def test_an_unset_dsr_env_serves_no_debug_page_with_settings_on_an_error(tmp_path):
    env = _clean_env(tmp_path)
    code = ("import dsr.wsgi; from django.test import Client; "
            "r = Client().get('/no-such-page/'); print(r.status_code, b'DEBUG = True' in r.content, "
            "b'SECRET_KEY' in r.content)")
    done = _python(env, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "404 False False"


def test_a_misspelt_dsr_env_is_refused_rather_than_read_as_development(tmp_path):
    done = _manage(_clean_env(tmp_path, DSR_ENV="prod"), "check")
    assert done.returncode != 0
    assert "DSR_ENV must be 'production' or 'development'" in done.stderr


def test_the_sqlite_database_and_its_wal_are_created_private(tmp_path):
    env = _clean_env(tmp_path)
    env.pop("DATABASE_URL")  # the default: SQLite under DSR_DATA_DIR
    db = tmp_path / "dsr.sqlite3"
    code = ("from django.db import connection; connection.cursor().execute('CREATE TABLE probe (x)'); "
            "import os, stat; "
            f"print(*[oct(stat.S_IMODE(os.stat({str(db)!r} + s).st_mode)) for s in ('', '-wal', '-shm')])")

    done = _manage(env, "shell", "-c", code)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].split() == ["0o600", "0o600", "0o600"]


def test_a_world_readable_sqlite_file_from_an_earlier_version_is_tightened(tmp_path):
    env = _clean_env(tmp_path)
    env.pop("DATABASE_URL")
    db = tmp_path / "dsr.sqlite3"
    db.touch(mode=0o644)
    db.chmod(0o644)

    done = _manage(env, "check")

    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


# --- the pseudonym key ------------------------------------------------------------------------------------


@pytest.fixture
def dev_pseudonym(settings, tmp_path) -> Path:
    settings.DSR_PSEUDONYM_KEY = None
    settings.PRODUCTION = False
    return settings.DSR_PSEUDONYM_KEY_DEV_FILE


def test_development_generates_its_own_private_pseudonym_key(dev_pseudonym, settings):
    assert not dev_pseudonym.exists()

    ref = audit.subject_reference("0b8f7c1e-2a5d-4e63-9d43-6c1f0a2b3c4d")

    assert dev_pseudonym.is_file() and stat.S_IMODE(dev_pseudonym.stat().st_mode) == 0o600
    assert len(dev_pseudonym.read_text().strip()) >= 32
    assert keys.pseudonym_key() != settings.SECRET_KEY.encode()
    assert audit.subject_reference("0b8f7c1e-2a5d-4e63-9d43-6c1f0a2b3c4d") == ref


def test_rotating_the_secret_key_does_not_change_subject_references(dev_pseudonym, settings):
    before = audit.subject_reference("0b8f7c1e-2a5d-4e63-9d43-6c1f0a2b3c4d")
    settings.SECRET_KEY = secrets.token_urlsafe(48)
    assert audit.subject_reference("0b8f7c1e-2a5d-4e63-9d43-6c1f0a2b3c4d") == before


def test_production_never_generates_a_pseudonym_key(dev_pseudonym, settings):
    settings.PRODUCTION = True
    with pytest.raises(keys.KeyRingUnavailable):
        keys.pseudonym_key()
    assert not dev_pseudonym.exists()
