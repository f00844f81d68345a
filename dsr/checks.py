"""System checks that refuse a misconfigured start (design.md; security.md "Web")."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured


@register()
def time_is_utc(app_configs: Any = None, **kwargs: Any) -> list:
    errors = []
    if settings.TIME_ZONE != "UTC" or not settings.USE_TZ:
        errors.append(Error("dsr stores every instant in UTC: set TIME_ZONE='UTC' and USE_TZ=True", id="dsr.E001"))
    return errors


@register()
def key_ring_present(app_configs: Any = None, **kwargs: Any) -> list:
    from dsr.crypto import CryptoError, KeyRing

    if not settings.PRODUCTION:
        return []
    if not settings.DSR_KEYS:
        return [Error("no key ring: set DSR_KEYS or DSR_KEYS_FILE (generate one with "
                      "`manage.py generate_keyring`)", id="dsr.E002")]
    try:
        KeyRing.from_spec(settings.DSR_KEYS)
    except CryptoError as exc:
        return [Error(f"DSR_KEYS is not a valid key ring: {exc}", id="dsr.E003")]
    return []


def _secret_key() -> str:
    try:
        return settings.SECRET_KEY or ""
    except ImproperlyConfigured:  # Django refuses to hand out an empty SECRET_KEY: report it, don't crash
        return ""


@register(Tags.security, deploy=False)
def real_secret_key(app_configs: Any = None, **kwargs: Any) -> list:
    if not settings.PRODUCTION:
        return []
    key = _secret_key()
    if not key or key.startswith("dev-insecure-") or len(key) < 50 or len(set(key)) < 5:
        return [Error("production needs a real SECRET_KEY (50+ random characters)", id="dsr.E004")]
    if settings.DEBUG:
        return [Error("DEBUG must be off in production", id="dsr.E005")]
    return []


@register(Tags.security, deploy=False)
def own_pseudonym_key(app_configs: Any = None, **kwargs: Any) -> list:
    """Subject references must not hang on SECRET_KEY (rotating it would change them all)."""
    if not settings.PRODUCTION:
        return []
    key = settings.DSR_PSEUDONYM_KEY or ""
    if len(key) < 32 or len(set(key)) < 5:
        return [Error("production needs DSR_PSEUDONYM_KEY (32+ random characters, its own value)", id="dsr.E020")]
    if key == _secret_key():
        return [Error("DSR_PSEUDONYM_KEY must not be the SECRET_KEY", id="dsr.E021")]
    return []


def refuse_to_start_if_misconfigured() -> None:
    """Run the system checks where the app starts outside manage.py (WSGI, ASGI): gunicorn imports dsr.wsgi
    without running any command, so without this a production server would serve with a dev secret."""
    from django.core import checks

    errors = [m for m in checks.run_checks() if m.is_serious() and not m.is_silenced()]
    if errors:
        raise ImproperlyConfigured("dsr refuses to start:\n" + "\n".join(str(e) for e in errors))


@register()
def personal_data_is_claimed(app_configs: Any = None, **kwargs: Any) -> list:
    from dsr.holders import unclaimed_personal_models

    return [
        Error(
            f"{m._meta.label} holds personal data but no holder in dsr/holders.py claims it",
            hint="add it to a Holder so access reports and erasure cover it",
            id="dsr.E006",
        )
        for m in unclaimed_personal_models()
    ]


@register(Tags.security, deploy=True)
def deploy_mail_and_hosts(app_configs: Any = None, **kwargs: Any) -> list:
    warnings = []
    if settings.PRODUCTION and "filebased" in settings.EMAIL_BACKEND:
        warnings.append(Warning("production mail goes to files: set EMAIL_BACKEND", id="dsr.W001"))
    return warnings


@register()
def legal_clock_settings(app_configs: Any = None, **kwargs: Any) -> list:
    """Refuse a start whose clocks cannot be computed: unknown country, region, UK nation, zone or holiday
    list (legal-matrix §1.1, §1.3, §2.5 UK-CAL). A wrong calendar would give wrong dates silently."""
    from datetime import date
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from dsr import deadlines
    from dsr.deadlines import Regime

    try:
        from dsr.workflow import clock_options

        opts = clock_options()
    except ValueError as exc:
        return [Error(str(exc), id="dsr.E081")]
    errors = []
    for regime in Regime:
        try:
            deadlines.calendar_for(regime, opts, 2026).get(date(2026, 1, 1))
            ZoneInfo(deadlines.time_zone_for(regime, opts))
        except (ValueError, ZoneInfoNotFoundError) as exc:
            errors.append(Error(f"{regime.name} clock: {exc}", id="dsr.E082",
                                hint="check DSR_CONTROLLER_COUNTRY, DSR_CONTROLLER_SUBDIVISION, DSR_TIME_ZONE, "
                                     "DSR_UK_NATION and DSR_CCPA_TIME_ZONE"))
    return errors


@register()
def audit_keys_present(app_configs: Any = None, **kwargs: Any) -> list:
    """Production refuses to start without the audit chain's MAC key and checkpoint signing key."""
    from dsr import keys

    if not settings.PRODUCTION:
        return []
    errors = []
    for setting, parse, check_id in (
        ("DSR_AUDIT_KEY", keys.parse_audit_key, "dsr.E030"),
        ("DSR_AUDIT_SIGNING_KEY", keys.parse_signing_key, "dsr.E031"),
    ):
        value = getattr(settings, setting, None)
        if not value:
            errors.append(Error(f"no {setting}: set it or {setting}_FILE (generate with "
                                "`manage.py generate_audit_keys`); keep it outside the database", id=check_id))
            continue
        try:
            parse(value)
        except ImproperlyConfigured as exc:
            errors.append(Error(str(exc), id=check_id))
    if settings.DSR_AUDIT_VERIFY_KEY:
        try:
            keys.parse_verify_key(settings.DSR_AUDIT_VERIFY_KEY)
        except ImproperlyConfigured as exc:
            errors.append(Error(str(exc), id="dsr.E032"))
    if settings.DSR_AUDIT_SINK not in {"file", "s3"}:
        errors.append(Error("DSR_AUDIT_SINK must be 'file' or 's3'", id="dsr.E033"))
    elif settings.DSR_AUDIT_SINK == "s3" and not settings.DSR_AUDIT_S3_BUCKET:
        errors.append(Error("DSR_AUDIT_SINK=s3 needs DSR_AUDIT_S3_BUCKET (a bucket with object lock)", id="dsr.E033"))
    return errors


@register()
def supervisory_authority_known(app_configs: Any = None, **kwargs: Any) -> list:
    """Notices must name where people can complain (GDPR Art 12(4), 77): warn when the table cannot."""
    from dsr.notices import knows_authority

    if (settings.DSR_SUPERVISORY_AUTHORITY or "").strip():
        return []
    if knows_authority(settings.DSR_CONTROLLER_COUNTRY, settings.DSR_CONTROLLER_SUBDIVISION):
        return []
    return [Warning("notices cannot name your supervisory authority for DSR_CONTROLLER_COUNTRY="
                    f"{settings.DSR_CONTROLLER_COUNTRY!r}"
                    + (" without its Land" if settings.DSR_CONTROLLER_COUNTRY == "DE" else ""),
                    hint="set DSR_CONTROLLER_SUBDIVISION (the German Land, e.g. BY) or DSR_SUPERVISORY_AUTHORITY",
                    id="dsr.W081")]


@register()
def export_settings(app_configs: Any = None, **kwargs: Any) -> list:
    """Issue 10: the recorded choice for face-embedding values and a positive download window."""
    errors = []
    if settings.DSR_EXPORT_EMBEDDING_VALUES not in ("describe", "include"):
        errors.append(Error("DSR_EXPORT_EMBEDDING_VALUES must be 'describe' or 'include'", id="dsr.E101"))
    if settings.DSR_EXPORT_EXPIRY_DAYS < 1:
        errors.append(Error("DSR_EXPORT_EXPIRY_DAYS must be at least 1", id="dsr.E102"))
    return errors
