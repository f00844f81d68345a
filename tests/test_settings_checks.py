"""Production start-up refuses a misconfiguration; development generates and keeps its own key ring.

The production cases run `manage.py check --deploy --fail-level WARNING` in a fresh process with a clean
environment, exactly as an operator would before going live (README "Configuration").
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dsr import keys
from dsr.crypto import KeyRing

REPO = Path(__file__).resolve().parent.parent
_SETTING_PREFIXES = (
    "DSR_", "DATABASE_URL", "DB_CONN_", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "CSRF_", "SECURE_",
    "SESSION_COOKIE_", "EMAIL_", "DEFAULT_FROM_EMAIL", "AWS_", "STATIC_ROOT", "FILE_UPLOAD_", "LOG_LEVEL",
)


def _clean_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """The caller's environment minus every dsr/Django setting (DSR_TESTING, an inherited DATABASE_URL…)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTING_PREFIXES)}
    env.update(DSR_DATA_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'dsr.sqlite3'}")
    env.update(values)
    return env


def _production_env(tmp_path: Path, **changes: str | None) -> dict[str, str]:
    values = {
        "DSR_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DSR_KEYS": KeyRing.generate_spec(),
        "DSR_PSEUDONYM_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "dsr.example.com",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "DSR_AUDIT_KEY": keys.generate_audit_key(),
        "DSR_AUDIT_SIGNING_KEY": keys.generate_audit_signing_key(),
    }
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    return _clean_env(tmp_path, **values)


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def _deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return _manage(env, "check", "--deploy", "--fail-level", "WARNING")


def test_the_documented_production_settings_pass_the_deploy_check(tmp_path):
    env = _production_env(tmp_path)
    assert len(env["SECRET_KEY"]) >= 50

    done = _deploy_check(env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_secrets_can_come_from_files_named_by_NAME_FILE(tmp_path):
    keys_file = tmp_path / "dsr_keys"
    keys_file.write_text(KeyRing.generate_spec() + "\n")
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(secrets.token_urlsafe(48) + "\n")
    env = _production_env(tmp_path, DSR_KEYS=None, SECRET_KEY=None,
                          DSR_KEYS_FILE=str(keys_file), SECRET_KEY_FILE=str(secret_file))

    done = _deploy_check(env)
    assert done.returncode == 0, done.stdout + done.stderr


BAD_KEY = base64.urlsafe_b64encode(b"sixteen-byte-key").decode()


@pytest.mark.parametrize(
    ("case", "changes", "issue"),
    [
        ("no key ring", {"DSR_KEYS": None}, "dsr.E002"),
        ("a key ring that is not base64", {"DSR_KEYS": "k1:not*base64*at*all"}, "dsr.E003"),
        ("a key ring with a 16-byte key", {"DSR_KEYS": f"k1:{BAD_KEY}"}, "dsr.E003"),
        ("a key ring without ids", {"DSR_KEYS": "just-some-text"}, "dsr.E003"),
        ("the development SECRET_KEY", {"SECRET_KEY": "dev-insecure-" + "x" * 50}, "dsr.E004"),
        ("a short SECRET_KEY", {"SECRET_KEY": "s3cr3t-but-short-Q7"}, "dsr.E004"),
        ("no SECRET_KEY at all", {"SECRET_KEY": None}, "dsr.E004"),
        ("DEBUG switched on", {"DEBUG": "1"}, "dsr.E005"),
        ("no pseudonym key", {"DSR_PSEUDONYM_KEY": None}, "dsr.E020"),
        ("a short pseudonym key", {"DSR_PSEUDONYM_KEY": "abcdefgh"}, "dsr.E020"),
        ("mail written to files", {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend"},
         "dsr.W001"),
        ("no ALLOWED_HOSTS", {"ALLOWED_HOSTS": None}, "security.W020"),
        ("HSTS switched off", {"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ("no audit chain key", {"DSR_AUDIT_KEY": None}, "dsr.E030"),
        ("a 16-byte audit chain key", {"DSR_AUDIT_KEY": BAD_KEY}, "dsr.E030"),
        ("no audit checkpoint signing key", {"DSR_AUDIT_SIGNING_KEY": None}, "dsr.E031"),
        ("an S3 checkpoint sink without a bucket", {"DSR_AUDIT_SINK": "s3"}, "dsr.E033"),
    ],
)
def test_production_refuses_to_start_with(tmp_path, case, changes, issue):
    done = _deploy_check(_production_env(tmp_path, **changes))

    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert issue in output, output
    assert "Traceback" not in output, output


def test_a_malformed_key_ring_is_reported_without_echoing_the_key(tmp_path):
    leaked = "Zm9vYmFyYmF6cXV4LXRoaXMtaXMtdGhlLXNlY3JldA"  # valid base64, wrong length
    done = _deploy_check(_production_env(tmp_path, DSR_KEYS=f"main:{leaked}"))

    assert "dsr.E003" in done.stdout + done.stderr
    assert leaked not in done.stdout + done.stderr


def test_key_ring_errors_stop_ordinary_commands_too_not_only_the_deploy_check(tmp_path):
    done = _manage(_production_env(tmp_path, DSR_KEYS=None), "check")
    assert done.returncode != 0
    assert "dsr.E002" in done.stderr + done.stdout


def test_development_needs_no_configuration(tmp_path):
    done = _manage(_clean_env(tmp_path), "check")
    assert done.returncode == 0, done.stdout + done.stderr


# --- the development key ring -------------------------------------------------------------------------


@pytest.fixture
def dev_ring(settings, tmp_path):
    settings.DSR_KEYS = None  # conftest gives every test a ring; development has none configured
    settings.PRODUCTION = False
    path = tmp_path / "keyring"
    assert path == settings.DSR_KEYRING_DEV_FILE
    return path


def test_development_generates_a_private_key_ring_on_first_use_and_reuses_it(dev_ring):
    assert not dev_ring.exists()

    spec = keys.keyring_spec()

    assert dev_ring.is_file()
    assert stat.S_IMODE(dev_ring.stat().st_mode) == 0o600
    assert KeyRing.from_spec(spec).active_id
    first_bytes = dev_ring.read_bytes()
    assert keys.keyring_spec() == spec
    assert keys.get_keyring().active_id == KeyRing.from_spec(spec).active_id
    assert dev_ring.read_bytes() == first_bytes


@pytest.mark.django_db
def test_data_sealed_with_the_generated_ring_reads_back_in_a_later_run(dev_ring):
    from dsr import vault
    from tests import factories

    owner = factories.subject("dev.ring@example.com")
    photo = factories.photo_item(owner)
    assert dev_ring.is_file()
    keys._parse.cache_clear()  # a new process: nothing cached, the file is read again

    assert vault.read_item(photo)[:3] == b"\xff\xd8\xff"


def test_processes_starting_together_agree_on_one_generated_ring(dev_ring):
    barrier = threading.Barrier(8)
    found: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            found.append(keys.keyring_spec())
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)

    assert not errors
    assert len(found) == 8 and len(set(found)) == 1
    assert found[0] == dev_ring.read_text().strip()


def test_production_never_generates_a_ring(settings, dev_ring):
    settings.PRODUCTION = True

    with pytest.raises(keys.KeyRingUnavailable):
        keys.keyring_spec()
    assert not dev_ring.exists()


def test_the_first_command_in_a_fresh_data_directory_creates_the_ring_and_later_ones_reuse_it(tmp_path):
    env = _clean_env(tmp_path)
    env.pop("DATABASE_URL")  # the default: SQLite under DSR_DATA_DIR
    show = ["shell", "-c", "from dsr.keys import get_keyring; print(get_keyring().active_id)"]

    first = _manage(env, *show)
    assert first.returncode == 0, first.stderr
    ring = tmp_path / "keyring"
    assert ring.is_file() and stat.S_IMODE(ring.stat().st_mode) == 0o600
    content = ring.read_text()

    second = _manage(env, *show)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == first.stdout.strip() != ""
    assert ring.read_text() == content


# --- legal clocks (issue 8) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("DSR_CONTROLLER_COUNTRY", "XX", "XX"),
        ("DSR_CONTROLLER_SUBDIVISION", "ZZ", "ZZ"),
        ("DSR_UK_NATION", "wales", "unknown UK nation"),
        ("DSR_TIME_ZONE", "Mars/Olympus_Mons", "Mars"),
        ("DSR_CCPA_EXTRA_HOLIDAYS", "9 Jan 2025", "not a date"),
    ],
)
def test_a_clock_setting_that_cannot_be_computed_refuses_the_start(settings, name, value, needle):
    from dsr.checks import legal_clock_settings

    assert legal_clock_settings() == []
    setattr(settings, name, value)
    errors = legal_clock_settings()
    assert errors and needle in errors[0].msg
    assert errors[0].id in {"dsr.E081", "dsr.E082"}


def test_a_country_outside_the_zone_table_needs_an_explicit_time_zone(settings):
    from dsr.checks import legal_clock_settings

    settings.DSR_CONTROLLER_COUNTRY, settings.DSR_TIME_ZONE = "US", None
    assert any("DSR_TIME_ZONE" in e.msg for e in legal_clock_settings())
    settings.DSR_TIME_ZONE = "America/New_York"
    assert legal_clock_settings() == []


def test_a_controller_whose_authority_the_table_cannot_name_gets_a_warning(settings):
    from dsr.checks import supervisory_authority_known

    assert supervisory_authority_known() == []  # IE
    settings.DSR_CONTROLLER_COUNTRY, settings.DSR_CONTROLLER_SUBDIVISION = "DE", None
    assert [w.id for w in supervisory_authority_known()] == ["dsr.W081"]
    settings.DSR_CONTROLLER_SUBDIVISION = "BY"
    assert supervisory_authority_known() == []
    settings.DSR_CONTROLLER_COUNTRY, settings.DSR_CONTROLLER_SUBDIVISION = "CH", None
    assert supervisory_authority_known()
    settings.DSR_SUPERVISORY_AUTHORITY = "Federal Data Protection and Information Commissioner (FDPIC), edoeb.admin.ch"
    assert supervisory_authority_known() == []
