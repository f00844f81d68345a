"""Where the key ring comes from: settings in production, a generated git-ignored file in development."""

from __future__ import annotations

import os
import time
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from dsr.crypto import KeyRing


class KeyRingUnavailable(ImproperlyConfigured):
    """No key ring: fail closed, nothing is written in plaintext instead."""


def keyring_spec() -> str:
    spec = getattr(settings, "DSR_KEYS", None)
    if spec:
        return spec
    if getattr(settings, "PRODUCTION", False):
        raise KeyRingUnavailable("DSR_KEYS or DSR_KEYS_FILE must be set in production")
    path = settings.DSR_KEYRING_DEV_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process (web server, worker) is creating it right now: use theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(KeyRing.generate_spec() + "\n")
    # The creator writes just after creating the file; a concurrent reader may see it empty for a moment.
    for _ in range(100):
        spec = path.read_text().strip()
        if spec:
            return spec
        time.sleep(0.02)
    raise KeyRingUnavailable(f"the development key ring {path} is empty: delete it to generate a new one")


@lru_cache(maxsize=4)
def _parse(spec: str) -> KeyRing:
    return KeyRing.from_spec(spec)


def get_keyring() -> KeyRing:
    """Only key-encryption keys are cached (by spec); data keys never are, so a destroyed key cannot
    live on in a long-running worker (security.md "Crypto-shredding pitfalls")."""
    return _parse(keyring_spec())
