"""The mechanics of a streamed package: ZIP entries fed lazily, every file hashed while it streams, CSV cells
neutralised, JSON documents written record by record, and a reader that turns the ZIP stream into the
``read(n)`` a sealer wants. Nothing here knows about subjects or cases (that is ``dsr/export_content.py``).

Memory stays flat however large the package: entries are produced one at a time by a generator, a file's
bytes pass through in the chunks the vault decrypts them in, and only each file's path, size and digest
are kept (for the manifest and the ZIP's central directory).

The work is spread over threads that each release the GIL in their heavy call, so a build uses more than
one core: a file's chunks are read and decrypted ahead on a reader thread (``prefetched``), SHA-256 runs on a
hashing thread (the updates of one file stay in order on that one thread), the ZIP is generated on the calling
thread (which alone touches the database), and ``Pipe`` hands the ZIP to a sealing thread that encrypts and
writes it. Every hand-over is a bounded queue, so memory stays flat.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import queue
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from zipfile import ZIP_DEFLATED, ZIP_STORED

import zipstream.ng
from zipstream import ZipStream
from zlib_ng import zlib_ng

# zipstream-ng computes every entry's CRC-32 with the standard library's zlib.crc32, about 1.5 GB/s here: for a
# gigabyte of media more CPU than decrypting and re-encrypting it together. zlib-ng computes the same CRC-32 (the
# ZIP polynomial; tests/test_exports.py checks the standard check value and that Python's zipfile verifies every
# entry) with carry-less multiplication at ~40 GB/s. zipstream-ng looks the name up in its module at each call.
zipstream.ng.crc32 = zlib_ng.crc32

# One thread of each kind per process; a package build is sequential, so one of each is all it can use.
_HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dsr-export-hash")
_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dsr-export-read")
_SEALER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dsr-export-seal")
_HASH_DEPTH = 1  # chunks in flight to the hashing thread
_READ_AHEAD = 1  # chunks a file is read and decrypted ahead
_PIPE_DEPTH = 1  # ZIP chunks waiting for the sealing thread

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


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put unless the other side has stopped listening; False if it has."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def prefetched(chunks: Iterator[bytes], depth: int = _READ_AHEAD) -> Iterator[bytes]:
    """The same chunks, read ahead on the reader thread. The first chunk is taken here, on the calling thread:
    a vault stream looks up its keys in the database then, and database connections belong to their thread;
    what follows is file reads and decryption only."""
    first = next(chunks, None)
    if first is None:
        return
    yield first
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def pump() -> None:
        try:
            for chunk in chunks:
                if not _put(q, chunk, stop):
                    return
            _put(q, _END, stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            _put(q, _Failed(exc), stop)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    done = _READER.submit(pump)
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        done.result()


class Pipe:
    """Hands a stream of chunks produced on this thread to ``consume(reader)`` running on the sealing thread,
    through a bounded queue. If either side fails, the other stops and the first error is raised here."""

    def __init__(self, consume: Callable[[StreamReader], Any], depth: int = _PIPE_DEPTH) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._future = _SEALER.submit(consume, StreamReader(self._drain()))

    def _drain(self) -> Iterator[bytes]:
        while True:
            item = self._q.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item

    def run(self, chunks: Iterable[bytes]) -> Any:
        try:
            for chunk in chunks:
                if not self._put(chunk):
                    break
            self._put(_END)
        except BaseException as exc:
            self._abort(exc)
            raise
        return self._future.result()

    def _put(self, item: Any) -> bool:
        while True:
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                if self._future.done():  # the consumer died: its error is raised by run()
                    self._future.result()
                    return False

    def _abort(self, exc: BaseException) -> None:
        """Make the consumer fail too (so it removes what it half-wrote), and wait for it."""
        while True:
            try:
                self._q.put(_Failed(exc), timeout=0.1)
                break
            except queue.Full:
                if self._future.done():
                    break
        with contextlib.suppress(BaseException):  # the producer's own error is the one that matters
            self._future.result()


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
