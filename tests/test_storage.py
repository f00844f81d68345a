"""Sealed blobs on real storage backends: what lands on disk, what a failure leaves behind, other backends."""

from __future__ import annotations

import io
import os
import stat
import time
from pathlib import Path

import pytest

from dsr import crypto, storage

AAD = b"subject:test|item:test|category:video|purpose:test"


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def read_back(key: bytes, name: str, aad: bytes = AAD) -> bytes:
    return b"".join(storage.read_sealed(key, name, aad=aad))


@pytest.fixture
def private_blob_dir(settings, tmp_path: Path) -> Path:
    """The production options for local blobs (0600 files, 0700 directories)."""
    location = tmp_path / "private-blobs"
    settings.STORAGES = {
        **settings.STORAGES,
        "dsr_blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location), "file_permissions_mode": 0o600, "directory_permissions_mode": 0o700},
        },
    }
    return location


@pytest.mark.parametrize("size", [0, 1, 300 * 1024, 5 * 1024 * 1024 + 7], ids=["empty", "1B", "300KiB", "5MiB+7"])
def test_local_blob_is_one_private_ciphertext_file_that_reads_back(private_blob_dir: Path, size: int) -> None:
    key = crypto.new_data_key()
    plain = os.urandom(size)
    written = storage.write_sealed(key, io.BytesIO(plain), aad=AAD)

    assert files_under(private_blob_dir) == [private_blob_dir / written.name]  # no temporary file left over
    path = private_blob_dir / written.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    chunk = storage.SEAL_CHUNK_SIZE_LARGE if size >= storage.LARGE_FILE else storage.SEAL_CHUNK_SIZE
    assert written.plain_size == size
    assert written.stored_size == path.stat().st_size == crypto.sealed_size(size, chunk)
    if size >= 32:
        assert plain[:32] not in path.read_bytes()
    assert read_back(key, written.name) == plain


def test_blob_is_bound_to_its_key_and_associated_data(blob_dir: Path) -> None:
    key = crypto.new_data_key()
    written = storage.write_sealed(key, io.BytesIO(b"face embedding"), aad=AAD)
    with pytest.raises(crypto.IntegrityError):
        read_back(key, written.name, aad=AAD + b"|swapped")
    with pytest.raises(crypto.CryptoError):
        read_back(crypto.new_data_key(), written.name)


class FailingSource(io.RawIOBase):
    """A client upload that breaks off after ``fail_after`` bytes (connection reset)."""

    def __init__(self, total: int, fail_after: int) -> None:
        self.total, self.fail_after, self.pos = total, fail_after, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        if self.pos >= self.fail_after:
            raise ConnectionResetError("client went away")
        n = min(len(buf), self.fail_after - self.pos, self.total - self.pos)
        buf[:n] = b"\xab" * n
        self.pos += n
        return n


@pytest.mark.parametrize("total", [2 * 1024 * 1024, 16 * 1024 * 1024], ids=["inline-writes", "pipelined-writes"])
def test_upload_that_breaks_off_leaves_no_file(blob_dir: Path, total: int, monkeypatch) -> None:
    # Unknown size (not a real file): the chunk size follows the LARGE_FILE default for streams, so force it.
    monkeypatch.setattr(
        storage,
        "_chunk_size_for",
        lambda src: storage.SEAL_CHUNK_SIZE if total < storage.LARGE_FILE else storage.SEAL_CHUNK_SIZE_LARGE,
    )
    src = io.BufferedReader(FailingSource(total, fail_after=total // 2))
    with pytest.raises(ConnectionResetError):
        storage.write_sealed(crypto.new_data_key(), src, aad=AAD)
    assert files_under(blob_dir) == []


def test_blob_name_is_never_reused(blob_dir: Path, monkeypatch) -> None:
    key = crypto.new_data_key()
    first = storage.write_sealed(key, io.BytesIO(b"first"), aad=AAD)
    monkeypatch.setattr(storage, "new_blob_name", lambda: first.name)
    with pytest.raises(FileExistsError):
        storage.write_sealed(key, io.BytesIO(b"second"), aad=AAD)
    assert read_back(key, first.name) == b"first"
    assert files_under(blob_dir) == [blob_dir / first.name]


@pytest.mark.parametrize("size", [1000, 5 * 1024 * 1024], ids=["small", "5MiB"])
def test_non_filesystem_backend_receives_only_ciphertext(settings, size: int) -> None:
    """Object storage (S3 in production) goes through Storage.save; Django's in-memory backend stands for it."""
    settings.STORAGES = {
        **settings.STORAGES,
        "dsr_blobs": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    key = crypto.new_data_key()
    plain = os.urandom(size)
    written = storage.write_sealed(key, io.BytesIO(plain), aad=AAD)
    stored = storage.raw_bytes(written.name)
    assert len(stored) == written.stored_size and plain[:32] not in stored
    assert read_back(key, written.name) == plain
    storage.delete_blob(written.name)
    assert not storage.blob_storage().exists(written.name)
    storage.delete_blob(written.name)  # idempotent


class SlowFile(io.BytesIO):
    """A destination slower than encryption, so the writer's queue fills and the producer has to wait."""

    def write(self, data) -> int:  # type: ignore[no-untyped-def]
        time.sleep(0.001)
        return super().write(data)


def test_pipelined_writer_keeps_every_chunk_intact_when_the_disk_is_slower_than_encryption() -> None:
    key = crypto.new_data_key()
    plain = os.urandom(40 * 64 * 1024 + 11)
    dst = SlowFile()
    writer = storage._PipelinedWriter(dst, depth=4)
    try:
        crypto.seal_stream(key, io.BytesIO(plain), writer, aad=AAD, chunk_size=64 * 1024)
    finally:
        writer.close()
    assert b"".join(crypto.open_stream(key, io.BytesIO(dst.getvalue()), aad=AAD)) == plain
