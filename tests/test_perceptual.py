"""Perceptual hashes (dsr/perceptual.py): PDQ of pictures, of an animation's and a video's frames once a second,
and the in-memory index."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from dsr import perceptual
from dsr.perceptual import FrameHash, Hash, HashIndex, NotHashable
from tests.factories import jpeg_bytes, mp4_bytes, png_bytes, reencoded, scene_image


def _hash(data: bytes) -> Hash:
    return perceptual.hash_content(data, "image/jpeg")[0].hash


def test_a_reencoded_resized_bordered_copy_stays_within_the_match_distance_and_another_picture_does_not():
    for seed in (1, 2, 3):
        original = jpeg_bytes(scene_image(seed=seed))
        own = _hash(original)
        assert own.quality >= perceptual.MIN_QUALITY
        assert perceptual.hamming(own, _hash(reencoded(original))) <= 16
        assert perceptual.hamming(own, _hash(jpeg_bytes(scene_image(seed=seed + 50)))) > 31


def test_a_12_megapixel_photo_hashes_like_its_small_version():
    big = scene_image(4000, 3000, seed=9)
    small = big.resize((800, 600), Image.LANCZOS)
    assert perceptual.hamming(perceptual.hash_image(big), perceptual.hash_image(small)) <= 16


def test_a_flat_picture_gets_a_low_quality_hash_that_never_matches():
    flat = perceptual.hash_content(png_bytes(Image.new("RGB", (300, 200), "white")), "image/png")[0].hash
    assert not flat.matchable


def test_hex_and_signed_forms_round_trip():
    h = _hash(jpeg_bytes(scene_image(seed=4)))
    assert len(h.hex) == 64
    assert Hash.from_hex(h.hex, h.quality) == h
    assert Hash.from_signed(h.signed, h.quality) == h
    assert all(-(1 << 63) <= w < (1 << 63) for w in h.signed)


def test_an_animation_is_sampled_once_a_second_from_its_frame_durations():
    frames = [scene_image(320, 240, seed=s) for s in range(5)]
    buf = io.BytesIO()
    # shown 0-0.4 s, 0.4-1.1 s, 1.1-2.6 s, 2.6-2.8 s, 2.8-3.7 s
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=[400, 700, 1500, 200, 900], loop=0)
    sampled = perceptual.hash_content(buf.getvalue(), "image/gif")
    # On screen at 0 s: frame 0; at 1 s: frame 1; at 2 s: frame 2 (again at 2 s, hashed once); at 3 s: frame 4.
    assert [f.at_ms for f in sampled] == [0, 1000, 2000, 3000]
    single = [perceptual.hash_image(frames[i].convert("P").convert("RGB")) for i in (0, 1, 2, 4)]
    assert all(perceptual.hamming(a.hash, b) <= 16 for a, b in zip(sampled, single, strict=True))


def test_a_video_is_sampled_at_the_first_frame_of_every_second():
    scenes = [scene_image(320, 240, seed=s) for s in (11, 12, 13)]
    frames = [scenes[min(i // 10, 2)] for i in range(30)]  # 3 s at 10 fps, a new scene every second
    sampled = perceptual.hash_content(mp4_bytes(frames), "video/mp4")
    assert [f.at_ms for f in sampled] == [0, 1000, 2000]
    for got, scene in zip(sampled, scenes, strict=True):
        assert perceptual.hamming(got.hash, perceptual.hash_image(scene)) <= 31


@pytest.mark.parametrize(("data", "kind"), [(b"video-bytes", "video/mp4"), (b"\x89PNG\r\n\x1a\nbroken", "image/png"),
                                            (b"[0.1, 0.2]", "application/json")])
def test_content_that_is_not_a_picture_or_video_is_not_hashable(data, kind):
    with pytest.raises(NotHashable):
        perceptual.hash_content(data, kind)


def test_the_index_finds_exactly_what_a_brute_force_comparison_finds():
    rnd = random.Random(5)
    index = HashIndex(capacity=4)  # grows as rows arrive
    held = []
    for key in range(1, 3001):
        h = Hash(tuple(rnd.getrandbits(64) for _ in range(4)), 100)
        held.append((key, h))
        index.add(key, h)
    query = held[1234][1]
    near = Hash((query.words[0] ^ 0b1011, *query.words[1:]), 100)  # 3 bits away
    index.add(9999, near)
    held.append((9999, near))
    expected = sorted(((k, perceptual.hamming(h, query)) for k, h in held if perceptual.hamming(h, query) <= 31),
                      key=lambda p: p[1])
    assert index.query(query, 31) == expected == [(1235, 0), (9999, 3)]


def test_the_index_takes_rows_as_a_database_returns_them():
    h = _hash(jpeg_bytes(scene_image(seed=6)))
    index = HashIndex()
    index.add_many(np.array([7], dtype=np.int64), np.array([h.signed], dtype=np.int64))
    assert index.query(h, 0) == [(7, 0)]
    assert index.max_key == 7


def test_frame_hash_keeps_its_instant():
    h = _hash(jpeg_bytes(scene_image(seed=7)))
    assert FrameHash(2000, h).at_ms == 2000
