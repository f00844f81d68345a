"""dsr settings: ONE env-driven file (design.md).

Defaults are the embedded development set-up (SQLite, ORM task broker, local encrypted files under
``DSR_DATA_DIR``). ``DSR_ENV=production`` switches on secure defaults, and the system checks in
``dsr/checks.py`` refuse to start without a key ring and a real ``SECRET_KEY``.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    """Read NAME, or the content of the file named by NAME_FILE (Docker/K8s secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env(name)
    return int(value) if value not in (None, "") else default


# DSR_ENV is "production" or "development"; unset behaves as development for its conveniences (generated dev
# keys, mail to files) but never turns DEBUG on: the debug page shows settings, e-mails and derived key bytes, so
# it is on only when asked for (`make run` sets DSR_ENV=development explicitly).
_DSR_ENV_SET = (env("DSR_ENV") or "").strip()
if _DSR_ENV_SET not in ("", "development", "production"):
    raise ImproperlyConfigured(f"DSR_ENV must be 'production' or 'development', not {_DSR_ENV_SET[:20]!r}")
DSR_ENV = _DSR_ENV_SET or "development"
PRODUCTION = DSR_ENV == "production"
TESTING = env_bool("DSR_TESTING", False) or "pytest" in sys.modules

DSR_DATA_DIR = Path(env("DSR_DATA_DIR", str(BASE_DIR / "var")))

# Development gets a generated, git-ignored secret; production must set a real one (checks.py refuses).
_DEV_SECRET = "dev-insecure-" + "x" * 50
SECRET_KEY = env("SECRET_KEY", None if PRODUCTION else _DEV_SECRET) or ""
DEBUG = env_bool("DEBUG", _DSR_ENV_SET == "development" and not TESTING)
ALLOWED_HOSTS = [h.strip() for h in (env("ALLOWED_HOSTS", "" if PRODUCTION else "*") or "").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in (env("CSRF_TRUSTED_ORIGINS", "") or "").split(",") if o.strip()]

INSTALLED_APPS = [
    "dsr.apps.DsrAdminConfig",  # django.contrib.admin with dsr's site: approvers edit the register, behind 2FA
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "dsr.apps.DsrConfig",
]

MIDDLEWARE = [
    "dsr.bodylimit.BodyLimitMiddleware",  # first: refuses oversized bodies before anything reads them
    "dsr.apierrors.ApiJsonMiddleware",  # unmatched /api/ URLs get the JSON 404, never an HTML page
    "django.middleware.security.SecurityMiddleware",
    "dsr.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "dsr.twofactor.SecondFactorMiddleware",
    "dsr.signin.ForbiddenAuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dsr.urls"
WSGI_APPLICATION = "dsr.wsgi.application"
ASGI_APPLICATION = "dsr.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dsr.views.staff.console_context",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{DSR_DATA_DIR / 'dsr.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}


def _private_sqlite_file(name: str) -> None:
    """Create the SQLite file 0600 (in a 0700 directory when dsr makes it) before SQLite does, like the key ring:
    it holds wrapped keys and personal data. SQLite gives its -wal and -shm files the database file's mode."""
    if name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        # A file made by an earlier version with the umask's mode: tighten it if it is ours.
        st = path.stat()
        if st.st_mode & 0o077 and st.st_uid == os.getuid():
            path.chmod(0o600)


if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _private_sqlite_file(str(DATABASES["default"]["NAME"]))
    # WAL + a busy timeout let the web server and the qcluster worker share the file; secure_delete zeroes
    # freed content, so a blanked wrapped key leaves no copy in the main file (dsr/keystore.py).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;",
    }
    # The breach-scoping indexes INCLUDE columns so PostgreSQL answers from the index alone; SQLite ignores them.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
    # Tests on SQLite use a file, as the app does: Django's default in-memory test database shares one cache
    # between threads, where concurrent writers fail at once with "database table is locked" instead of waiting
    # out the busy timeout — the race tests would test that artefact, not dsr.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(str(DATABASES["default"]["NAME"])).with_name("test-dsr.sqlite3"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en"
# design.md "Time": UTC everywhere; the controller's zone only turns instants into statutory dates.
TIME_ZONE = "UTC"
USE_TZ = True
USE_I18N = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))

LOGIN_URL = "staff-login"
LOGIN_REDIRECT_URL = "staff-queue"
LOGOUT_REDIRECT_URL = "staff-login"

# --- staff sign-in (console and admin share one login) -------------------------------------------------
# Lockout (django-axes, database handler, so every web process shares the counts): DSR_LOGIN_FAILURE_LIMIT
# failures for one username, or from one client address, lock that username / address for
# DSR_LOGIN_LOCKOUT_MINUTES, the right password included. Usernames are counted as keyed hashes
# (dsr.signin.axes_username), so neither axes' table nor the audit trail holds what was typed.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("DSR_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("DSR_LOGIN_LOCKOUT_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one reaching the limit locks
AXES_USERNAME_CALLABLE = "dsr.signin.axes_username"
AXES_CLIENT_IP_CALLABLE = "dsr.signin.client_ip"
AXES_LOCKOUT_CALLABLE = "dsr.views.signin.locked_out"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are audit events; no second log of addresses
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token"]
AXES_VERBOSE = False
# Client address: REMOTE_ADDR, unless DSR_TRUSTED_PROXY_COUNT proxies (that append to X-Forwarded-For) stand in
# front; then the address the outermost trusted proxy saw. Never trust the header without a proxy: anyone can
# send it, and per-address limits would be worthless.
DSR_TRUSTED_PROXY_COUNT = env_int("DSR_TRUSTED_PROXY_COUNT", 1 if env_bool("DSR_BEHIND_PROXY", False) else 0)
# TOTP second factor for every staff account (django-otp); recovery codes are its static device. Always on in
# production; off by default in development (`make run`), where a user may still enrol and is then asked.
DSR_REQUIRE_2FA = PRODUCTION or env_bool("DSR_REQUIRE_2FA", False)
DSR_RECOVERY_CODES = 10
OTP_TOTP_ISSUER = env("DSR_TOTP_ISSUER", "dsr")

# --- storage -----------------------------------------------------------------------------------
# Blobs are ciphertext only (dsr/storage.py). "local" keeps them under DSR_DATA_DIR; "s3" uses
# django-storages against any S3-compatible endpoint configured with the usual AWS_* variables.
DSR_STORAGE = env("DSR_STORAGE", "local")
if DSR_STORAGE == "s3":
    _blob_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env("AWS_S3_ENDPOINT_URL"),
            "region_name": env("AWS_S3_REGION_NAME"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _blob_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(Path(env("DSR_BLOB_DIR", str(DSR_DATA_DIR / "blobs")))),
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
if env("DSR_BLOB_BACKEND") and DSR_STORAGE != "s3":
    # A FileSystemStorage subclass (e.g. one that fails on purpose in fault tests, or adds metrics).
    _blob_storage["BACKEND"] = env("DSR_BLOB_BACKEND")
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DSR_DATA_DIR / "media")},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "dsr_blobs": _blob_storage,
}

# --- keys ----------------------------------------------------------------------------------------
# DSR_KEYS = "id1:<base64url 32 bytes>,id2:..." (first key wraps, all unwrap) or DSR_KEYS_FILE.
# Development generates DSR_DATA_DIR/keyring on first use (dsr/keys.py); production refuses to start
# without one (checks.py).
DSR_KEYS = env("DSR_KEYS")
DSR_KEYRING_DEV_FILE = DSR_DATA_DIR / "keyring"
# HMAC key of the subject references (`sub_…`) and of attempted usernames in the audit trail. Its own value, so
# rotating SECRET_KEY does not change every reference: development generates DSR_DATA_DIR/pseudonym_key on first
# use (dsr/keys.py); production refuses to start without one (checks.py).
DSR_PSEUDONYM_KEY = env("DSR_PSEUDONYM_KEY") or None
DSR_PSEUDONYM_KEY_DEV_FILE = DSR_DATA_DIR / "pseudonym_key"

# --- audit trail (security.md "Audit") -----------------------------------------------------------
# The chain is HMAC-SHA256 under DSR_AUDIT_KEY; checkpoints of its head are signed with the Ed25519 key
# DSR_AUDIT_SIGNING_KEY and written outside the database. Neither key is ever stored in the database.
# Development generates both under DSR_DATA_DIR; production refuses to start without them (checks.py).
# `manage.py generate_audit_keys` prints fresh values.
DSR_AUDIT_KEY = env("DSR_AUDIT_KEY")
DSR_AUDIT_SIGNING_KEY = env("DSR_AUDIT_SIGNING_KEY")
DSR_AUDIT_VERIFY_KEY = env("DSR_AUDIT_VERIFY_KEY")  # optional pin of the public half
DSR_AUDIT_SINK = env("DSR_AUDIT_SINK", "file")  # "file" or "s3"
DSR_AUDIT_CHECKPOINT_DIR = env("DSR_AUDIT_CHECKPOINT_DIR")  # default: DSR_DATA_DIR/audit-checkpoints
DSR_AUDIT_S3_BUCKET = env("DSR_AUDIT_S3_BUCKET")
DSR_AUDIT_S3_PREFIX = env("DSR_AUDIT_S3_PREFIX", "audit-checkpoints/")
DSR_AUDIT_S3_ENDPOINT_URL = env("DSR_AUDIT_S3_ENDPOINT_URL") or env("AWS_S3_ENDPOINT_URL")
DSR_AUDIT_S3_REGION_NAME = env("DSR_AUDIT_S3_REGION_NAME") or env("AWS_S3_REGION_NAME")
DSR_AUDIT_S3_LOCK_MODE = env("DSR_AUDIT_S3_LOCK_MODE", "COMPLIANCE")  # or GOVERNANCE
DSR_AUDIT_S3_RETAIN_DAYS = env_int("DSR_AUDIT_S3_RETAIN_DAYS", 2557)  # 7 years
DSR_AUDIT_CHECKPOINT_MINUTES = env_int("DSR_AUDIT_CHECKPOINT_MINUTES", 60)

# --- legal clocks (legal-matrix §1) --------------------------------------------------------------
# The controller's EU/EEA Member State (ISO code) and optional region ("BY"): public holidays of the GDPR
# roll (Reg. 1182/71 Art 2). DSR_TIME_ZONE unset: the zone follows the country (dsr/calendars.py table).
DSR_CONTROLLER_COUNTRY = (env("DSR_CONTROLLER_COUNTRY", "IE") or "IE").upper()
DSR_CONTROLLER_SUBDIVISION = (env("DSR_CONTROLLER_SUBDIVISION") or "").upper() or None
DSR_TIME_ZONE = env("DSR_TIME_ZONE") or None
DSR_UK_NATION = env("DSR_UK_NATION", "england-wales")  # UK-CAL: england-wales | scotland | northern-ireland
DSR_CCPA_TIME_ZONE = env("DSR_CCPA_TIME_ZONE", "America/Los_Angeles")
DSR_CONSERVATIVE_EXTENSION = env_bool("DSR_CONSERVATIVE_EXTENSION", True)
DSR_CCPA_ROLL_WEEKEND = env_bool("DSR_CCPA_ROLL_WEEKEND", False)
DSR_CCPA_STRICT_BUSINESS_DAYS = env_bool("DSR_CCPA_STRICT_BUSINESS_DAYS", False)
DSR_CCPA_SATURDAY_BUSINESS_DAYS = env_bool("DSR_CCPA_SATURDAY_BUSINESS_DAYS", False)  # Civ. Code §9 reading
DSR_CCPA_EXTRA_HOLIDAYS = env("DSR_CCPA_EXTRA_HOLIDAYS", "")  # "YYYY-MM-DD=Name,…": days appointed under §6700(a)
# Consumers whose personal information the business buys, receives, sells or shares in a calendar year:
# at 10,000,000 or more, CCPA regs §7102 metrics must be published by 1 July (legal-matrix §7.9).
DSR_CCPA_CONSUMERS_PER_YEAR = env_int("DSR_CCPA_CONSUMERS_PER_YEAR", 0)
DSR_AT_RISK_DAYS = env_int("DSR_AT_RISK_DAYS", 5)
DSR_BASE_URL = env("DSR_BASE_URL", "http://127.0.0.1:8000")
DSR_DIGEST_HOUR_UTC = env_int("DSR_DIGEST_HOUR_UTC", 7)

# --- controller identity (used in notices) ------------------------------------------------------
DSR_CONTROLLER_NAME = env("DSR_CONTROLLER_NAME", "Example Photo Platform Ltd")
DSR_CONTROLLER_CONTACT = env("DSR_CONTROLLER_CONTACT", "privacy@example.com")
DSR_DPO_CONTACT = env("DSR_DPO_CONTACT", "dpo@example.com")
# Unset: the lead authority of DSR_CONTROLLER_COUNTRY (and German Land) from the table in dsr/notices.py.
DSR_SUPERVISORY_AUTHORITY = env("DSR_SUPERVISORY_AUTHORITY", "")

# --- exports (issue 10): access and portability packages ------------------------------------------
DSR_EXPORT_EXPIRY_DAYS = env_int("DSR_EXPORT_EXPIRY_DAYS", 7)  # a ready package is deleted this long after
# GDPR access: "describe" face embeddings (default) or "include" their values; never included under the CCPA.
DSR_EXPORT_EMBEDDING_VALUES = env("DSR_EXPORT_EMBEDDING_VALUES", "describe")
# What the completion notice says about getting the package (never an attachment, never a secret link).
DSR_EXPORT_DOWNLOAD_HINT = env(
    "DSR_EXPORT_DOWNLOAD_HINT",
    "sign in to your account and open Settings → Privacy → Download your data.",
)
DSR_EXPORT_DOWNLOAD_URL = env("DSR_EXPORT_DOWNLOAD_URL", "")  # optional: the page where signed-in users find it
# Cap a build's read rate (bytes/s; 0 = no cap) so a large export does not starve shared storage.
DSR_EXPORT_MAX_BYTES_PER_SECOND = env_int("DSR_EXPORT_MAX_BYTES_PER_SECOND", 0)

# --- breach notices to affected people (issue 12; legal-matrix B-DS, §10.3, §10.7) --------------------
# Who the notices name as the contact point (Art. 33(3)(b)): a name, next to DSR_DPO_CONTACT's address
# (unset: "our Data Protection Officer" in the notice's language).
DSR_DPO_NAME = env("DSR_DPO_NAME", "")
DSR_BREACH_NOTICE_BATCH = env_int("DSR_BREACH_NOTICE_BATCH", 500)  # recipients claimed per step
DSR_BREACH_NOTICE_RATE = env_int("DSR_BREACH_NOTICE_RATE", 600)  # messages per minute per run; 0 = unpaced
DSR_BREACH_NOTICE_MAX_ATTEMPTS = env_int("DSR_BREACH_NOTICE_MAX_ATTEMPTS", 5)  # per recipient, then "failed"
# A notice whose send started but whose outcome was never recorded (worker killed between the provider's
# acceptance and our commit) is "in doubt". With a delivery ledger (the provider's log looked up by
# Message-ID; built in for the file and in-memory backends, DSR_MAIL_LEDGER for others) it is settled
# exactly. Without one: "hold" marks it failed "in_doubt" for the operator (never twice), "resend" sends it
# again under the same Message-ID (never missed; receiving systems may collapse the duplicate).
DSR_BREACH_NOTICE_IN_DOUBT = env("DSR_BREACH_NOTICE_IN_DOUBT", "hold")
DSR_MAIL_LEDGER = env("DSR_MAIL_LEDGER", "")  # dotted path: fn(set[str] of message ids) -> set[str] accepted
# Sends marked "in flight" per transaction when a ledger can settle them after a kill (1 without a ledger).
DSR_BREACH_NOTICE_GROUP = env_int("DSR_BREACH_NOTICE_GROUP", 20)

# --- uploads (security.md "Uploads") -------------------------------------------------------------
DSR_UPLOAD_MAX_BYTES = env_int("DSR_UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
DSR_UPLOAD_MAX_PIXELS = env_int("DSR_UPLOAD_MAX_PIXELS", 40_000_000)
DSR_DERIVED_MAX_BYTES = env_int("DSR_DERIVED_MAX_BYTES", 2 * 1024 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = env("FILE_UPLOAD_TEMP_DIR") or None

# --- API (issue 7) -----------------------------------------------------------------------------------
# Largest request body on a route that declares no limit of its own (dsr/bodylimit.py); the photo upload
# allows DSR_UPLOAD_MAX_BYTES and the item registration DSR_DERIVED_MAX_BYTES, each plus 1 MiB of framing.
DSR_MAX_BODY_BYTES = env_int("DSR_MAX_BODY_BYTES", 3 * 1024 * 1024)
# Identical filings (same subject, kind, regimes, channel) within this window collapse into one open case.
DSR_DUPLICATE_FILING_WINDOW_MINUTES = env_int("DSR_DUPLICATE_FILING_WINDOW_MINUTES", 60)

# --- takedown desk (issue 13; takedown.md) ---------------------------------------------------------
# Hour clocks: T-TIDA is 48 h by statute; T-POLICY (non-intimate depictions), T-UK48 (commencement to be
# re-checked: a switch) and T-DSA ("timely": the platform's target) are settings. Instants are stored in UTC and
# shown in DSR_OPERATOR_TIME_ZONE (default: the controller's zone).
DSR_TAKEDOWN_POLICY_HOURS = env_int("DSR_TAKEDOWN_POLICY_HOURS", 48)
DSR_TAKEDOWN_DSA = env_bool("DSR_TAKEDOWN_DSA", True)
DSR_TAKEDOWN_DSA_HOURS = env_int("DSR_TAKEDOWN_DSA_HOURS", 72)
DSR_TAKEDOWN_UK48 = env_bool("DSR_TAKEDOWN_UK48", True)
DSR_TAKEDOWN_UK48_HOURS = env_int("DSR_TAKEDOWN_UK48_HOURS", 48)
DSR_OPERATOR_TIME_ZONE = env("DSR_OPERATOR_TIME_ZONE") or None
# PDQ: two pictures are the same at a Hamming distance up to this (Meta's guidance: about 31 of 256 bits).
DSR_TAKEDOWN_MATCH_DISTANCE = env_int("DSR_TAKEDOWN_MATCH_DISTANCE", 31)
# Evidence kept after a request is closed; then the reference image is shredded and the requester's words
# and contact blanked. The complaint route stays open six months (DSA Art. 20).
DSR_TAKEDOWN_EVIDENCE_DAYS = env_int("DSR_TAKEDOWN_EVIDENCE_DAYS", 730)
DSR_TAKEDOWN_COMPLAINT_DAYS = env_int("DSR_TAKEDOWN_COMPLAINT_DAYS", 183)

# --- breach desk (issue 12): dsr/breach_risk.py, dsr/breach_clocks.py ----------------------------------------
# §5.1 step 3: this many affected people (scope, else the operator's estimate) is "large scale" → suggest high.
DSR_BREACH_LARGE_SCALE_SUBJECTS = env_int("DSR_BREACH_LARGE_SCALE_SUBJECTS", 10_000)
# Scopes of more people than this are stored by a job, not in the operator's request (dsr/breach_scope.py).
DSR_BREACH_SCOPE_INLINE_MAX = env_int("DSR_BREACH_SCOPE_INLINE_MAX", 20_000)
# LGPD BR-BR: a small processing agent (Res. CD/ANPD 2/2022) has 6 business days instead of 3.
DSR_LGPD_SMALL_AGENT = env_bool("DSR_LGPD_SMALL_AGENT", False)
# DSA Art. 23: manifestly unfounded notices before a notifier may be marked abusive, and for how long.
DSR_TAKEDOWN_ABUSE_THRESHOLD = env_int("DSR_TAKEDOWN_ABUSE_THRESHOLD", 3)
DSR_TAKEDOWN_ABUSE_DAYS = env_int("DSR_TAKEDOWN_ABUSE_DAYS", 180)
DSR_TAKEDOWN_REFERENCE_MAX_BYTES = env_int("DSR_TAKEDOWN_REFERENCE_MAX_BYTES", 15 * 1024 * 1024)
# How a link to the platform names an item: regular expressions with a named group "item" (one per line).
DSR_TAKEDOWN_LINK_PATTERNS = [p for p in (env("DSR_TAKEDOWN_LINK_PATTERNS") or
                                          r"/(?:items?|v|p|videos?|photos?)/(?P<item>[0-9a-fA-F-]{32,36})(?:[/?#]|$)"
                                          ).splitlines() if p.strip()]
# Regimes of the erasure case a requester can open together with a takedown (their own face data).
DSR_TAKEDOWN_ERASURE_REGIMES = [r.strip() for r in (env("DSR_TAKEDOWN_ERASURE_REGIMES", "eu_gdpr") or "").split(",")
                                if r.strip()]

# --- breach desk console (issue 12 §6; dsr/breach_escalations.py) ----------------------------------
# The approvers (the DPO) are e-mailed this many hours before each open breach deadline, once per threshold
# (B-SA: before the 72-hour mark). Shown on the board in DSR_OPERATOR_TIME_ZONE and in UTC.
DSR_BREACH_ESCALATION_HOURS = sorted({int(h) for h in (env("DSR_BREACH_ESCALATION_HOURS", "24,6") or "").split(",")
                                      if h.strip()}, reverse=True)

# --- mail -----------------------------------------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = str(DSR_DATA_DIR / "outbox-files")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "privacy@example.com")

# --- task queue (django-q2) ------------------------------------------------------------------------
# ORM broker by default: at-least-once, so every job is idempotent (design.md "Jobs"). retry > timeout.
Q_CLUSTER = {
    "name": "dsr",
    "workers": env_int("DSR_Q_WORKERS", 2),
    "timeout": env_int("DSR_Q_TIMEOUT", 600),
    "retry": env_int("DSR_Q_RETRY", 720),
    "max_attempts": 5,
    "queue_limit": env_int("DSR_Q_QUEUE_LIMIT", 50),
    "bulk": env_int("DSR_Q_BULK", 5),
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 250,
    "poll": 1,
    "label": "Tasks",
}
# Durable steps (dsr/steps.py): lease on the database clock, attempts before dead-lettering, and how long one
# task may keep advancing a run before it hands over to a fresh task (must stay below the q timeout).
DSR_STEP_LEASE_SECONDS = env_int("DSR_STEP_LEASE_SECONDS", 300)
DSR_STEP_MAX_ATTEMPTS = env_int("DSR_STEP_MAX_ATTEMPTS", 5)
DSR_STEP_SLICE_SECONDS = env_int("DSR_STEP_SLICE_SECONDS", 240)
DSR_STEP_BACKOFF_SECONDS = env_int("DSR_STEP_BACKOFF_SECONDS", 30)  # first retry; doubles, capped at an hour

# --- erasure (issue 9; dsr/erasure.py) -----------------------------------------------------------------
DSR_ERASURE_GRACE_HOURS = float(env("DSR_ERASURE_GRACE_HOURS", "48") or 48)  # cancellable window before destruction
DSR_TOMBSTONE_DIR = env("DSR_TOMBSTONE_DIR") or None  # default DSR_DATA_DIR/tombstones; keep OUT of DB backups
DSR_WEBHOOK_TIMEOUT_SECONDS = env_int("DSR_WEBHOOK_TIMEOUT_SECONDS", 10)
DSR_WEBHOOK_TOLERANCE_SECONDS = env_int("DSR_WEBHOOK_TOLERANCE_SECONDS", 300)  # replay window, both directions
DSR_WEBHOOK_MAX_ATTEMPTS = env_int("DSR_WEBHOOK_MAX_ATTEMPTS", 8)  # then an operator is alerted
DSR_PLATFORM_VERIFICATION_MAX_AGE_MINUTES = env_int("DSR_PLATFORM_VERIFICATION_MAX_AGE_MINUTES", 60 * 24)
if env("DSR_Q_REDIS_URL"):
    Q_CLUSTER["redis"] = env("DSR_Q_REDIS_URL")
else:
    Q_CLUSTER["orm"] = "default"
Q_CLUSTER["sync"] = env_bool("DSR_Q_SYNC", False)

# --- public portal (issue 11) ---------------------------------------------------------------------
# Codes and links that prove a requester controls the address on file; the platform's hand-off link for its
# signed-in user; sessions on the status page. Rate limits are fixed windows on a shared atomic counter:
# Redis when DSR_RATELIMIT_REDIS_URL is set, the database otherwise.
DSR_PORTAL_CODE_MINUTES = env_int("DSR_PORTAL_CODE_MINUTES", 15)
DSR_PORTAL_CODE_MAX_TRIES = env_int("DSR_PORTAL_CODE_MAX_TRIES", 5)
DSR_PORTAL_HANDOFF_SECONDS = env_int("DSR_PORTAL_HANDOFF_SECONDS", 300)
DSR_PORTAL_REAUTH_SECONDS = env_int("DSR_PORTAL_REAUTH_SECONDS", 300)
DSR_PORTAL_SESSION_MINUTES = env_int("DSR_PORTAL_SESSION_MINUTES", 30)
DSR_PORTAL_DUPLICATE_HOURS = env_int("DSR_PORTAL_DUPLICATE_HOURS", 24)
DSR_PORTAL_MAILS_PER_SUBJECT_HOUR = env_int("DSR_PORTAL_MAILS_PER_SUBJECT_HOUR", 3)
DSR_PORTAL_FALLBACK_REGIME = env("DSR_PORTAL_FALLBACK_REGIME", "eu_gdpr")
DSR_PORTAL_MANDATE_MAX_BYTES = env_int("DSR_PORTAL_MANDATE_MAX_BYTES", 5 * 1024 * 1024)
DSR_COMPLAINT_POLICY_DAYS = env_int("DSR_COMPLAINT_POLICY_DAYS", 30)
# "limit/seconds" per key kind; a request over any limit gets a 429 page and changes nothing.
DSR_RATE_LIMITS = {
    "file_ip": env("DSR_RATE_FILE_IP", "20/3600"),
    "file_id": env("DSR_RATE_FILE_ID", "5/3600"),
    "verify_ip": env("DSR_RATE_VERIFY_IP", "30/3600"),
    "link_ip": env("DSR_RATE_LINK_IP", "30/3600"),
    "resend_ip": env("DSR_RATE_RESEND_IP", "10/3600"),
    "resend_id": env("DSR_RATE_RESEND_ID", "3/3600"),
    "action_ip": env("DSR_RATE_ACTION_IP", "60/3600"),
}
DSR_RATELIMIT_REDIS_URL = env("DSR_RATELIMIT_REDIS_URL") or None  # per-IP limits key on DSR_TRUSTED_PROXY_COUNT

CSRF_FAILURE_VIEW = "dsr.views.portal.csrf_failure"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- security ----------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
# Not "no-referrer": under it browsers send "Origin: null" with every form POST, which Django's CSRF check refuses
# (the admin's login and change forms included). "same-origin" still sends nothing to other sites; a response
# whose URL holds a secret (an export link) sets "no-referrer" itself.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
if env_bool("DSR_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # django-q2 logs a failed task's error text, which may quote personal data (dsr/logs.py).
    "filters": {"task_results_withheld": {"()": "dsr.logs.TaskResultsWithheld"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["task_results_withheld"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django_q": {"level": "WARNING"},
        "axes": {"level": "ERROR"},  # its warnings name the client address; the audit trail has keyed hashes
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
