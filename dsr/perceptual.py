"""Perceptual hashes for finding copies of a depiction: PDQ for images, PDQ of frames sampled about once a
second for animations and videos (the way Meta's vPDQ does), and an in-memory index that compares one hash
against a million in a few milliseconds.

PDQ (Meta's open-source algorithm, the family StopNCII and Ofcom's codes point to) turns a picture into 256 bits
that barely change when the picture is re-encoded, resized, lightly cropped or bordered; two pictures are "the
same" when their Hamming distance is at most about 31 (Meta's guidance, ``DSR_TAKEDOWN_MATCH_DISTANCE``). A
hash's *quality* (0-100) says how much structure the picture had: a flat or nearly flat picture hashes to
near-identical bits whatever it shows, so hashes below ``MIN_QUALITY`` are stored but never matched.

Speed: PDQ's own first step blurs the picture down to 64 x 64, so hashing a 12-megapixel photo at full size only
burns time (about 3.7 s). ``hash_image`` first shrinks it with Pillow's box ``reduce`` to about 512 pixels on the
long side (about 15 ms in all for 12 MP; bench/takedown.py measures it) and hashes that.

Like dsr/images.py this module knows nothing of Django, so it can be tested and benchmarked alone.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageSequence

__all__ = ["Hash", "FrameHash", "HashIndex", "hash_image", "hash_content", "hamming", "NotHashable"]

MIN_QUALITY = 50  # Meta's PDQ guidance: below 50 the hash says little about the picture
HASH_SIDE = 512  # pixels on the long side before PDQ; PDQ itself works on 64 x 64
MAX_FRAMES = 900  # a quarter of an hour at one frame a second
MAX_FRAME_PIXELS = 40_000_000
MAX_DECODED_FRAMES = 30 * 60 * 20  # stop decoding a video after this many frames (20 min at 30 fps)

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/apng"})
VIDEO_TYPES = frozenset({"video/mp4", "video/webm", "video/quicktime", "video/x-matroska"})


class NotHashable(ValueError):
    """Content that cannot be hashed (not a picture or video dsr can decode, or beyond the limits). The message
    names the reason, never the content."""


@dataclass(frozen=True)
class Hash:
    """256 PDQ bits as four unsigned 64-bit words (first bit most significant), with PDQ's quality."""

    words: tuple[int, int, int, int]
    quality: int

    @classmethod
    def from_bits(cls, bits: np.ndarray, quality: int) -> Hash:
        packed = np.packbits(np.asarray(bits, dtype=np.uint8).reshape(-1)[:256])
        words = np.frombuffer(packed.tobytes(), dtype=">u8")
        return cls(tuple(int(w) for w in words), int(quality))  # type: ignore[arg-type]

    @classmethod
    def from_hex(cls, text: str, quality: int = 100) -> Hash:
        if len(text) != 64:
            raise ValueError("a PDQ hash is 64 hex digits")
        return cls(tuple(int(text[i:i + 16], 16) for i in range(0, 64, 16)), quality)  # type: ignore[arg-type]

    @classmethod
    def from_signed(cls, words: Iterable[int], quality: int) -> Hash:
        """From the four signed 64-bit integers a database column stores."""
        return cls(tuple(w & 0xFFFFFFFFFFFFFFFF for w in words), quality)  # type: ignore[arg-type]

    @property
    def hex(self) -> str:
        return "".join(f"{w:016x}" for w in self.words)

    @property
    def signed(self) -> tuple[int, int, int, int]:
        """The words as signed 64-bit integers (PostgreSQL and SQLite have no unsigned bigint)."""
        return tuple(w - (1 << 64) if w >= (1 << 63) else w for w in self.words)  # type: ignore[return-value]

    @property
    def matchable(self) -> bool:
        return self.quality >= MIN_QUALITY


@dataclass(frozen=True)
class FrameHash:
    """The hash of the frame shown at ``at_ms`` milliseconds (0 for a still picture)."""

    at_ms: int
    hash: Hash


def hamming(a: Hash, b: Hash) -> int:
    return sum((x ^ y).bit_count() for x, y in zip(a.words, b.words, strict=True))


def _pdq(rgb: np.ndarray) -> Hash:
    import pdqhash  # compiled extension; imported here so modules importing this one start fast

    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
    return Hash.from_bits(bits, quality)


def _shrunk_rgb(im: Image.Image) -> Image.Image:
    """The picture at about HASH_SIDE pixels on its long side, as RGB (alpha dropped, palettes expanded)."""
    factor = max(im.size) // HASH_SIDE
    if factor > 1:
        im = im.reduce(factor)  # box filter in C: ~13 ms for 12 MP, and PDQ blurs far more than this anyway
    if im.mode != "RGB":
        im = im.convert("RGB")
    return im


def hash_image(im: Image.Image) -> Hash:
    """The PDQ hash of a decoded picture (the sanitiser passes the upright, sRGB pixels it already has)."""
    return _pdq(np.asarray(_shrunk_rgb(im)))


def hash_content(data: bytes, content_type: str) -> list[FrameHash]:
    """Hashes of stored content: one for a still picture; one per second of an animation or a video. Raises
    NotHashable for anything else (an embedding, JSON, a damaged file)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in IMAGE_TYPES:
        return _hash_picture_file(data)
    if kind in VIDEO_TYPES or kind.startswith("video/"):
        return _hash_video(data)
    raise NotHashable(f"content of type {kind or 'unknown'} has no perceptual hash")


def _hash_picture_file(data: bytes) -> list[FrameHash]:
    try:
        im = Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "WEBP", "GIF"])
        if im.size[0] * im.size[1] > MAX_FRAME_PIXELS:
            raise NotHashable("the picture has too many pixels to hash")
        if getattr(im, "n_frames", 1) <= 1:
            im.load()
            return [FrameHash(0, hash_image(im))]
        return list(_sample_animation(im))
    except NotHashable:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise NotHashable("the picture could not be decoded") from exc


def _sample_animation(im: Image.Image) -> Iterator[FrameHash]:
    """The frame on screen at 0 s, 1 s, 2 s … of an animated GIF, WebP or PNG (frame durations from the file)."""
    elapsed = 0.0
    next_sample = 0.0
    taken = 0
    for frame in ImageSequence.Iterator(im):
        end = elapsed + float(frame.info.get("duration") or 100) / 1000.0
        if next_sample < end:  # this frame is on screen at the next whole second: hash it once
            yield FrameHash(int(round(next_sample * 1000)), hash_image(frame))
            taken += 1
            if taken >= MAX_FRAMES:
                return
            next_sample = max(next_sample + 1.0, float(math.ceil(end)))
        elapsed = end


def _hash_video(data: bytes) -> list[FrameHash]:
    """PDQ of the first frame at or after each whole second, as vPDQ samples (PyAV's bundled FFmpeg decodes)."""
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a dependency; kept for a stripped-down install
        raise NotHashable("video decoding (PyAV) is not installed") from exc
    out: list[FrameHash] = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise NotHashable("the file has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            width, height = stream.codec_context.width, stream.codec_context.height
            if width * height > MAX_FRAME_PIXELS:
                raise NotHashable("the video frames have too many pixels to hash")
            next_sample = 0.0
            decoded = 0
            for frame in container.decode(stream):
                decoded += 1
                if decoded > MAX_DECODED_FRAMES:
                    break
                at = float(frame.time) if frame.time is not None else decoded / 25.0
                if at + 1e-6 < next_sample and out:
                    continue
                scale = max(frame.width, frame.height) / HASH_SIDE
                w, h = (max(1, round(frame.width / scale)), max(1, round(frame.height / scale))) if scale > 1 \
                    else (frame.width, frame.height)
                rgb = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
                out.append(FrameHash(int(round(at * 1000)), _pdq(rgb)))
                if len(out) >= MAX_FRAMES:
                    break
                next_sample = math.floor(at) + 1.0
    except NotHashable:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:  # type: ignore[attr-defined]
        raise NotHashable("the video could not be decoded") from exc
    if not out:
        raise NotHashable("the video has no decodable frame")
    return out


# --- the index ------------------------------------------------------------------------------------------------


class HashIndex:
    """Many hashes held column-major as uint64 (four arrays of N), so one query is four XORs, four popcounts
    and a sum over contiguous memory: about 3 ms for a million hashes on one core (bench/takedown.py).

    Rows carry an integer key (the database row id); appending is amortised O(1). Removing is not supported:
    callers re-check the keys a query returns against the database (a row deleted since loading is dropped
    there) and rebuild the index from time to time.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._words = np.zeros((4, max(capacity, 16)), dtype=np.uint64)
        self._keys = np.zeros(max(capacity, 16), dtype=np.int64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def _grow(self, wanted: int) -> None:
        if wanted <= self._keys.shape[0]:
            return
        size = max(wanted, self._keys.shape[0] * 2)
        words = np.zeros((4, size), dtype=np.uint64)
        words[:, : self._n] = self._words[:, : self._n]
        keys = np.zeros(size, dtype=np.int64)
        keys[: self._n] = self._keys[: self._n]
        self._words, self._keys = words, keys

    def add(self, key: int, h: Hash) -> None:
        self._grow(self._n + 1)
        self._words[:, self._n] = h.words
        self._keys[self._n] = key
        self._n += 1

    def add_many(self, keys: np.ndarray, words: np.ndarray) -> None:
        """``keys``: int64 (N,); ``words``: (N, 4) of uint64 or of signed int64 as stored in a database."""
        n = len(keys)
        if n == 0:
            return
        self._grow(self._n + n)
        self._words[:, self._n : self._n + n] = np.asarray(words).astype(np.int64).view(np.uint64).T
        self._keys[self._n : self._n + n] = keys
        self._n += n

    @property
    def max_key(self) -> int:
        return int(self._keys[: self._n].max()) if self._n else 0

    def query(self, h: Hash, max_distance: int) -> list[tuple[int, int]]:
        """(key, distance) of every held hash within ``max_distance`` bits, nearest first."""
        if self._n == 0:
            return []
        n = self._n
        q = np.array(h.words, dtype=np.uint64)
        dist = np.bitwise_count(self._words[0, :n] ^ q[0]).astype(np.uint16)
        for k in range(1, 4):
            dist += np.bitwise_count(self._words[k, :n] ^ q[k])
        hits = np.flatnonzero(dist <= max_distance)
        order = hits[np.argsort(dist[hits], kind="stable")]
        return [(int(self._keys[i]), int(dist[i])) for i in order]
