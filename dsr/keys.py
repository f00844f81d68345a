"""Where keys come from: settings in production, generated git-ignored files in development.

The key ring (vault), the audit chain's MAC key and the audit checkpoint signing key."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from dsr.crypto import KeyRing


class KeyRingUnavailable(ImproperlyConfigured):
    """No key ring: fail closed, nothing is written in plaintext instead."""


def _dev_secret(path: Path, generate: Callable[[], str], what: str) -> str:
    """Read a development secret from PATH, creating it 0600 with generate() on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process (web server, worker) is creating it right now: use theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(generate() + "\n")
    # The creator writes just after creating the file; a concurrent reader may see it empty for a moment.
    for _ in range(100):
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.02)
    raise KeyRingUnavailable(f"the development {what} {path} is empty: delete it to generate a new one")


def keyring_spec() -> str:
    spec = getattr(settings, "DSR_KEYS", None)
    if spec:
        return spec
    if getattr(settings, "PRODUCTION", False):
        raise KeyRingUnavailable("DSR_KEYS or DSR_KEYS_FILE must be set in production")
    return _dev_secret(settings.DSR_KEYRING_DEV_FILE, KeyRing.generate_spec, "key ring")


def pseudonym_key() -> bytes:
    """The HMAC key of audit pseudonyms (subject references, attempted usernames): DSR_PSEUDONYM_KEY, or in
    development a generated file next to the dev key ring. Never SECRET_KEY, so rotating that changes nothing."""
    value = getattr(settings, "DSR_PSEUDONYM_KEY", None)
    if value:
        return value.encode()
    if getattr(settings, "PRODUCTION", False):
        raise KeyRingUnavailable("DSR_PSEUDONYM_KEY or DSR_PSEUDONYM_KEY_FILE must be set in production")
    return _dev_secret(settings.DSR_PSEUDONYM_KEY_DEV_FILE, lambda: secrets.token_urlsafe(32), "pseudonym key").encode()


@lru_cache(maxsize=4)
def _parse(spec: str) -> KeyRing:
    return KeyRing.from_spec(spec)


def get_keyring() -> KeyRing:
    """Only key-encryption keys are cached (by spec); data keys never are, so a destroyed key cannot
    live on in a long-running worker (security.md "Crypto-shredding pitfalls")."""
    return _parse(keyring_spec())


# --- audit keys (security.md "Audit") ---------------------------------------------------------------
# The chain MAC key and the checkpoint signing key live outside the database, like the key ring: a copy
# of the database (or write access to it) must not be enough to rewrite the trail undetected.

AUDIT_KEY_MIN_BYTES = 32


class AuditKeyUnavailable(ImproperlyConfigured):
    """No audit key or signing key: in production nothing is recorded or checkpointed without them."""


def _b64decode(text: str) -> bytes:
    text = "".join(text.split())
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_audit_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(AUDIT_KEY_MIN_BYTES)).decode().rstrip("=")


def generate_audit_signing_key() -> str:
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.urlsafe_b64encode(seed).decode().rstrip("=")


def _audit_secret(setting: str, dev_name: str, generate: Callable[[], str], what: str) -> str:
    value = getattr(settings, setting, None)
    if value:
        return value
    if getattr(settings, "PRODUCTION", False):
        raise AuditKeyUnavailable(f"{setting} or {setting}_FILE must be set in production")
    try:
        return _dev_secret(Path(settings.DSR_DATA_DIR) / dev_name, generate, what)
    except ImproperlyConfigured as exc:
        raise AuditKeyUnavailable(str(exc)) from None


@lru_cache(maxsize=4)
def parse_audit_key(text: str) -> bytes:
    try:
        key = _b64decode(text)
    except (binascii.Error, ValueError):
        raise AuditKeyUnavailable("DSR_AUDIT_KEY is not URL-safe base64") from None
    if len(key) < AUDIT_KEY_MIN_BYTES:
        raise AuditKeyUnavailable(f"DSR_AUDIT_KEY must decode to at least {AUDIT_KEY_MIN_BYTES} bytes")
    return key


@lru_cache(maxsize=4)
def parse_signing_key(text: str) -> Ed25519PrivateKey:
    try:
        seed = _b64decode(text)
    except (binascii.Error, ValueError):
        raise AuditKeyUnavailable("DSR_AUDIT_SIGNING_KEY is not URL-safe base64") from None
    if len(seed) != 32:
        raise AuditKeyUnavailable("DSR_AUDIT_SIGNING_KEY must decode to a 32-byte Ed25519 private key")
    return Ed25519PrivateKey.from_private_bytes(seed)


@lru_cache(maxsize=4)
def parse_verify_key(text: str) -> Ed25519PublicKey:
    try:
        raw = _b64decode(text)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise AuditKeyUnavailable("DSR_AUDIT_VERIFY_KEY must be a URL-safe base64 32-byte Ed25519 public key") from None


def audit_key() -> bytes:
    """The HMAC-SHA256 key of the audit chain."""
    return parse_audit_key(_audit_secret("DSR_AUDIT_KEY", "audit-key", generate_audit_key, "audit key"))


def audit_signing_key() -> Ed25519PrivateKey:
    """Signs checkpoints of the chain head."""
    return parse_signing_key(
        _audit_secret("DSR_AUDIT_SIGNING_KEY", "audit-signing-key", generate_audit_signing_key, "audit signing key")
    )


def audit_verify_key() -> Ed25519PublicKey:
    """Checks checkpoint signatures: ``DSR_AUDIT_VERIFY_KEY`` when pinned (an auditor's machine needs only
    this public half), else the public half of the signing key."""
    pinned = getattr(settings, "DSR_AUDIT_VERIFY_KEY", None)
    if pinned:
        return parse_verify_key(pinned)
    return audit_signing_key().public_key()


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
