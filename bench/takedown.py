"""Takedown desk figures (issue 13): matching one PDQ hash against 1,000,000 held ones, and the cost of hashing a
12-megapixel photo on top of sanitising it.

1. Match: a table shaped like dsr_itemhash (id, four bigint words, quality) is filled with N random hashes in a
   scratch PostgreSQL database (dsr_bench_takedown), loaded into dsr.perceptual.HashIndex the way dsr/copies.py
   loads it, and one query — a re-encoded copy of a held picture — is matched against all of them (goal < 50 ms).
   Without PostgreSQL (BENCH_PG unreachable) the index is filled in memory only.
2. Ingest: dsr.images.sanitise_image on a 12-MP JPEG, with and without the PDQ hash of its clean pixels
   (goal: < 30 ms more).

    .venv/bin/python bench/takedown.py [N]        (default 1000000)
"""

from __future__ import annotations

import io
import os
import random
import statistics
import sys
import time
from pathlib import Path

# bench/queue.py would shadow the standard library's queue module that psycopg imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter, ImageOps  # noqa: E402

from dsr import images, perceptual  # noqa: E402
from dsr.perceptual import Hash, HashIndex  # noqa: E402

ADMIN = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
DB = "dsr_bench_takedown"
DISTANCE = 31


def scene(width: int, height: int, seed: int) -> Image.Image:
    rnd = random.Random(seed)
    im = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(40):
        x0, y0 = rnd.randrange(width), rnd.randrange(height)
        x1, y1 = x0 + rnd.randrange(40, width // 2), y0 + rnd.randrange(40, height // 2)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        (draw.ellipse if rnd.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return im.filter(ImageFilter.GaussianBlur(4))


def jpeg(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def reencoded(im: Image.Image) -> Image.Image:
    small = im.resize((int(im.width * 0.9), int(im.height * 0.9)), Image.LANCZOS)
    return Image.open(io.BytesIO(jpeg(ImageOps.expand(small, border=1, fill="black"), 70)))


def timed(fn, repeat: int) -> list[float]:  # noqa: ANN001
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def load_from_postgres(n: int, planted: Hash) -> tuple[HashIndex, float, float] | None:
    try:
        import psycopg
    except ImportError:
        return None
    try:
        with psycopg.connect(ADMIN, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DB}")
            admin.execute(f"CREATE DATABASE {DB}")
    except psycopg.OperationalError:
        return None
    url = ADMIN.rsplit("/", 1)[0] + "/" + DB
    rng = np.random.default_rng(1)
    words = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=(n, 4), dtype=np.int64)
    words[n // 2] = planted.signed
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE itemhash (id bigserial PRIMARY KEY, h0 bigint NOT NULL, h1 bigint NOT NULL, "
                         "h2 bigint NOT NULL, h3 bigint NOT NULL, quality smallint NOT NULL)")
            start = time.perf_counter()
            with conn.cursor() as cur, cur.copy("COPY itemhash (h0, h1, h2, h3, quality) FROM STDIN") as copy:
                for row in words:
                    copy.write_row((int(row[0]), int(row[1]), int(row[2]), int(row[3]), 100))
            fill = time.perf_counter() - start
            start = time.perf_counter()
            with conn.cursor() as cur:  # what dsr/copies.py runs when it builds its index
                cur.execute("SELECT id, h0, h1, h2, h3 FROM itemhash WHERE id > %s AND quality >= %s ORDER BY id",
                            [0, perceptual.MIN_QUALITY])
                rows = np.array(cur.fetchall(), dtype=np.int64).reshape(-1, 5)
            index = HashIndex()
            index.add_many(rows[:, 0], rows[:, 1:])
            load = time.perf_counter() - start
        return index, fill, load
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DB}")


def main(n: int) -> None:
    print(f"dsr takedown bench — numpy {np.__version__}, {os.cpu_count()} CPUs")
    held_picture = scene(1024, 768, seed=3)
    planted = perceptual.hash_image(held_picture)
    query = perceptual.hash_image(reencoded(held_picture))
    print("planted picture vs its re-encoded copy (q70, 90 %, 1 px border): distance "
          f"{perceptual.hamming(planted, query)}")

    loaded = load_from_postgres(n, planted)
    if loaded is None:
        print("PostgreSQL not reachable: index filled in memory only")
        rng = np.random.default_rng(1)
        words = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=(n, 4), dtype=np.int64)
        words[n // 2] = planted.signed
        index = HashIndex()
        index.add_many(np.arange(1, n + 1, dtype=np.int64), words)
    else:
        index, fill, load = loaded
        print(f"{n:,} hashes written to PostgreSQL in {fill:.1f} s; loaded into the index in {load:.2f} s "
              f"({index._words.nbytes / 2**20:.0f} MiB)")
    hits = index.query(query, DISTANCE)
    assert hits and hits[0][1] <= DISTANCE, "the planted copy was not found"
    runs = timed(lambda: index.query(query, DISTANCE), 30)
    print(f"match one hash against {len(index):,}: median {statistics.median(runs):.1f} ms, "
          f"max {max(runs):.1f} ms (goal < 50 ms); hits within {DISTANCE}: {len(hits)} (the planted copy at "
          f"distance {hits[0][1]})")

    # A phone-like 12-MP photo: structure plus sensor-like noise (a 3-4 MiB JPEG, like a real one).
    noisy = np.asarray(scene(4000, 3000, seed=5), dtype=np.int16) + np.random.default_rng(2).integers(
        -12, 13, size=(3000, 4000, 3), dtype=np.int16)
    photo = jpeg(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)), 92)
    limits = images.ImageLimits()
    images.sanitise_image(io.BytesIO(photo), limits, hash_pixels=perceptual.hash_image)  # warm up
    plain, hashed = [], []
    for _ in range(7):  # interleaved, so both see the same machine load
        plain += timed(lambda: images.sanitise_image(io.BytesIO(photo), limits), 1)
        hashed += timed(lambda: images.sanitise_image(io.BytesIO(photo), limits,
                                                      hash_pixels=perceptual.hash_image), 1)
    pixels = Image.open(io.BytesIO(photo))
    pixels.load()
    pixels = pixels.convert("RGB")
    alone = timed(lambda: perceptual.hash_image(pixels), 7)
    print(f"12-MP JPEG ({len(photo) / 2**20:.1f} MiB): sanitise median {statistics.median(plain):.0f} ms, "
          f"sanitise + PDQ median {statistics.median(hashed):.0f} ms -> overhead "
          f"{statistics.median(hashed) - statistics.median(plain):.1f} ms; PDQ of the decoded pixels alone "
          f"median {statistics.median(alone):.1f} ms, min {min(alone):.1f} ms (goal < 30 ms)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
