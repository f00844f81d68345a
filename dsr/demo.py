"""Demo data for `make run`: people, photos, derived items across two subjects, consents, staff."""

from __future__ import annotations

import io
import math
import random
import struct
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from PIL import Image, ImageDraw, ImageFilter

from dsr import vault
from dsr.models import Holding, Subject

DEMO_OPERATOR = ("operator", "operator-demo-pass")
DEMO_MARKER_EMAIL = "ana.demo@example.com"


def portrait(seed: int, size: tuple[int, int] = (640, 800)) -> bytes:
    """A synthetic 'portrait': a gradient background and a stylised face, so nothing real is used."""
    rnd = random.Random(seed)
    w, h = size
    bg1 = tuple(rnd.randrange(60, 200) for _ in range(3))
    bg2 = tuple(rnd.randrange(60, 200) for _ in range(3))
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    for y in range(h):
        t = y / h
        draw.line([(0, y), (w, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(bg1, bg2, strict=True)))
    skin = rnd.choice([(241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172)])
    cx, cy = w // 2, int(h * 0.42)
    draw.ellipse([cx - 170, cy - 220, cx + 170, cy + 220], fill=skin)
    hair = tuple(rnd.randrange(10, 120) for _ in range(3))
    draw.pieslice([cx - 185, cy - 250, cx + 185, cy + 120], 180, 360, fill=hair)
    for dx in (-70, 70):
        draw.ellipse([cx + dx - 25, cy - 40, cx + dx + 25, cy], fill="white")
        draw.ellipse([cx + dx - 10, cy - 30, cx + dx + 10, cy - 10], fill=(40, 30, 20))
    draw.arc([cx - 70, cy + 60, cx + 70, cy + 140], 20, 160, fill=(150, 40, 50), width=8)
    draw.rectangle([cx - 210, cy + 230, cx + 210, h], fill=tuple(rnd.randrange(0, 255) for _ in range(3)))
    img = img.filter(ImageFilter.SMOOTH)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88)
    return buf.getvalue()


def thumbnail(jpeg: bytes) -> bytes:
    img = Image.open(io.BytesIO(jpeg))
    img.thumbnail((160, 160))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def embedding(seed: int, dims: int = 512) -> bytes:
    rnd = random.Random(seed)
    vec = [rnd.gauss(0, 1) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in vec))
    return struct.pack(f"<{dims}f", *(v / norm for v in vec))


def short_video(a: bytes, b: bytes, frames: int = 12) -> bytes:
    """A short animated WebP cross-fading the two portraits (stands in for the generated clip)."""
    ia = Image.open(io.BytesIO(a)).convert("RGB").resize((320, 400))
    ib = Image.open(io.BytesIO(b)).convert("RGB").resize((320, 400))
    seq = [Image.blend(ia, ib, i / (frames - 1)) for i in range(frames)]
    buf = io.BytesIO()
    seq[0].save(buf, "WEBP", save_all=True, append_images=seq[1:], duration=120, loop=0, quality=70)
    return buf.getvalue()


PEOPLE = [
    ("ana.demo@example.com", "acct-1001", Subject.Kind.ACCOUNT_HOLDER),
    ("ben.demo@example.com", "acct-1002", Subject.Kind.ACCOUNT_HOLDER),
    ("chloe.demo@example.com", "acct-1003", Subject.Kind.ACCOUNT_HOLDER),
    ("dara.demo@example.com", None, Subject.Kind.DEPICTED),
    ("eli.demo@example.com", "acct-1005", Subject.Kind.ACCOUNT_HOLDER),
]


def seed(now: datetime) -> dict[str, int]:
    """Create the demo world once. Returns counts; does nothing if it already exists."""
    if Subject.objects.filter(email=DEMO_MARKER_EMAIL).exists():
        return {}
    actor = "system:seed_demo"
    people = [
        vault.create_subject(actor=actor, now=now - timedelta(days=30), email=e, account_id=a, kind=k)
        for e, a, k in PEOPLE
    ]
    photos = {}
    for i, person in enumerate(people):
        raw = portrait(seed=i + 1)
        photo = vault.store_item(
            vault.NewItem(category="photo", purpose="photo_generation", holders=[(person, Holding.Role.OWNER)],
                          content=raw, content_type="image/jpeg", source="upload",
                          attributes={"width": 640, "height": 800, "format": "JPEG"}),
            actor=actor, now=now - timedelta(hours=30 - i),
        )
        photos[person.pk] = (photo, raw)
        vault.record_consent(person, purpose="photo_generation", granted_at=now - timedelta(days=30), actor=actor,
                             now=now - timedelta(days=30), method="in_app", notice_version="2026-01")
        vault.store_item(
            vault.NewItem(category="ip_log", purpose="security", holders=[(person, Holding.Role.OWNER)],
                          content=f'{{"ip": "203.0.113.{10 + i}", "event": "upload"}}'.encode(),
                          content_type="application/json"),
            actor=actor, now=now - timedelta(hours=30 - i),
        )
        vault.store_item(
            vault.NewItem(category="upload_metadata", purpose="service_delivery",
                          holders=[(person, Holding.Role.OWNER)],
                          content=b'{"app_version": "4.2.0", "format": "JPEG", "bytes": 81234}',
                          content_type="application/json"),
            actor=actor, now=now - timedelta(hours=30 - i),
        )
    # Derived items: embeddings and thumbnails per photo, then a 'kissing video' of Ana and Ben, and a
    # video of Chloe with Dara (who has no account and only appears in Chloe's photo).
    embeddings = {}
    for i, (pid, (photo, raw)) in enumerate(photos.items()):
        embeddings[pid] = vault.store_item(
            vault.NewItem(category="face_embedding", purpose="face_matching", holders=[], derived_from=[photo],
                          content=embedding(i), content_type="application/octet-stream",
                          attributes={"model": "facenet-512", "dims": 512}),
            actor=actor, now=now - timedelta(hours=20),
        )
        vault.store_item(
            vault.NewItem(category="thumbnail", purpose="service_delivery", holders=[], derived_from=[photo],
                          content=thumbnail(raw), content_type="image/jpeg"),
            actor=actor, now=now - timedelta(hours=20),
        )
    pairs = [(people[0], people[1]), (people[2], people[3])]
    for a, b in pairs:
        vault.store_item(
            vault.NewItem(category="generated_video", purpose="photo_generation", holders=[],
                          derived_from=[photos[a.pk][0], photos[b.pk][0], embeddings[a.pk], embeddings[b.pk]],
                          content=short_video(photos[a.pk][1], photos[b.pk][1]), content_type="image/webp",
                          attributes={"template": "kiss", "frames": 12}),
            actor=actor, now=now - timedelta(hours=10),
        )
    staff = ensure_staff()
    cases = seed_cases(people, now, staff)
    return {"subjects": len(people), "photos": len(photos), "cases": cases}


DEMO_CASES = [
    # (person index, kind, regimes, days ago, channel)
    (0, "access", ["eu_gdpr"], 40, "web_form"),            # overdue
    (1, "erasure", ["eu_gdpr", "ccpa"], 27, "email"),      # at risk
    (2, "access", ["ccpa"], 12, "api"),
    (3, "erasure", ["eu_gdpr"], 3, "web_form"),            # a depicted person, no account
    (4, "opt_out_sale_sharing", ["ccpa"], 2, "gpc"),
    (0, "rectification", ["uk_gdpr"], 9, "in_app"),
    (1, "direct_marketing_objection", ["eu_gdpr"], 1, "email"),
    (2, "portability", ["eu_gdpr"], 18, "in_app"),
]


def seed_cases(people: list[Subject], now: datetime, operator: User) -> int:
    from dsr import workflow

    created = 0
    for idx, kind, regimes, days_ago, channel in DEMO_CASES:
        received = now - timedelta(days=days_ago, hours=3)
        case, _ = workflow.submit_case(kind=kind, regimes=regimes, subject=people[idx], received_at=received,
                                       channel=channel, actor="system:seed_demo", now=received,
                                       details="Please tell me what you hold about me and where my photos went."
                                       if kind == "access" else "")
        created += 1
        if days_ago in (12, 18):
            workflow.assign_case(case, assignee=operator, actor="system:seed_demo", now=received)
            workflow.verify_identity(case, method="account_reauth", actor=operator, now=received)
    return created


def ensure_staff() -> User:
    from dsr.roles import ensure_roles_and_demo_staff

    return ensure_roles_and_demo_staff(DEMO_OPERATOR)
