"""Encrypted blobs on Django's Storage API (design.md "Encryption").

Only ciphertext ever reaches the storage backend: content is sealed chunk by chunk
(``crypto.seal_stream``) into a temporary file next to the blobs, which local storage then renames into
place (one write pass; memory stays flat whatever the size) and S3-compatible storage uploads. Names are
random; nothing personal appears in a path.
"""

from __future__ import annotations

import io
import os
import tempfile
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

from dsr import crypto


def blob_storage() -> Storage:
    return storages["dsr_blobs"]


@dataclass(frozen=True)
class Written:
    name: str
    plain_size: int
    stored_size: int


class _CountingReader:
    """Passes reads through while counting the plaintext.

    No content hash here: SHA-256 runs at a third of AES-GCM's speed on this class of machine and would
    be the upload's bottleneck; exports fingerprint files while they stream them anyway."""

    def __init__(self, src: BinaryIO) -> None:
        self.src = src
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.size += len(data)
        return data


# One long-lived writer thread per process: starting a thread per upload costs more than it saves on
# small files. Writes are handed over in order and awaited before the file is closed.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dsr-seal-writer")
SEAL_CHUNK_SIZE = 256 * 1024  # small files: several chunks, so encryption and writing overlap
SEAL_CHUNK_SIZE_LARGE = 1024 * 1024  # large files: fewer Python round trips per byte
LARGE_FILE = 4 * 1024 * 1024


def _chunk_size_for(src: BinaryIO) -> int:
    try:
        size = os.fstat(src.fileno()).st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        size = len(src.getbuffer()) if isinstance(src, io.BytesIO) else LARGE_FILE
    return SEAL_CHUNK_SIZE_LARGE if size >= LARGE_FILE else SEAL_CHUNK_SIZE


class _PipelinedWriter:
    """Writes ciphertext chunks on the writer thread, so the write of chunk i overlaps the encryption of
    chunk i+1 (file writes release the GIL), and starts writeback to disk every ``flush_every`` bytes so
    the final fsync has little left to do. At most ``depth`` chunks are in flight: memory stays flat."""

    def __init__(self, dst: BinaryIO, depth: int = 16, flush_every: int = 8 * 1024 * 1024) -> None:
        self.dst = dst
        self.depth = depth
        self.flush_every = flush_every
        self.unflushed = 0
        self.pending: deque[Future[object]] = deque()

    def write(self, data: bytes) -> int:
        while len(self.pending) >= self.depth:
            self.pending.popleft().result()
        self.pending.append(_WRITER.submit(self.dst.write, data))
        self.unflushed += len(data)
        if self.unflushed >= self.flush_every:
            self.unflushed = 0
            self.pending.append(_WRITER.submit(self._flush_to_disk))
        return len(data)

    def _flush_to_disk(self) -> None:
        self.dst.flush()
        os.fdatasync(self.dst.fileno())

    def close(self) -> None:
        while self.pending:
            self.pending.popleft().result()


class _SealedTempFile(File):
    """A File whose temporary_file_path lets FileSystemStorage move it into place instead of copying."""

    def temporary_file_path(self) -> str:
        return self.file.name


def _temp_dir(store: Storage) -> str | None:
    if isinstance(store, FileSystemStorage):
        path = Path(store.location) / ".incoming"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return str(path)
    return None


def new_blob_name() -> str:
    token = uuid.uuid4().hex
    return f"{token[:2]}/{token}.sealed"


def write_sealed(key: bytes, src: BinaryIO, *, aad: bytes) -> Written:
    store = blob_storage()
    chunk_size = _chunk_size_for(src)
    reader = _CountingReader(src)
    tmp = tempfile.NamedTemporaryFile(dir=_temp_dir(store), prefix="seal-", delete=False)  # noqa: SIM115
    try:
        with tmp:
            writer = _PipelinedWriter(tmp)
            try:
                _, stored = crypto.seal_stream(key, reader, writer, aad=aad, chunk_size=chunk_size)
            finally:
                writer.close()
            # Durable before the item row commits: an accepted upload must survive a power cut.
            tmp.flush()
            os.fsync(tmp.fileno())
        with open(tmp.name, "rb") as fh:
            name = store.save(new_blob_name(), _SealedTempFile(fh))
    finally:
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)
    return Written(name=name, plain_size=reader.size, stored_size=stored)


def read_sealed(key: bytes, name: str, *, aad: bytes) -> Iterator[bytes]:
    with blob_storage().open(name, "rb") as fh:
        yield from crypto.open_stream(key, fh, aad=aad)


def delete_blob(name: str) -> None:
    """Idempotent: deleting a missing blob is not an error (a retried erasure step may find it gone)."""
    blob_storage().delete(name)


def raw_bytes(name: str) -> bytes:
    """The stored ciphertext, for tests and verification sweeps."""
    with blob_storage().open(name, "rb") as fh:
        return fh.read()
