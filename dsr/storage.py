"""Encrypted blobs on Django's Storage API (design.md "Encryption").

Only ciphertext ever reaches the storage backend: content is sealed chunk by chunk
(``crypto.seal_stream``), in one pass with memory flat whatever the size. Local storage writes straight into
the blob's final path and fsyncs it; any other backend (S3-compatible) gets a sealed temporary file to
upload. Names are random; nothing personal appears in a path.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
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
WRITEBACK_EVERY = 16 * 1024 * 1024  # durable large blobs: start the disk writing every 16 MiB (_PipelinedWriter)
LARGE_FILE = 4 * 1024 * 1024


def _chunk_size_for(src: BinaryIO) -> int:
    try:
        size = os.fstat(src.fileno()).st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        size = len(src.getbuffer()) if isinstance(src, io.BytesIO) else LARGE_FILE
    return SEAL_CHUNK_SIZE_LARGE if size >= LARGE_FILE else SEAL_CHUNK_SIZE


class _PipelinedWriter:
    """Writes ciphertext chunks on the writer thread, so the write of chunk i overlaps the encryption of
    chunk i+1: both release the GIL (AES-GCM does since cryptography 50). At most ``depth`` chunks are in
    flight, so memory stays flat.

    With ``writeback_every`` (durable local blobs), the kernel is asked to start writing each further
    ``writeback_every`` bytes to disk as soon as they are written (``posix_fadvise(DONTNEED)`` on the range just
    written: it starts writeback without waiting for it, then drops those pages from the cache once clean). The
    disk then works while the next chunks are sealed, and the final fsync finds little left: 0.01 s instead of
    ~0.6 s for a gigabyte here (bench/export.py). Waiting for the writeback instead (fdatasync every few MiB,
    tried) stalled the writer thread and lost 5-15% on 8-64 MiB files."""

    def __init__(self, dst: BinaryIO, depth: int = 16, writeback_every: int = 0) -> None:
        self.dst = dst
        self.depth = depth
        self.pending: deque[Future[object]] = deque()
        self.writeback_every = writeback_every if hasattr(os, "posix_fadvise") else 0
        self.written = self.handed_off = 0

    def write(self, data: bytes) -> int:
        while len(self.pending) >= self.depth:
            self.pending.popleft().result()
        self.pending.append(_WRITER.submit(self._write, data))
        return len(data)

    def _write(self, data: bytes) -> None:  # on the writer thread, so in order
        self.dst.write(data)
        self.written += len(data)
        if self.writeback_every and self.written - self.handed_off >= self.writeback_every:
            self.dst.flush()
            os.posix_fadvise(self.dst.fileno(), self.handed_off, self.written - self.handed_off,
                             os.POSIX_FADV_DONTNEED)
            self.handed_off = self.written

    def close(self) -> None:
        while self.pending:
            self.pending.popleft().result()


def new_blob_name() -> str:
    token = uuid.uuid4().hex
    return f"{token[:2]}/{token}.sealed"


def _seal_into(
    key: bytes, reader: _CountingReader, dst: BinaryIO, *, aad: bytes, chunk_size: int, durable: bool,
    depth: int = 16,
) -> int:
    """Seal ``reader`` into ``dst`` (fsynced when ``durable``); returns the ciphertext size.

    Small files are written inline: for a handful of chunks, handing each to the writer thread costs more
    than the overlap saves. Large files go through the pipelined writer."""
    if chunk_size < SEAL_CHUNK_SIZE_LARGE:
        _, stored = crypto.seal_stream(key, reader, dst, aad=aad, chunk_size=chunk_size)
    else:
        writer = _PipelinedWriter(dst, depth, writeback_every=WRITEBACK_EVERY if durable else 0)
        try:
            _, stored = crypto.seal_stream(key, reader, writer, aad=aad, chunk_size=chunk_size)  # type: ignore[arg-type]
        finally:
            writer.close()
    dst.flush()
    if durable:
        os.fsync(dst.fileno())
    return stored


def _open_new_local(store: FileSystemStorage, name: str) -> int:
    """Create the blob file exclusively (never overwrite), with the storage's permissions."""
    path = store.path(name)
    mode = store.file_permissions_mode if store.file_permissions_mode is not None else 0o600
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileNotFoundError:
        directory = os.path.dirname(path)
        dir_mode = store.directory_permissions_mode
        os.makedirs(directory, mode=dir_mode if dir_mode is not None else 0o777, exist_ok=True)  # root too
        if dir_mode is not None:
            os.chmod(directory, dir_mode)  # the umask may have narrowed it
        fd = os.open(path, flags, mode)
    if store.file_permissions_mode is not None:
        os.fchmod(fd, store.file_permissions_mode)  # the umask may have narrowed the mode given to open
    return fd


def _write_local(
    store: FileSystemStorage, key: bytes, reader: _CountingReader, *, aad: bytes, chunk_size: int, name: str | None,
    depth: int = 16,
) -> Written:
    """Local files: seal straight into the blob's final path.

    No temporary file and rename: the item row, committed afterwards, is what makes a blob exist, so a
    half-written file is never visible to anyone, and writing in place spares a second directory update.
    Durable before the item row commits (an accepted upload must survive a power cut): the file is
    fsynced. On the journaling filesystems blob directories live on (ext4, XFS, btrfs) that fsync also
    commits the new file's directory entry; an extra directory fsync forced a second journal commit and
    cost 0.3-1.7 ms per upload (measured on 1-8 MiB files). If sealing fails, the partial file is removed
    before the error propagates; a process killed mid-write leaves an unreferenced file that the orphan
    sweep (dsr/orphans.py) deletes."""
    name = name or new_blob_name()
    fd = _open_new_local(store, name)
    try:
        with open(fd, "wb", closefd=True) as dst:  # buffered: write() never returns short
            stored = _seal_into(key, reader, dst, aad=aad, chunk_size=chunk_size, durable=True, depth=depth)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(store.path(name))
        raise
    return Written(name=name, plain_size=reader.size, stored_size=stored)


def _write_via_storage(
    store: Storage, key: bytes, reader: _CountingReader, *, aad: bytes, chunk_size: int, name: str | None,
    depth: int = 16,
) -> Written:
    """Any other backend (S3-compatible object storage): seal into a private temporary file, then hand it
    to ``Storage.save``, which uploads it. Only ciphertext leaves the process. The temporary file has no
    name where the OS allows it (O_TMPFILE), so a process killed mid-way leaves nothing behind."""
    with tempfile.TemporaryFile(prefix="dsr-seal-") as tmp:
        # No fsync: this copy is scratch; the object store acknowledges the upload once it is durable.
        stored = _seal_into(key, reader, tmp, aad=aad, chunk_size=chunk_size, durable=False,  # type: ignore[arg-type]
                            depth=depth)
        tmp.seek(0)
        name = store.save(name or new_blob_name(), File(tmp, name=name or "blob"))
    return Written(name=name, plain_size=reader.size, stored_size=stored)


def write_sealed(key: bytes, src: BinaryIO, *, aad: bytes, name: str | None = None, depth: int = 16) -> Written:
    """Seal ``src`` into a new blob; the bytes are durable when this returns. ``name`` (from
    ``new_blob_name``) lets a caller record the name before writing, so a killed writer's file is known;
    by default a fresh random name is used. ``depth``: ciphertext chunks in flight to the writer thread (a
    caller that already overlaps its own stages, the export, keeps memory lower with fewer)."""
    store = blob_storage()
    chunk_size = _chunk_size_for(src)
    reader = _CountingReader(src)
    if isinstance(store, FileSystemStorage):
        return _write_local(store, key, reader, aad=aad, chunk_size=chunk_size, name=name, depth=depth)
    return _write_via_storage(store, key, reader, aad=aad, chunk_size=chunk_size, name=name, depth=depth)


def read_sealed(key: bytes, name: str, *, aad: bytes) -> Iterator[bytes]:
    with blob_storage().open(name, "rb") as fh:
        yield from crypto.open_stream(key, fh, aad=aad)


def delete_blob(name: str) -> None:
    """Idempotent: deleting a missing blob is not an error (a retried erasure step may find it gone)."""
    blob_storage().delete(name)


def iter_blobs() -> Iterator[tuple[str, datetime]]:
    """Every object in blob storage, as (name, last modified in UTC). For the orphan sweep.

    Local storage walks the directory tree (including temporary files an older version left in
    ``.incoming``); object storage lists the bucket, whose listing carries the modification times."""
    store = blob_storage()
    if isinstance(store, FileSystemStorage):
        root = Path(store.location)
        for directory, _, files in os.walk(root):
            for file_name in files:
                path = Path(directory) / file_name
                try:
                    mtime = path.stat().st_mtime
                except FileNotFoundError:  # deleted while we walked
                    continue
                yield path.relative_to(root).as_posix(), datetime.fromtimestamp(mtime, tz=UTC)
    elif hasattr(store, "bucket"):  # django-storages S3Storage (DSR_STORAGE=s3)
        prefix = (getattr(store, "location", "") or "").strip("/")
        for obj in store.bucket.objects.filter(Prefix=f"{prefix}/" if prefix else ""):
            yield obj.key[len(prefix) + 1 :] if prefix else obj.key, obj.last_modified.astimezone(UTC)
    else:
        raise NotImplementedError(f"listing blobs is supported on local and S3 storage, not {type(store).__name__}")


def raw_bytes(name: str) -> bytes:
    """The stored ciphertext, for tests and verification sweeps."""
    with blob_storage().open(name, "rb") as fh:
        return fh.read()
