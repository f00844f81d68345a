"""Test data builders: subjects, and real image files carrying hostile metadata."""

from __future__ import annotations

import io
import random
import struct
from datetime import UTC, datetime

from PIL import Image, ImageCms

from dsr import vault
from dsr.models import Holding, Subject

T0 = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)


def subject(email: str | None = None, *, account_id: str | None = None, now: datetime = T0, **kw) -> Subject:
    if email is None and account_id is None:
        email = f"user{random.randrange(10**9)}@example.com"
    return vault.create_subject(actor="test", now=now, email=email, account_id=account_id, **kw)


def noise_image(width: int = 640, height: int = 480, seed: int = 1, mode: str = "RGB") -> Image.Image:
    rnd = random.Random(seed)
    data = bytes(rnd.getrandbits(8) for _ in range(width * height * len(mode)))
    return Image.frombytes(mode, (width, height), data)


def jpeg_bytes(img: Image.Image | None = None, **save_kw) -> bytes:
    buf = io.BytesIO()
    (img or noise_image()).save(buf, "JPEG", quality=92, **save_kw)
    return buf.getvalue()


def png_bytes(img: Image.Image | None = None, **save_kw) -> bytes:
    buf = io.BytesIO()
    (img or noise_image()).save(buf, "PNG", **save_kw)
    return buf.getvalue()


GPS_CANARY = "CANARY-EXIF-GPS-7731"
COMMENT_CANARY = b"CANARY-JPEG-COMMENT-5512"
XMP_CANARY = b"CANARY-XMP-8842"
IPTC_CANARY = b"CANARY-IPTC-1195"


def hostile_jpeg(width: int = 400, height: int = 300) -> bytes:
    """A JPEG with EXIF (incl. GPS), XMP, IPTC, an ICC profile and a COM comment, each with a canary."""
    img = noise_image(width, height, seed=7)
    exif = Image.Exif()
    exif[0x010E] = GPS_CANARY  # ImageDescription
    exif[0x010F] = "CanaryCam"  # Make
    gps = {1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.25)}
    exif[0x8825] = gps
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b"<rdf:Description>" + XMP_CANARY + b"</rdf:Description></rdf:RDF></x:xmpmeta>")
    raw = jpeg_bytes(img, exif=exif.tobytes(), icc_profile=icc, comment=COMMENT_CANARY, xmp=xmp)
    return _insert_iptc(raw)


def _insert_iptc(jpeg: bytes) -> bytes:
    """Add an APP13 Photoshop/IPTC segment with a caption record right after SOI."""
    record = b"\x1c\x02\x78" + struct.pack(">H", len(IPTC_CANARY)) + IPTC_CANARY  # 2:120 caption
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(record)) + record
    payload = b"Photoshop 3.0\x00" + resource
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def jpeg_markers(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, first bytes of payload) for every segment before the image data."""
    assert data[:2] == b"\xff\xd8"
    out, i = [], 2
    while i < len(data) - 4:
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            out.append((marker, b""))
            break
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        out.append((marker, data[i + 4 : i + 4 + min(32, length - 2)]))
        i += 2 + length
    return out


def bomb_png(side: int = 10_000) -> bytes:
    """A 100-megapixel PNG of a few kilobytes."""
    buf = io.BytesIO()
    Image.new("1", (side, side), 0).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def photo_item(owner: Subject, *, depicted: list[Subject] = (), now: datetime = T0, seed: int = 1):
    holders = [(owner, Holding.Role.OWNER)] + [(d, Holding.Role.DEPICTED) for d in depicted]
    return vault.store_item(
        vault.NewItem(category="photo", purpose="photo_generation", holders=holders,
                      content=jpeg_bytes(noise_image(320, 240, seed=seed)), content_type="image/jpeg"),
        actor="test", now=now,
    )


def derived_item(parents, *, category: str = "generated_video", now: datetime = T0, content: bytes = b"video-bytes"):
    return vault.store_item(
        vault.NewItem(category=category, purpose="photo_generation", holders=[], derived_from=list(parents),
                      content=content, content_type="video/mp4"),
        actor="test", now=now,
    )


# --- pictures with structure (perceptual hashing needs more than noise: tests/test_takedowns.py) -------------


def scene_image(width: int = 1024, height: int = 768, seed: int = 1) -> Image.Image:
    """A photo-like picture: a gradient with blurred shapes. Noise has no structure for PDQ to keep."""
    from PIL import ImageDraw, ImageFilter

    rnd = random.Random(seed)
    im = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(25):
        x0, y0 = rnd.randrange(width), rnd.randrange(height)
        x1, y1 = x0 + rnd.randrange(40, width // 2), y0 + rnd.randrange(40, height // 2)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        (draw.ellipse if rnd.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return im.filter(ImageFilter.GaussianBlur(3))


def reencoded(data: bytes) -> bytes:
    """The acceptance's re-encoding of a removed photo: resized to 90 %, a 1 px border, JPEG quality 70."""
    from PIL import ImageOps

    im = Image.open(io.BytesIO(data)).convert("RGB")
    im = im.resize((int(im.width * 0.9), int(im.height * 0.9)), Image.LANCZOS)
    im = ImageOps.expand(im, border=1, fill="black")
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def mp4_bytes(frames: list[Image.Image], fps: int = 10) -> bytes:
    """A real H.264 MP4 (PyAV's bundled FFmpeg) showing ``frames`` at ``fps``."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].width, frames[0].height
        stream.pix_fmt = "yuv420p"
        for im in frames:
            for packet in stream.encode(av.VideoFrame.from_image(im.convert("RGB"))):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()
