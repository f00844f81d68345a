"""Where the key ring comes from: settings in production, a generated git-ignored file in development."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

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
