"""Tests for dsr.crypto: fixed vectors pin the on-disk format; round trips, tampering, key rings, memory.

Pure tests (no database, no Django settings needed): they run with ``-p no:django`` and under pytest-django.
"""

from __future__ import annotations

import base64
import io
import os
import re
import tracemalloc

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from dsr import crypto
from dsr.crypto import (
    DATA_KEY_BYTES,
    DEFAULT_CHUNK_SIZE,
    CryptoError,
    IntegrityError,
    KeyNotFound,
    KeyRing,
    KeySpecError,
    new_data_key,
    open_sealed,
    open_stream,
    seal,
    seal_stream,
    sealed_size,
)

KEY = bytes(range(32))
PREFIX = bytes.fromhex("a0a1a2a3a4a5a6")
CHUNK = 1024  # smallest allowed chunk size, keeps vectors short
AAD = b"subject:00000000-0000-0000-0000-000000000001|item:00000000-0000-0000-0000-000000000002|purpose:photo"
OTHER_AAD = (
    b"subject:00000000-0000-0000-0000-000000000009|item:00000000-0000-0000-0000-000000000002|purpose:photo"
)
TAG = 16
HEADER = 16
FULL = CHUNK + TAG  # ciphertext length of a non-final chunk

# Three chunks: 1024 + 1024 + 3 plaintext bytes.
VECTOR_PLAINTEXT = bytes((i * 7 + 3) % 256 for i in range(2 * CHUNK + 3))
VECTOR_HEX = (
    "445352530100000400a0a1a2a3a4a5a609db0db18972680957618dd0ce5e3307a1bbcecdf4f160a5a4e54322f3019829abba"
    "f27fa3c485ff972a18d95987f943c0202010e20d9bc57f709d5b6747cd25a0d010bac41c7ead008b2ce46717eb18989bf147"
    "8c9d865af8ea85c62f68ff384d89f6cf1148bffd697804543138772cd0e7c6469e14c93c34c2e76923f6e068ac5dc30f05de"
    "6c6f8b4dce8a0b48f1958b64e92a8a86bc2788e738be054eb362aacacb36d012e71a77c7b49eeffd6fc5188808b6f0c438e1"
    "4d8e840d20c071cd7d231d4be168b542dcbe984456759e183e0eb83f70a9a6bdbbcb44ef01136c64d39dbc7d1b50b93d1055"
    "896eb599fa28743434b846659637e8b5703739442702e1ff61ff76874f7caf60ccfff384620507b76430e0c4f6d1933e2368"
    "a9b11bdf655cddca1ede0af1fe0ce10efd5d8ba45a6bcba8122bd41158c2c2002dd193926bc049bd299ce5a0194ef7844f0e"
    "00362366558165d4c91c6ca5b3f1e8d8b58ce60d6efa9a524992e4452aea3abfeedd3505746202406777c71480a30cae1eec"
    "d131fa032f8da2c44bbb6d0450da8454bf1bbb5f9600827674622d0ae9c4f49862ac19e8f4d68c9b98879213f44c5ba3c7a7"
    "0efc02ac499cc14f09a99e3c0b3a09a1e6cf93b520c6a73be22d28edb52a877d65da93aebbd0d165ac9379f32f1d6e0b4eeb"
    "a26e32126455e5b409d5009a64519ddce0894fb221a8326265df16f5eff9212934df9b4630646390e198aa49d0055e36842e"
    "8826d11f033d03501f12216a58bb7ee2e00d44166272a805cada72255ba74a7658b20bf452f3d7f706698ee4bae8c2bba3cf"
    "91f0248e263a8ed3b6dd9aec5a310097ff79b5ec23e3854ec2f8fb993ae10ec6d0da62ef5d7585b51d8a0649edb3d1a4fc92"
    "e6c0faae08a41fd15cbaa297fe622ac6bbe8af78dd3d586200dd987502bdd8bddd77714311e02a622885dcbeb8265e9d2f20"
    "f608f9ffc8e9ea609650ca69d9e7d4b36af356c38ed4ea27150fa2cd9e871821d6bc09fe86889fb6a8fa3c02b874f237680d"
    "3a51f47e29f86b86a1409fe6c13dc44ad21ee109dde95a8590f522411fa1865ef1812bd3132f6f80516e57466ea6adb04d16"
    "8bcfcfbad7acde53a32ea842269db2bf566972878a9ff9396696a47773dbf5a70d7b750e98f18ed69f9f02f2dd5aa987e568"
    "3ab67ef97e53139c61d2fded4efdb61d741c51ce78dcaaede826ea36312b1d718880de4285168f12ed8d794fd92527293094"
    "8450bbec2736dba4b0be4caf92a9afa3cd18cde3deb996fd2eeee5cfb2b31bc7aefd09673812bf1e1515ea1dd4064665bce9"
    "5e7e43dffc257ca9710e87f7f278911b76be92d8b21839f4759fc76bbb87ea1d332ef94422f318a6f1dd67e46209843e40bb"
    "8e3111e074d5ca9107df282cbe03515a57e89e176a2e1b8daf7af15530a2e6b19e9005ccd66a5a0da9844b5633ba34b44021"
    "ca23eb188a8052e806df921adbbbdbcff7249a7ccb5c5847468dcd045fd9bbc5c54fd37665fce3138000fd189c7d4aebe4b0"
    "8b0c6817632a7642d8d6d5e3c83e0d44365f0315f70b7a94728de6ae3d1f10c7c52a879b24b1c98aad0c2fb9e657b74f78bf"
    "d2155663ffbf12c3fc354fb063a5e0d943fb49d103e5fb490477b20a6afb1802c05056b83a00870443c13659b3beb6a6d38e"
    "209dad266f6a0f09e642b16e4e58d17645a8c88456123d6274f18c93c0cfe2d40362d0ca5d75159808dbe9f449c2ec138122"
    "57e6a4921ae1ebac78ff96308edbfb45e5dddf234b71ba72952c10ddf841fa801be43f318166f4e2d3ce0f69612f4bbe0f47"
    "4b8984d6b5a20f9d99977c00d694601edc38b8f5f3e94fe43cd91a2bc7619fde07cd2a31b626bbb97c87fe23e451101f22b3"
    "895d2a906c3776c34826ae878739b66e3dd1d59334e17bdfbb617968bc0fe4a60ffa868aa568cfe97883a9be44b516baf341"
    "7a2938a9febe3d23a44c922711ad3a87a4cb4ab4b50ed3d873d76fd81f85c3c43b4b2a516c3c33176f7ed1c1d11857180a38"
    "acd916d2028c935f020154fc6144931063694308e3522ea5ad00eca011c7ba40a21ea618da13719ce0b0832f440b37909c26"
    "9f4f6b3a1eabc837e67d72921147a8ee9401529f625ac95ce38f4c2924604d40928cca8fc1bfd8ed7f6ef1928b900d565968"
    "0128fd7c0c9d1f6f3165a3caa2aba93b67f44970672c2d9ad29ca32ae36eba15ec71776dd9e87a90432536c7e3f9bfa85a8c"
    "4f8b74ce193670a545462467dd34c053c573d38920662b2f5f5574fd88b56e13828e85d0b07c45ceed29ce7f9fc1e7596946"
    "531d0fd11a5e2a7b49b992b763c2664c21593a5197b4c6ebdc7562232c0056fbff7f29d883c4864ed5307768cfa276b8fc5c"
    "084c6767b33f796f1f9252c5fc9967103a507d4ad6a5fe907756e4d27ff9d0c2ad410760f733e7ed34978caa71044cf9376d"
    "e8f00889f8394d24d1678d609698fd8d01f763951836e82cc2619da11953531d09e973fae147fe0a45fc89b495eae4fbb1c4"
    "09ceb954b151337284d0edb4ad3e506250eb2f1c19dacc5f599d7635ed860e1ce966a57d1bb7820e1bdc2a987d9e1fa46e80"
    "91cc50476253b07ea441223758a4e1b09c88cd5540f86e2a04f9a0d7a24bc64e6bf8367b17b8d001c659a1be6e245feb63f0"
    "fe2f82a19e7e777f22a9363b7f8580128db8804026e7438e4048b1c99553632e4acce83bdf85190f441fc25c1b4eeb5c44c9"
    "8bcd922e035f633e2f1bfd79bdda1ea95f45272b0739662c98b8bdab76f00b70dde41c7912657953202383ad70452108b4a8"
    "fe62823055f3394fe2dd15364be185ce54fd9c7105c856bb6ab1d5f2b6a4c61ef06143afe35c5f72fb52d1fcdcf63c4809c3"
    "7664b50d97c13cab37d34f01ad3af2733b192b16b1066f9136d7bd9a1d6c7019ba0c04c92c7d3e194f733c2958b6e2a790b9"
    "6c51653331287bcfdfc2321d84476f"
)
EMPTY_VECTOR_HEX = "445352530100000400a0a1a2a3a4a5a66d5533357781dbfce740ddb249638641"


def _seal(
    plaintext: bytes,
    *,
    key: bytes = KEY,
    aad: bytes = AAD,
    chunk_size: int = CHUNK,
    prefix: bytes | None = PREFIX,
) -> bytes:
    out = io.BytesIO()
    seal_stream(key, io.BytesIO(plaintext), out, aad=aad, chunk_size=chunk_size, _nonce_prefix=prefix)
    return out.getvalue()


def _open(blob: bytes, *, key: bytes = KEY, aad: bytes = AAD) -> bytes:
    return b"".join(open_stream(key, io.BytesIO(blob), aad=aad))


def _reference_seal(key: bytes, plaintext: bytes, aad: bytes, chunk_size: int, prefix: bytes) -> bytes:
    """Independent implementation of the documented format using AESGCM directly."""
    header = b"DSRS" + bytes([1]) + chunk_size.to_bytes(4, "big") + prefix
    pieces = [plaintext[i : i + chunk_size] for i in range(0, len(plaintext), chunk_size)] or [b""]
    aes = AESGCM(key)
    out = [header]
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        nonce = prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
        out.append(aes.encrypt(nonce, piece, header + aad))
    return b"".join(out)


def _chunks(blob: bytes) -> tuple[bytes, list[bytes]]:
    """Split a CHUNK-sized blob into header and ciphertext chunks (the last may be short)."""
    body = blob[HEADER:]
    return blob[:HEADER], [body[i : i + FULL] for i in range(0, len(body), FULL)]


def _flip(blob: bytes, position: int, bit: int = 0) -> bytes:
    mutable = bytearray(blob)
    mutable[position] ^= 1 << bit
    return bytes(mutable)


# --------------------------------------------------------------------------------------------- vectors


def test_fixed_vector_is_pinned() -> None:
    assert _seal(VECTOR_PLAINTEXT).hex() == VECTOR_HEX


def test_fixed_vector_matches_independent_construction() -> None:
    expected = _reference_seal(KEY, VECTOR_PLAINTEXT, AAD, CHUNK, PREFIX)
    assert expected.hex() == VECTOR_HEX
    assert _seal(VECTOR_PLAINTEXT) == expected


def test_fixed_vector_layout() -> None:
    blob = bytes.fromhex(VECTOR_HEX)
    header, chunks = _chunks(blob)
    assert header == b"DSRS\x01\x00\x00\x04\x00" + PREFIX
    assert [len(c) for c in chunks] == [FULL, FULL, 3 + TAG]
    aes = AESGCM(KEY)
    plain = [
        aes.decrypt(PREFIX + i.to_bytes(4, "big") + (b"\x01" if i == 2 else b"\x00"), c, header + AAD)
        for i, c in enumerate(chunks)
    ]
    assert b"".join(plain) == VECTOR_PLAINTEXT
    assert _open(blob) == VECTOR_PLAINTEXT


def test_empty_plaintext_vector_is_one_empty_final_chunk() -> None:
    blob = _seal(b"", aad=b"")
    assert blob.hex() == EMPTY_VECTOR_HEX
    assert blob == _reference_seal(KEY, b"", b"", CHUNK, PREFIX)
    assert len(blob) == HEADER + TAG == sealed_size(0, CHUNK)
    assert list(open_stream(KEY, io.BytesIO(blob), aad=b"")) == [b""]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK, 3 * CHUNK + 7])
def test_matches_independent_construction_for_boundary_sizes(size: int) -> None:
    plaintext = os.urandom(size)
    assert _seal(plaintext) == _reference_seal(KEY, plaintext, AAD, CHUNK, PREFIX)


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK])
def test_round_trip_boundary_sizes(size: int) -> None:
    plaintext = os.urandom(size)
    src, dst = io.BytesIO(plaintext), io.BytesIO()
    counts = seal_stream(KEY, src, dst, aad=AAD, chunk_size=CHUNK)
    blob = dst.getvalue()
    assert counts == (size, len(blob))
    assert len(blob) == sealed_size(size, CHUNK)
    chunks = list(open_stream(KEY, io.BytesIO(blob), aad=AAD))
    assert b"".join(chunks) == plaintext
    assert all(len(c) == CHUNK for c in chunks[:-1])
    assert len(chunks) == max(1, -(-size // CHUNK))


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=5 * 1024), chunk_size=st.integers(min_value=1024, max_value=3000))
def test_round_trip_property(plaintext: bytes, chunk_size: int) -> None:
    key = new_data_key()
    dst = io.BytesIO()
    assert seal_stream(key, io.BytesIO(plaintext), dst, aad=AAD, chunk_size=chunk_size) == (
        len(plaintext),
        sealed_size(len(plaintext), chunk_size),
    )
    assert b"".join(open_stream(key, io.BytesIO(dst.getvalue()), aad=AAD)) == plaintext


def test_seal_and_open_sealed_share_the_stream_format() -> None:
    key = new_data_key()
    blob = seal(key, b"hello", aad=AAD)
    assert blob[:5] == b"DSRS\x01"
    assert int.from_bytes(blob[5:9], "big") == DEFAULT_CHUNK_SIZE
    assert len(blob) == sealed_size(5)
    assert open_sealed(key, blob, aad=AAD) == b"hello"
    assert b"".join(open_stream(key, io.BytesIO(blob), aad=AAD)) == b"hello"


def test_nonce_prefix_is_random_per_stream() -> None:
    key = new_data_key()
    first, second = seal(key, b"same", aad=AAD), seal(key, b"same", aad=AAD)
    assert first[9:16] != second[9:16]
    assert first != second


class _Trickle(io.RawIOBase):
    """A raw stream returning at most 100 bytes per read, like a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 100) if size >= 0 else 100)


def test_short_reads_are_handled() -> None:
    plaintext = os.urandom(3 * CHUNK + 5)
    dst = io.BytesIO()
    seal_stream(KEY, _Trickle(plaintext), dst, aad=AAD, chunk_size=CHUNK)
    assert dst.getvalue() == _reference_seal(KEY, plaintext, AAD, CHUNK, dst.getvalue()[9:16])
    assert b"".join(open_stream(KEY, _Trickle(dst.getvalue()), aad=AAD)) == plaintext


class _ReadOnly:
    """A file-like object with read() and nothing else (no readinto)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


def test_sources_without_readinto_are_sealed_identically() -> None:
    plaintext = os.urandom(2 * CHUNK + 17)
    dst = io.BytesIO()
    seal_stream(KEY, _ReadOnly(plaintext), dst, aad=AAD, chunk_size=CHUNK)
    assert dst.getvalue() == _reference_seal(KEY, plaintext, AAD, CHUNK, dst.getvalue()[9:16])


def test_new_data_key() -> None:
    first, second = new_data_key(), new_data_key()
    assert len(first) == len(second) == DATA_KEY_BYTES == 32
    assert first != second


# ------------------------------------------------------------------------------------------- tampering


def test_every_single_bit_flip_is_detected() -> None:
    blob = bytes.fromhex(VECTOR_HEX)
    for position in range(len(blob)):
        with pytest.raises(IntegrityError):
            _open(_flip(blob, position, bit=position % 8))


@pytest.mark.parametrize(
    "position",
    [0, 4, 5, 8, 9, 15, HEADER, HEADER + 500, HEADER + CHUNK, HEADER + FULL - 1, HEADER + FULL + 7, -1],
    ids=lambda p: f"byte{p}",
)
def test_flip_in_header_chunk_or_tag(position: int) -> None:
    blob = _seal(os.urandom(2 * CHUNK + 100))
    with pytest.raises(IntegrityError):
        _open(_flip(blob, position % len(blob), bit=7))


def test_every_truncation_is_detected() -> None:
    blob = bytes.fromhex(VECTOR_HEX)
    for length in range(len(blob)):
        with pytest.raises(IntegrityError):
            _open(blob[:length])


@pytest.mark.parametrize("size", [2 * CHUNK + 100, 3 * CHUNK])
def test_dropping_the_final_chunk_is_detected(size: int) -> None:
    # With an exact multiple the remaining chunks are all full-length: only the final flag catches it.
    header, chunks = _chunks(_seal(os.urandom(size)))
    with pytest.raises(IntegrityError):
        _open(header + b"".join(chunks[:-1]))


def test_dropping_a_middle_chunk_is_detected() -> None:
    header, chunks = _chunks(_seal(os.urandom(3 * CHUNK + 10)))
    with pytest.raises(IntegrityError):
        _open(header + chunks[0] + chunks[2] + chunks[3])


def test_swapping_chunks_is_detected() -> None:
    header, chunks = _chunks(_seal(os.urandom(3 * CHUNK + 10)))
    with pytest.raises(IntegrityError):
        _open(header + chunks[1] + chunks[0] + chunks[2] + chunks[3])


def test_duplicating_a_chunk_is_detected() -> None:
    header, chunks = _chunks(_seal(os.urandom(2 * CHUNK + 10)))
    with pytest.raises(IntegrityError):
        _open(header + chunks[0] + chunks[0] + chunks[1] + chunks[2])


@pytest.mark.parametrize("extra", [b"\x00", os.urandom(TAG), os.urandom(FULL), os.urandom(FULL + 1)],
                         ids=["one-byte", "a-tag", "a-full-chunk", "a-chunk-and-a-byte"])
def test_appending_garbage_is_detected(extra: bytes) -> None:
    blob = _seal(os.urandom(2 * CHUNK + 10))
    with pytest.raises(IntegrityError):
        _open(blob + extra)


def test_appending_a_copy_of_the_final_chunk_is_detected() -> None:
    blob = _seal(os.urandom(2 * CHUNK))
    _header, chunks = _chunks(blob)
    with pytest.raises(IntegrityError):
        _open(blob + chunks[-1])


def test_chunks_cannot_be_spliced_between_streams_under_the_same_key() -> None:
    plaintext = os.urandom(2 * CHUNK + 10)
    header_a, chunks_a = _chunks(_seal(plaintext, prefix=b"\x01" * 7))
    header_b, chunks_b = _chunks(_seal(plaintext, prefix=b"\x02" * 7))
    with pytest.raises(IntegrityError):
        _open(header_a + chunks_b[0] + chunks_a[1] + chunks_a[2])
    with pytest.raises(IntegrityError):
        _open(header_b + b"".join(chunks_a))


def test_rewriting_the_chunk_size_is_detected() -> None:
    blob = bytearray(_seal(os.urandom(3 * CHUNK)))
    blob[5:9] = (2 * CHUNK).to_bytes(4, "big")
    with pytest.raises(IntegrityError):
        _open(bytes(blob))


def test_wrong_aad_is_detected() -> None:
    blob = _seal(b"portrait bytes")
    for aad in (OTHER_AAD, b"", AAD + b"x", AAD[:-1]):
        with pytest.raises(IntegrityError):
            _open(blob, aad=aad)


def test_wrong_key_is_detected() -> None:
    blob = _seal(b"portrait bytes")
    with pytest.raises(IntegrityError):
        _open(blob, key=new_data_key())


@pytest.mark.parametrize(
    "blob",
    [b"", b"DSRS", b"XXXX" + bytes(12), b"DSRS\x02" + bytes(11), b"DSRS\x01\x00\x00\x00\x10" + bytes(7)],
    ids=["empty", "short-header", "bad-magic", "bad-version", "chunk-size-too-small"],
)
def test_bad_header_fails_before_iteration(blob: bytes) -> None:
    with pytest.raises(IntegrityError):
        open_stream(KEY, io.BytesIO(blob), aad=AAD)  # no iteration: header is checked eagerly


def test_header_claiming_huge_chunk_size_is_rejected() -> None:
    blob = b"DSRS\x01" + (64 * 1024 * 1024).to_bytes(4, "big") + PREFIX + bytes(32)
    with pytest.raises(IntegrityError):
        open_stream(KEY, io.BytesIO(blob), aad=AAD)


def test_good_chunks_are_yielded_before_a_later_failure() -> None:
    # Documented online-AE behaviour: callers must discard everything if the iterator raises.
    blob = _flip(_seal(VECTOR_PLAINTEXT), HEADER + FULL + 10)
    stream = open_stream(KEY, io.BytesIO(blob), aad=AAD)
    assert next(stream) == VECTOR_PLAINTEXT[:CHUNK]
    with pytest.raises(IntegrityError, match="chunk 1"):
        next(stream)


# ------------------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize("chunk_size", [0, 1, 1023, 16 * 1024 * 1024 + 1])
def test_chunk_size_bounds(chunk_size: int) -> None:
    with pytest.raises(CryptoError):
        seal_stream(KEY, io.BytesIO(b"x"), io.BytesIO(), aad=AAD, chunk_size=chunk_size)
    with pytest.raises(CryptoError):
        sealed_size(1, chunk_size)


def test_chunk_size_limits_are_inclusive() -> None:
    assert sealed_size(0, 1024) == 32
    assert sealed_size(1, 16 * 1024 * 1024) == 33
    assert len(_seal(b"abc", chunk_size=16 * 1024 * 1024)) == 35


def test_sealed_size_formula_and_chunk_limit() -> None:
    assert sealed_size(0) == 32
    assert sealed_size(DEFAULT_CHUNK_SIZE) == 16 + DEFAULT_CHUNK_SIZE + 16
    assert sealed_size(DEFAULT_CHUNK_SIZE + 1) == 16 + DEFAULT_CHUNK_SIZE + 1 + 32
    assert sealed_size(2**32 * CHUNK, CHUNK) == 16 + 2**32 * CHUNK + 2**32 * 16
    with pytest.raises(CryptoError):
        sealed_size(2**32 * CHUNK + 1, CHUNK)
    with pytest.raises(CryptoError):
        sealed_size(-1)


@pytest.mark.parametrize("key", [b"", bytes(16), bytes(31), bytes(33)])
def test_data_key_must_be_32_bytes(key: bytes) -> None:
    with pytest.raises(CryptoError):
        seal(key, b"x", aad=AAD)
    with pytest.raises(CryptoError):
        open_sealed(key, _seal(b"x"), aad=AAD)


def test_nonce_prefix_must_be_7_bytes() -> None:
    with pytest.raises(CryptoError):
        _seal(b"x", prefix=bytes(8))


# -------------------------------------------------------------------------------------------- key ring

OLD = bytes([1]) * 32
NEW = bytes([2]) * 32
B64_OLD = base64.urlsafe_b64encode(OLD).decode()
B64_NEW = base64.urlsafe_b64encode(NEW).decode()
CONTEXT = b"subject:00000000-0000-0000-0000-000000000001|item:00000000-0000-0000-0000-000000000002"


def test_wrap_unwrap_round_trip() -> None:
    ring = KeyRing([("old", OLD)])
    data_key = new_data_key()
    wrapped = ring.wrap(data_key, context=CONTEXT)
    assert wrapped.startswith("v1.old.")
    assert ring.unwrap(wrapped, context=CONTEXT) == data_key
    assert KeyRing.wrapped_key_id(wrapped) == "old"
    assert ring.wrap(data_key, context=CONTEXT) != wrapped  # fresh nonce each time


def test_wrap_format_matches_documentation() -> None:
    data_key = new_data_key()
    wrapped = KeyRing([("old", OLD)]).wrap(data_key, context=CONTEXT)
    version, key_id, encoded = wrapped.split(".")
    raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    assert (version, key_id, len(raw)) == ("v1", "old", 12 + 32 + 16)
    aad = b"dsr-wrap-v1|old|" + CONTEXT
    assert AESGCM(OLD).decrypt(raw[:12], raw[12:], aad) == data_key


def test_unwrap_with_wrong_context_fails() -> None:
    ring = KeyRing([("old", OLD)])
    wrapped = ring.wrap(new_data_key(), context=CONTEXT)
    for context in (b"", CONTEXT + b"x", CONTEXT.replace(b"0001", b"0009")):
        with pytest.raises(IntegrityError):
            ring.unwrap(wrapped, context=context)


def test_tampered_wrapped_key_fails() -> None:
    ring = KeyRing([("old", OLD), ("new", NEW)])
    wrapped = ring.wrap(new_data_key(), context=CONTEXT)
    version, key_id, encoded = wrapped.split(".")
    raw = bytearray(base64.urlsafe_b64decode(encoded))
    for position in range(len(raw)):
        raw[position] ^= 1
        with pytest.raises(IntegrityError):
            ring.unwrap(
                f"{version}.{key_id}.{base64.urlsafe_b64encode(bytes(raw)).decode()}", context=CONTEXT
            )
        raw[position] ^= 1
    # Relabelling with another key id in the ring fails too (the id is in the AAD).
    same_key_ring = KeyRing([("old", OLD), ("alias", OLD)])
    with pytest.raises(IntegrityError):
        same_key_ring.unwrap(f"v1.alias.{encoded}", context=CONTEXT)


@pytest.mark.parametrize(
    "wrapped",
    [
        "",
        "v1",
        "v1.old",
        "v2.old.AAAA",
        "v1.old.!!!!",
        "v1.old.AAAA",
        "v1.b@d.AAAA",
        "v1..AAAA",
        "v1.old.AA.AA",
    ],
)
def test_malformed_wrapped_key(wrapped: str) -> None:
    ring = KeyRing([("old", OLD)])
    with pytest.raises(IntegrityError):
        ring.unwrap(wrapped, context=CONTEXT)
    with pytest.raises(IntegrityError):
        KeyRing.wrapped_key_id(wrapped)


def test_unknown_key_id_raises_key_not_found() -> None:
    wrapped = KeyRing([("gone", OLD)]).wrap(new_data_key(), context=CONTEXT)
    with pytest.raises(KeyNotFound, match="gone"):
        KeyRing([("new", NEW)]).unwrap(wrapped, context=CONTEXT)


def test_rotation_rewrap_then_retire_old_key() -> None:
    data_key = new_data_key()
    old_wrapped = KeyRing([("old", OLD)]).wrap(data_key, context=CONTEXT)

    rotating = KeyRing([("new", NEW), ("old", OLD)])
    assert rotating.active_id == "new"
    assert rotating.ids == ["new", "old"]
    assert rotating.unwrap(old_wrapped, context=CONTEXT) == data_key  # old key still unwraps
    rewrapped = rotating.rewrap(old_wrapped, context=CONTEXT)
    assert KeyRing.wrapped_key_id(rewrapped) == "new"
    assert rotating.unwrap(rewrapped, context=CONTEXT) == data_key
    assert KeyRing.wrapped_key_id(rotating.wrap(data_key, context=CONTEXT)) == "new"
    with pytest.raises(IntegrityError):
        rotating.rewrap(old_wrapped, context=b"other")

    retired = KeyRing([("new", NEW)])
    assert retired.unwrap(rewrapped, context=CONTEXT) == data_key
    with pytest.raises(KeyNotFound):
        retired.unwrap(old_wrapped, context=CONTEXT)
    with pytest.raises(KeyNotFound):
        retired.rewrap(old_wrapped, context=CONTEXT)


def test_wrap_rejects_wrong_length_data_key() -> None:
    ring = KeyRing([("old", OLD)])
    with pytest.raises(CryptoError):
        ring.wrap(bytes(16), context=CONTEXT)


def test_spec_round_trip_and_whitespace_tolerance() -> None:
    spec = f"new:{B64_NEW},old:{B64_OLD}"
    ring = KeyRing.from_spec(spec)
    assert ring.ids == ["new", "old"]
    assert ring.active_id == "new"
    assert ring.to_spec() == spec
    messy = f"  new : {B64_NEW[:20]}\n  {B64_NEW[20:]} ,\n\told:{B64_OLD.rstrip('=')},\n"
    assert KeyRing.from_spec(messy).to_spec() == spec
    wrapped = ring.wrap(new_data_key(), context=CONTEXT)
    assert KeyRing.from_spec(messy).unwrap(wrapped, context=CONTEXT)


def test_generate_spec() -> None:
    spec = KeyRing.generate_spec()
    ring = KeyRing.from_spec(spec)
    assert re.fullmatch(r"k[0-9a-f]{8}", ring.active_id)
    assert len(ring.ids) == 1
    assert KeyRing.generate_spec() != spec
    assert KeyRing.from_spec(KeyRing.generate_spec("kek-2025_a")).ids == ["kek-2025_a"]
    with pytest.raises(KeySpecError):
        KeyRing.generate_spec("bad id")


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "   \n ",
        ",",
        B64_OLD,  # no id: the message must not echo the key
        f":{B64_OLD}",
        "old:",
        "old:!!!notbase64!!!",
        "old:" + base64.b64encode(b"\xfb" * 32).decode(),  # standard (not URL-safe) alphabet
        "old:" + base64.urlsafe_b64encode(bytes(16)).decode(),
        "old:" + base64.urlsafe_b64encode(bytes(33)).decode(),
        f"old:{B64_OLD},old:{B64_NEW}",
        f"bad.id:{B64_OLD}",
        f"{'x' * 33}:{B64_OLD}",
        f"old:{B64_OLD}:{B64_NEW}",
    ],
    ids=[
        "empty",
        "blank",
        "comma",
        "no-id",
        "empty-id",
        "empty-key",
        "bad-b64",
        "std-b64",
        "short",
        "long",
        "duplicate",
        "bad-id",
        "long-id",
        "extra-colon",
    ],
)
def test_bad_specs_raise_clear_errors_without_key_material(spec: str) -> None:
    with pytest.raises(KeySpecError) as excinfo:
        KeyRing.from_spec(spec)
    message = str(excinfo.value)
    assert message
    for secret in (B64_OLD, B64_OLD.rstrip("="), B64_NEW, B64_NEW.rstrip("="), OLD.hex(), NEW.hex()):
        assert secret not in message
    assert isinstance(excinfo.value, CryptoError)
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    "keys",
    [
        [],
        [("old", OLD), ("old", NEW)],
        [("old", bytes(31))],
        [("", OLD)],
        [("a.b", OLD)],
        [("old", "x" * 32)],
    ],
    ids=["empty", "duplicate", "short-key", "empty-id", "dotted-id", "str-key"],
)
def test_constructor_validates(keys: list[tuple[str, bytes]]) -> None:
    with pytest.raises(KeySpecError) as excinfo:
        KeyRing(keys)
    assert OLD.hex() not in str(excinfo.value)


def test_no_key_material_in_repr_or_errors() -> None:
    ring = KeyRing([("old", OLD), ("new", NEW)])
    text = repr(ring) + str(ring)
    for secret in (B64_OLD, B64_NEW, OLD.hex(), NEW.hex(), repr(OLD), repr(NEW)):
        assert secret not in text
    data_key = new_data_key()
    wrapped = ring.wrap(data_key, context=CONTEXT)
    errors: list[Exception] = []
    for call in (
        lambda: ring.unwrap(wrapped, context=b"wrong"),
        lambda: KeyRing([("other", NEW)]).unwrap(wrapped, context=CONTEXT),
        lambda: _open(_seal(b"secret plaintext"), aad=b"wrong"),
        lambda: _open(_seal(b"secret plaintext"), key=data_key),
        lambda: seal(data_key[:16], b"secret plaintext", aad=AAD),
    ):
        with pytest.raises(CryptoError) as excinfo:
            call()
        errors.append(excinfo.value)
    for error in errors:
        text = str(error) + repr(error)
        for secret in (data_key.hex(), repr(data_key), repr(data_key[:16]), OLD.hex(), "secret plaintext"):
            assert secret not in text
        # No chained exception (e.g. from the underlying library) should surface in tracebacks.
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__


# ---------------------------------------------------------------------------------------------- memory

STREAM_BYTES = 64 * 1024 * 1024
MEMORY_BUDGET = 8 * 1024 * 1024


class _LazySource:
    """File-like source that generates its bytes on demand, so the test itself holds no big buffer."""

    def __init__(self, total: int) -> None:
        self.remaining = total

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.remaining
        size = min(size, self.remaining)
        self.remaining -= size
        return bytes(size)


class _DiscardSink:
    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        return len(data)


def _peak_over_baseline(action) -> int:
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        action()
        return tracemalloc.get_traced_memory()[1] - baseline
    finally:
        if started:
            tracemalloc.stop()


def test_seal_stream_memory_is_bounded() -> None:
    key = new_data_key()
    sink = _DiscardSink()
    result: list[tuple[int, int]] = []
    peak = _peak_over_baseline(
        lambda: result.append(seal_stream(key, _LazySource(STREAM_BYTES), sink, aad=AAD))  # type: ignore[arg-type]
    )
    assert result == [(STREAM_BYTES, sealed_size(STREAM_BYTES))]
    assert sink.written == sealed_size(STREAM_BYTES)
    assert peak < MEMORY_BUDGET, f"peak {peak / 2**20:.1f} MiB"


def test_open_stream_memory_is_bounded(tmp_path) -> None:
    key = new_data_key()
    path = tmp_path / "sealed.bin"
    with path.open("wb") as dst:
        seal_stream(key, _LazySource(STREAM_BYTES), dst, aad=AAD)  # type: ignore[arg-type]
    assert path.stat().st_size == sealed_size(STREAM_BYTES)
    total = [0]

    def consume() -> None:
        with path.open("rb") as src:
            for chunk in open_stream(key, src, aad=AAD):
                total[0] += len(chunk)

    peak = _peak_over_baseline(consume)
    assert total[0] == STREAM_BYTES
    assert peak < MEMORY_BUDGET, f"peak {peak / 2**20:.1f} MiB"


# --- derive_item_key ------------------------------------------------------------------------------


def test_item_key_matches_an_rfc5869_hkdf_computed_independently():
    import hashlib
    import hmac

    keys = [bytes(range(32)), bytes(range(32, 64))]
    item_id = bytes(range(16))
    # RFC 5869 by hand with hmac: extract then one expand block (32 bytes = one SHA-256 block).
    prk = hmac.new(b"dsr-item-key-v1", b"".join(keys), hashlib.sha256).digest()
    expected = hmac.new(prk, item_id + b"\x01", hashlib.sha256).digest()
    assert crypto.derive_item_key(keys, item_id=item_id) == expected


def test_item_key_needs_every_holder_key_and_differs_per_item():
    a, b = crypto.new_data_key(), crypto.new_data_key()
    both = crypto.derive_item_key([a, b], item_id=b"item-1")
    assert both != crypto.derive_item_key([a], item_id=b"item-1")
    assert both != crypto.derive_item_key([b], item_id=b"item-1")
    assert both != crypto.derive_item_key([a, b], item_id=b"item-2")
    assert both == crypto.derive_item_key([a, b], item_id=b"item-1")


def test_item_key_refuses_bad_input():
    with pytest.raises(crypto.CryptoError):
        crypto.derive_item_key([], item_id=b"x")
    with pytest.raises(crypto.CryptoError):
        crypto.derive_item_key([b"short"], item_id=b"x")
