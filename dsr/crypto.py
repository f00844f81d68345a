"""Envelope encryption for the personal-data vault (pure: stdlib + ``cryptography``, no Django).

Why this module exists
----------------------
Every stored blob (photo, video, export, note) is encrypted under its own random 32-byte *data key*
(DEK).  The DEK is stored next to the blob's metadata, *wrapped* (encrypted) under a long-lived
*key-encryption key* (KEK) from a :class:`KeyRing`.  Erasing a subject then only requires destroying
the wrapped DEKs, and KEK rotation only requires re-wrapping the small DEKs, not re-encrypting blobs.

Every primitive is AES-256-GCM from ``cryptography`` (``AESGCM``); nothing is hand-rolled.  The AAD
("associated data") binds a ciphertext to its subject and purpose -- callers pass e.g.
``b"subject:<uuid>|item:<uuid>|purpose:photo"`` -- so a blob or wrapped key copied onto another
subject or item fails to open instead of silently disclosing someone else's data.

Wrapped data key (text, fits a CharField)
-----------------------------------------
::

    "v1." + key_id + "." + urlsafe_b64(nonce(12) || AESGCM(KEK).encrypt(nonce, DEK, AAD))
    AAD = b"dsr-wrap-v1|" + key_id + b"|" + context

``key_id`` matches ``[A-Za-z0-9_-]{1,32}`` (so it can never contain the ``.`` separator).  It is in
the AAD, so relabelling a wrapped key with another ring id fails to unwrap.

Blob / stream format ("STREAM" online AE, Hoang-Reyhanitabar-Rogaway-Vizar 2015, over AES-256-GCM)
--------------------------------------------------------------------------------------------------
::

    header  = b"DSRS" | version (1 byte, = 1) | chunk_size (4 bytes big-endian) | nonce_prefix (7 random)
    chunk_i = AESGCM(DEK).encrypt(nonce = nonce_prefix || i (4 bytes big-endian) || last_flag,
                                  data  = plaintext[i*chunk_size : (i+1)*chunk_size],
                                  associated_data = header || aad)
    blob    = header || chunk_0 || chunk_1 || ... || chunk_{n-1}

* ``last_flag`` is ``0x01`` for the final chunk and ``0x00`` for every other chunk.
* Every non-final chunk carries exactly ``chunk_size`` plaintext bytes, i.e. is ``chunk_size + 16``
  bytes of ciphertext (GCM appends a 16-byte tag).  The final chunk carries 0..``chunk_size`` bytes.
* There is always at least one chunk: an empty plaintext is a single empty final chunk (16 bytes).
* ``chunk_size`` must lie in [1 KiB, 16 MiB]; at most 2**32 chunks (the counter is 4 bytes).
* Total size is exactly ``16 + plaintext_size + 16 * max(1, ceil(plaintext_size / chunk_size))``,
  see :func:`sealed_size`.

Finding the final chunk when reading: the reader always reads one full ciphertext chunk
(``chunk_size + 16`` bytes) *ahead*.  A chunk is final iff it is shorter than a full ciphertext chunk
or, when it is full length, the read-ahead hits end of input.  The nonce's ``last_flag`` then makes the
decision authenticated: dropping trailing chunks makes a non-final chunk get opened as final (tag
failure); appending data makes the real final chunk get opened as non-final (tag failure); dropping,
duplicating or swapping chunks changes the counter in the nonce (tag failure); editing the header
changes the AAD of every chunk (tag failure).  Memory is O(chunk_size) for both directions.

Because the header (including its random nonce prefix) is in every chunk's AAD, a chunk cannot be
spliced from another blob even under the same DEK.  The 56-bit random prefix keeps nonces unique
across streams that happen to share a DEK, but callers should use a fresh DEK per blob anyway.

A streaming reader yields authenticated chunks *before* it has seen the end of the blob, so a consumer
must treat the whole output as invalid if :class:`IntegrityError` is raised part-way through
(truncation is only detectable at the end).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Iterator
from io import BytesIO
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DATA_KEY_BYTES",
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "CryptoError",
    "IntegrityError",
    "KeyNotFound",
    "KeyRing",
    "KeySpecError",
    "new_data_key",
    "open_sealed",
    "open_stream",
    "seal",
    "seal_stream",
    "sealed_size",
]


class CryptoError(Exception):
    """Base class for every error raised here.

    Messages never contain key material or plaintext, so they are safe to log.
    """


class KeyNotFound(CryptoError):
    """A wrapped key names a ring key id that is not (or no longer) in the key ring."""


class IntegrityError(CryptoError):
    """Authentication failed: tampered, truncated, extended or reordered data, wrong AAD/context or key."""


class KeySpecError(CryptoError, ValueError):
    """A key ring or key ring spec is malformed (bad id, bad base64, wrong length, duplicates, empty)."""


DATA_KEY_BYTES = 32
DEFAULT_CHUNK_SIZE = 1024 * 1024  # 1 MiB plaintext per chunk
MIN_CHUNK_SIZE = 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024

_KEK_BYTES = 32
_GCM_NONCE_BYTES = 12
_TAG_BYTES = 16

_MAGIC = b"DSRS"
_VERSION = 1
_NONCE_PREFIX_BYTES = 7
_HEADER_BYTES = len(_MAGIC) + 1 + 4 + _NONCE_PREFIX_BYTES  # 16
_MAX_CHUNKS = 2**32

_WRAP_VERSION = "v1"
_WRAP_AAD_PREFIX = b"dsr-wrap-v1|"
_KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def new_data_key() -> bytes:
    """Return a fresh random 32-byte data key; one per blob so erasing its wrapped copy erases the blob."""
    return os.urandom(DATA_KEY_BYTES)


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """Strict URL-safe base64 decode (padding optional); raises ValueError without echoing the input."""
    if not _B64URL_RE.fullmatch(text):
        raise ValueError("not URL-safe base64")
    text = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not URL-safe base64") from None


def _aead(data_key: bytes) -> AESGCM:
    if not isinstance(data_key, bytes | bytearray) or len(data_key) != DATA_KEY_BYTES:
        raise CryptoError(f"data key must be {DATA_KEY_BYTES} bytes")
    return AESGCM(bytes(data_key))


def _check_chunk_size(chunk_size: int) -> None:
    if not isinstance(chunk_size, int) or not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise CryptoError(f"chunk_size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} bytes")


def _chunk_nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if final else b"\x00")


def _read_exact(src: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes, or fewer only at end of input (raw streams may return short reads)."""
    data = src.read(size)
    if data is None:
        raise CryptoError("source returned None (non-blocking streams are not supported)")
    if len(data) == size or not data:
        return bytes(data)
    parts = [data]
    got = len(data)
    while got < size:
        more = src.read(size - got)
        if more is None:
            raise CryptoError("source returned None (non-blocking streams are not supported)")
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def sealed_size(plaintext_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Exact ciphertext size for a plaintext, so storage can pre-size uploads and verify lengths."""
    _check_chunk_size(chunk_size)
    if plaintext_size < 0:
        raise CryptoError("plaintext_size must be >= 0")
    chunks = max(1, -(-plaintext_size // chunk_size))
    if chunks > _MAX_CHUNKS:
        raise CryptoError("plaintext too large for this chunk size")
    return _HEADER_BYTES + plaintext_size + _TAG_BYTES * chunks


def seal_stream(
    data_key: bytes,
    src: BinaryIO,
    dst: BinaryIO,
    *,
    aad: bytes,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    _nonce_prefix: bytes | None = None,
) -> tuple[int, int]:
    """Encrypt ``src`` into ``dst`` chunk by chunk so multi-GB videos never sit in memory.

    Memory is O(chunk_size): one chunk plus one read-ahead chunk (needed to know which chunk is final).
    Returns ``(plaintext_bytes, ciphertext_bytes)``; ``ciphertext_bytes == sealed_size(plaintext_bytes)``.
    ``_nonce_prefix`` exists only so tests can pin fixed vectors; never pass it in production code.
    """
    aead = _aead(data_key)
    _check_chunk_size(chunk_size)
    if _nonce_prefix is None:
        prefix = os.urandom(_NONCE_PREFIX_BYTES)
    elif len(_nonce_prefix) == _NONCE_PREFIX_BYTES:
        prefix = bytes(_nonce_prefix)
    else:
        raise CryptoError(f"nonce prefix must be {_NONCE_PREFIX_BYTES} bytes")

    header = _MAGIC + bytes([_VERSION]) + chunk_size.to_bytes(4, "big") + prefix
    chunk_aad = header + aad
    dst.write(header)
    plain_total = 0
    cipher_total = len(header)

    index = 0
    current = _read_exact(src, chunk_size)
    while True:
        if len(current) < chunk_size:
            final, upcoming = True, b""
        else:
            upcoming = _read_exact(src, chunk_size)
            final = not upcoming
        if index >= _MAX_CHUNKS:
            raise CryptoError("plaintext too large for this chunk size")
        sealed = aead.encrypt(_chunk_nonce(prefix, index, final), current, chunk_aad)
        dst.write(sealed)
        plain_total += len(current)
        cipher_total += len(sealed)
        if final:
            return plain_total, cipher_total
        current = upcoming
        index += 1


def open_stream(data_key: bytes, src: BinaryIO, *, aad: bytes) -> Iterator[bytes]:
    """Decrypt a sealed stream, yielding authenticated plaintext chunks with O(chunk_size) memory.

    The key and header are checked eagerly (before the iterator is returned), so obviously wrong input
    fails before e.g. an HTTP response starts.  Raises :class:`IntegrityError` on tampering, truncation,
    extension, reordering, wrong AAD or wrong key; if it is raised part-way through, every chunk already
    yielded must be discarded too.
    """
    aead = _aead(data_key)
    header = _read_exact(src, _HEADER_BYTES)
    if len(header) != _HEADER_BYTES or header[:4] != _MAGIC:
        raise IntegrityError("not a sealed blob (bad or truncated header)")
    if header[4] != _VERSION:
        raise IntegrityError("unsupported sealed blob version")
    chunk_size = int.from_bytes(header[5:9], "big")
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise IntegrityError("sealed blob header has an invalid chunk size")
    return _open_chunks(aead, src, header, header + aad, chunk_size)


def _open_chunks(
    aead: AESGCM, src: BinaryIO, header: bytes, chunk_aad: bytes, chunk_size: int
) -> Iterator[bytes]:
    prefix = header[9:_HEADER_BYTES]
    full = chunk_size + _TAG_BYTES
    index = 0
    current = _read_exact(src, full)
    while True:
        if len(current) < full:
            final, upcoming = True, b""  # short read only happens at end of input
        else:
            upcoming = _read_exact(src, full)  # read ahead one chunk to learn whether this one is last
            final = not upcoming
        if len(current) < _TAG_BYTES:
            raise IntegrityError("sealed blob is truncated")
        if index >= _MAX_CHUNKS:
            raise IntegrityError("sealed blob has too many chunks")
        try:
            plain = aead.decrypt(_chunk_nonce(prefix, index, final), current, chunk_aad)
        except InvalidTag:
            raise IntegrityError(f"sealed blob failed authentication at chunk {index}") from None
        yield plain
        if final:
            return
        current = upcoming
        index += 1


def seal(data_key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """Encrypt a small blob in memory, in the stream format so :func:`open_stream` can also read it."""
    out = BytesIO()
    seal_stream(data_key, BytesIO(plaintext), out, aad=aad)
    return out.getvalue()


def open_sealed(data_key: bytes, blob: bytes, *, aad: bytes) -> bytes:
    """Decrypt a blob produced by :func:`seal` (or :func:`seal_stream`) entirely in memory."""
    return b"".join(open_stream(data_key, BytesIO(blob), aad=aad))


def _parse_wrapped(wrapped: str) -> tuple[str, bytes]:
    if not isinstance(wrapped, str):
        raise IntegrityError("wrapped key must be a string")
    parts = wrapped.strip().split(".")
    if len(parts) != 3 or parts[0] != _WRAP_VERSION or not _KEY_ID_RE.fullmatch(parts[1]):
        raise IntegrityError("malformed wrapped key")
    try:
        raw = _b64url_decode(parts[2])
    except ValueError:
        raise IntegrityError("malformed wrapped key") from None
    if len(raw) != _GCM_NONCE_BYTES + DATA_KEY_BYTES + _TAG_BYTES:
        raise IntegrityError("malformed wrapped key")
    return parts[1], raw


class KeyRing:
    """Key-encryption keys; the first is active (used to wrap), all can unwrap.

    Keeping retired keys in the ring lets old wrapped data keys open until a rotation job has
    re-wrapped them (:meth:`rewrap`); removing a key afterwards makes leftovers fail with
    :class:`KeyNotFound` rather than with a confusing integrity error.
    """

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        """Validate eagerly so a misconfigured ring fails at start-up, not on the first upload."""
        if not keys:
            raise KeySpecError("key ring is empty")
        self._keys: dict[str, bytes] = {}
        self._aeads: dict[str, AESGCM] = {}
        for position, entry in enumerate(keys, start=1):
            if not isinstance(entry, tuple | list) or len(entry) != 2:
                raise KeySpecError(f"key ring entry {position} must be a (key_id, key) pair")
            key_id, key = entry
            if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
                raise KeySpecError(f"key ring entry {position}: key id must match [A-Za-z0-9_-]{{1,32}}")
            if key_id in self._keys:
                raise KeySpecError(f"duplicate key id {key_id!r} in key ring")
            if not isinstance(key, bytes | bytearray) or len(key) != _KEK_BYTES:
                raise KeySpecError(f"key {key_id!r} must be exactly {_KEK_BYTES} bytes")
            self._keys[key_id] = bytes(key)
            self._aeads[key_id] = AESGCM(bytes(key))
        self._active = next(iter(self._keys))

    def __repr__(self) -> str:
        # Never show key bytes: reprs end up in logs and tracebacks.
        return f"KeyRing(active={self._active!r}, ids={self.ids!r})"

    @classmethod
    def from_spec(cls, spec: str) -> KeyRing:
        """Parse ``"id1:<urlsafe-b64 32 bytes>,id2:<...>"`` (first = active), as found in settings/env.

        Whitespace and newlines anywhere are ignored (secrets are often pasted wrapped), as are empty
        entries from stray commas.  Errors name the entry position or key id, never the key text.
        """
        if not isinstance(spec, str):
            raise KeySpecError("key ring spec must be a string")
        compact = "".join(spec.split())
        entries = [entry for entry in compact.split(",") if entry]
        if not entries:
            raise KeySpecError("key ring spec is empty")
        keys: list[tuple[str, bytes]] = []
        for position, entry in enumerate(entries, start=1):
            key_id, sep, encoded = entry.partition(":")
            if not sep or not key_id or not encoded:
                raise KeySpecError(f"key ring spec entry {position} is not of the form id:base64key")
            if not _KEY_ID_RE.fullmatch(key_id):
                raise KeySpecError(f"key ring spec entry {position}: key id must match [A-Za-z0-9_-]{{1,32}}")
            try:
                key = _b64url_decode(encoded)
            except ValueError:
                raise KeySpecError(f"key {key_id!r} in key ring spec is not valid URL-safe base64") from None
            if len(key) != _KEK_BYTES:
                raise KeySpecError(f"key {key_id!r} in key ring spec must decode to {_KEK_BYTES} bytes")
            keys.append((key_id, key))
        return cls(keys)

    def to_spec(self) -> str:
        """Serialise back to the spec format (contains secrets: only for writing config)."""
        return ",".join(f"{key_id}:{_b64url_encode(key)}" for key_id, key in self._keys.items())

    @staticmethod
    def generate_spec(key_id: str | None = None) -> str:
        """A fresh one-key spec for bootstrapping or rotation (prepend it to the existing spec)."""
        if key_id is None:
            key_id = "k" + secrets.token_hex(4)
        return KeyRing([(key_id, os.urandom(_KEK_BYTES))]).to_spec()

    @property
    def active_id(self) -> str:
        """Id of the key used for new wraps."""
        return self._active

    @property
    def ids(self) -> list[str]:
        """All key ids, active first."""
        return list(self._keys)

    def wrap(self, data_key: bytes, *, context: bytes) -> str:
        """Encrypt a data key under the active KEK; ``context`` binds it to its owner (e.g. subject/item)."""
        if not isinstance(data_key, bytes | bytearray) or len(data_key) != DATA_KEY_BYTES:
            raise CryptoError(f"data key must be {DATA_KEY_BYTES} bytes")
        key_id = self._active
        nonce = os.urandom(_GCM_NONCE_BYTES)
        sealed = self._aeads[key_id].encrypt(nonce, bytes(data_key), _wrap_aad(key_id, context))
        return f"{_WRAP_VERSION}.{key_id}.{_b64url_encode(nonce + sealed)}"

    def unwrap(self, wrapped: str, *, context: bytes) -> bytes:
        """Recover a data key with whichever ring key wrapped it.

        Raises :class:`KeyNotFound` if that key has been removed from the ring and
        :class:`IntegrityError` if the wrapped key was tampered with or ``context`` differs.
        """
        key_id, raw = _parse_wrapped(wrapped)
        aead = self._aeads.get(key_id)
        if aead is None:
            raise KeyNotFound(f"wrapped key uses key id {key_id!r}, which is not in the key ring")
        nonce, sealed = raw[:_GCM_NONCE_BYTES], raw[_GCM_NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, sealed, _wrap_aad(key_id, context))
        except InvalidTag:
            raise IntegrityError("wrapped key failed authentication (tampered or wrong context)") from None

    @staticmethod
    def wrapped_key_id(wrapped: str) -> str:
        """Which ring key wrapped this data key, so rotation jobs can find what still needs rewrapping."""
        key_id, _raw = _parse_wrapped(wrapped)
        return key_id

    def rewrap(self, wrapped: str, *, context: bytes) -> str:
        """Unwrap with whichever key wrapped it and wrap again (fresh nonce) under the active key."""
        return self.wrap(self.unwrap(wrapped, context=context), context=context)


def _wrap_aad(key_id: str, context: bytes) -> bytes:
    return _WRAP_AAD_PREFIX + key_id.encode("ascii") + b"|" + context


def derive_item_key(data_keys: list[bytes], *, item_id: bytes) -> bytes:
    """The content key of one item, from the data keys of every subject it belongs to.

    HKDF-SHA256 (RFC 5869, from ``cryptography``) over the concatenated data keys, in the caller's
    order (callers sort by subject id), with the item id as ``info``. Every data key is needed to
    recompute it, so destroying any one holder's key crypto-shreds a jointly held item (a video made
    from two people's photos) while each item still gets a key of its own.
    """
    if not data_keys:
        raise CryptoError("an item key needs at least one data key")
    if any(len(k) != DATA_KEY_BYTES for k in data_keys):
        raise CryptoError("data keys must be 32 bytes")
    if not item_id:
        raise CryptoError("item_id must not be empty")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=DATA_KEY_BYTES, salt=b"dsr-item-key-v1", info=item_id)
    return hkdf.derive(b"".join(data_keys))
