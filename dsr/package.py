"""The mechanics of a streamed package: ZIP entries fed lazily, every file hashed while it streams, CSV cells
neutralised, JSON documents written record by record, and a reader that turns the ZIP stream into the
``read(n)`` a sealer wants. Nothing here knows about subjects or cases (that is ``dsr/export_content.py``).

Memory stays flat however large the package: entries are produced one at a time by a generator, a file's
bytes pass through in the chunks the vault decrypts them in, and only each file's path, size and digest
are kept (for the manifest and the ZIP's central directory).

SHA-256 runs on a helper thread (``hashlib`` releases the GIL on large buffers), so hashing a file
overlaps decrypting and re-encrypting it; the updates of one file stay in order on that one thread.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from zipfile import ZIP_DEFLATED, ZIP_STORED

from zipstream import ZipStream

# One hashing thread per process; a package build is sequential, so one is all it can use.
_HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dsr-export-hash")
_HASH_DEPTH = 8  # chunks in flight to the hashing thread (bounded: memory stays flat)

# Generated archive paths only: ASCII letters, digits, '-', '_', '.', '/' — no '..', no leading '/'.
_SAFE_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")

# OWASP "CSV injection": a spreadsheet treats a cell starting with these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


class UnsafePath(ValueError):
    """A path that is not one of ours (the builder generates every path; this is a guard, not a filter)."""


def checked_path(path: str) -> str:
    if not _SAFE_PATH.fullmatch(path) or ".." in path.split("/"):
        raise UnsafePath("archive paths are generated from ids, never from content")
    return path


def neutralise_cell(value: Any) -> str:
    """A CSV cell as text, prefixed with an apostrophe when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_document(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[bytes]:
    """UTF-8 CSV (with a BOM so spreadsheets pick the encoding), every cell neutralised, streamed."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([neutralise_cell(h) for h in header])
    yield ("\ufeff" + buf.getvalue()).encode()
    for row in rows:
        buf.seek(0)
        buf.truncate()
        writer.writerow([neutralise_cell(c) for c in row])
        yield buf.getvalue().encode()


def json_document(head: dict[str, Any], key: str, records: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """``{...head, key: [record, record, ...]}`` written one record at a time."""
    opening = json.dumps(head, ensure_ascii=False, indent=2)
    yield (opening[:-2] + f',\n  "{key}": [').encode() if head else f'{{\n  "{key}": ['.encode()
    first = True
    for record in records:
        yield (("\n    " if first else ",\n    ") + json.dumps(record, ensure_ascii=False, sort_keys=True)).encode()
        first = False
    yield b"\n  ]\n}\n"


@dataclass
class FileEntry:
    """One file of the package: its generated path, its bytes (produced when the ZIP reaches it)."""

    path: str
    data: Callable[[], Iterable[bytes]]
    compress: bool = False
    media_type: str = ""
    schema: str = ""


@dataclass
class Written:
    path: str
    size: int
    sha256: str
    media_type: str = ""
    schema: str = ""


class _Digest:
    """SHA-256 of a stream, computed on the hashing thread while the stream moves on."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._pending: deque[Future[None]] = deque()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if len(chunk) < 64 * 1024:  # not worth a thread hop; keeps order since earlier updates are awaited
            self._drain()
            self._hash.update(chunk)
            return
        while len(self._pending) >= _HASH_DEPTH:
            self._pending.popleft().result()
        self._pending.append(_HASHER.submit(self._hash.update, chunk))

    def _drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def hexdigest(self) -> str:
        self._drain()
        return self._hash.hexdigest()


@dataclass
class PackageStream:
    """The ZIP of a package as a stream of bytes, plus what was written (filled in as it streams)."""

    entries: Iterable[FileEntry]
    on_file: Callable[[Written], None] | None = None
    on_bytes: Callable[[int], None] | None = None
    written: list[Written] = field(default_factory=list)
    size: int = 0

    def __iter__(self) -> Iterator[bytes]:
        zs = ZipStream(compress_type=ZIP_STORED)
        for entry in self.entries:
            digest = _Digest()
            zs.add(self._hashed(entry, digest), checked_path(entry.path),
                   compress_type=ZIP_DEFLATED if entry.compress else ZIP_STORED)
            for chunk in zs.all_files():
                self.size += len(chunk)
                yield chunk
            done = Written(entry.path, digest.size, digest.hexdigest(), entry.media_type, entry.schema)
            self.written.append(done)
            if self.on_file:
                self.on_file(done)
        for chunk in zs.footer():
            self.size += len(chunk)
            yield chunk

    def _hashed(self, entry: FileEntry, digest: _Digest) -> Iterator[bytes]:
        for chunk in entry.data():
            if not chunk:
                continue
            digest.update(chunk)
            if self.on_bytes:
                self.on_bytes(len(chunk))
            yield chunk
        # an empty file still needs one (empty) chunk: zipstream refuses an iterable that yields nothing
        if digest.size == 0:
            yield b""


class StreamReader(io.RawIOBase):
    """``read(n)`` over an iterator of byte chunks, returning exactly ``n`` bytes until the end (what the
    chunked sealer expects). At most one read's worth of bytes is buffered."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buf = bytearray()
        self._lock = threading.Lock()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        with self._lock:
            if n is None or n < 0:
                out = bytes(self._buf) + b"".join(self._chunks)
                self._buf.clear()
                return out
            if not self._buf:
                for chunk in self._chunks:
                    if len(chunk) == n:  # the common case for media: pass the chunk through, no copy
                        return chunk
                    if chunk:
                        self._buf += chunk
                        break
            while len(self._buf) < n:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._buf += chunk
            out = bytes(self._buf[:n])
            del self._buf[:n]
            return out
