"""Tests for dsr.images: hostile uploads are refused, accepted photos come out as pixels only.

Every hostile file is built here from Pillow and raw bytes, so no binary fixture has to be trusted,
reviewed or committed. These tests are pure (no database, no Django settings needed).
"""

from __future__ import annotations

import ast
import io
import random
import struct
import time
import zlib
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageCms, ImageFile, ImageStat

from dsr import images
from dsr.images import ImageLimits, RejectedUpload, SanitisedImage, sanitise_image

# --------------------------------------------------------------------------------------------------
# Helpers: builders and container walkers


def noisy_image(size: tuple[int, int], mode: str = "RGB", seed: int = 1) -> Image.Image:
    """A deterministic image that does not compress well (so truncation hits pixel data)."""
    bands = len(Image.new(mode, (1, 1)).getbands())
    raw = random.Random(seed).randbytes(size[0] * size[1] * bands)
    return Image.frombytes(mode, size, raw)


def photo_like(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A smooth gradient with some structure; JPEG reproduces it well, so pixel diffs are meaningful."""
    w, h = size
    im = Image.new("RGB", size)
    im.putdata([(x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)) for y in range(h) for x in range(w)])
    return im


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def sanitise(data: bytes, limits: ImageLimits | None = None) -> SanitisedImage:
    if limits is None:
        return sanitise_image(io.BytesIO(data))
    return sanitise_image(io.BytesIO(data), limits)


def refused(data: bytes, limits: ImageLimits | None = None) -> RejectedUpload:
    with pytest.raises(RejectedUpload) as info:
        sanitise(data, limits)
    return info.value


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """All (marker, payload) pairs of a JPEG, including those after the first scan.

    Walks the entropy-coded data after each SOS so a COM or APPn hidden between scans would be found.
    """
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    segments: list[tuple[int, bytes]] = [(0xD8, b"")]
    i = 2
    while i < len(data):
        assert data[i] == 0xFF, f"expected a marker at offset {i}"
        while data[i] == 0xFF:  # fill bytes
            i += 1
        marker = data[i]
        i += 1
        if marker == 0xD9:
            segments.append((marker, b""))
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            segments.append((marker, b""))
            continue
        (length,) = struct.unpack(">H", data[i : i + 2])
        segments.append((marker, data[i + 2 : i + length]))
        i += length
        if marker == 0xDA:  # skip entropy-coded data up to the next real marker
            while True:
                j = data.index(b"\xff", i)
                following = data[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    i = j + 2
                    continue
                i = j
                break
    return segments


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks = []
    i = 8
    while i < len(data):
        length, kind = struct.unpack(">I4s", data[i : i + 8])
        chunks.append((kind, data[i + 8 : i + 8 + length]))
        i += 12 + length
    return chunks


def riff_chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", "not a WebP"
    kinds = []
    i = 12
    while i + 8 <= len(data):
        kind, size = struct.unpack("<4sI", data[i : i + 8])
        kinds.append(kind)
        i += 8 + size + (size & 1)
    return kinds


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def patch_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the SOF0 header of a baseline JPEG to declare another size (the pixel data stays small)."""
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def gps_exif(description: str, orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010E] = description  # ImageDescription
    exif[0x010F] = "CanaryPhone"  # Make
    if orientation is not None:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"  # GPSLatitudeRef
    gps[2] = (51.0, 30.0, 4.5)  # GPSLatitude
    gps[3] = "W"  # GPSLongitudeRef
    gps[4] = (0.0, 7.0, 39.0)  # GPSLongitude
    return exif.tobytes()


CANARY_COMMENT = b"CANARY-COMMENT-42"
CANARY_EXIF = "CANARY-EXIF-DESC-13"
CANARY_XMP = b"CANARY-XMP-9"
CANARY_IPTC = b"CANARY-IPTC-7"
XMP_PACKET = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="' + CANARY_XMP + b'"/>'
    b"</rdf:RDF></x:xmpmeta>"
)
ALL_CANARIES = [CANARY_COMMENT, CANARY_EXIF.encode(), CANARY_XMP, CANARY_IPTC, b"CanaryPhone"]


def iptc_app13(caption: bytes) -> bytes:
    """An APP13 "Photoshop 3.0" segment holding an 8BIM IPTC-NAA resource with a caption (2:120)."""
    iptc = b"\x1c\x02\x78" + struct.pack(">H", len(caption)) + caption
    resource = b"8BIM" + b"\x04\x04" + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    if len(iptc) % 2:
        resource += b"\x00"
    payload = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


@cache
def hostile_jpeg(with_icc: bool = True) -> bytes:
    """A JPEG with EXIF (incl. GPS), XMP, IPTC, a comment and optionally an ICC profile.

    Without an ICC profile no colour transform creates a fresh image along the way, which is exactly
    the case where a careless re-save would carry the comment over.
    """
    params: dict[str, object] = {"exif": gps_exif(CANARY_EXIF), "comment": CANARY_COMMENT, "xmp": XMP_PACKET}
    if with_icc:
        params["icc_profile"] = srgb_icc()
    data = encode(photo_like(), "JPEG", quality=95, **params)
    return data[:2] + iptc_app13(CANARY_IPTC) + data[2:]


@cache
def bomb_png(width: int = 10_000, height: int = 10_000) -> bytes:
    """A valid 1-bit greyscale PNG of width x height, all black: megapixels in kilobytes."""
    row = b"\x00" + bytes((width + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def header_only_png(width: int, height: int) -> bytes:
    """A PNG that declares width x height but carries no real pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records every attempt to decode pixels (ImageFile.load), to prove refusals happen before it."""
    calls: list[object] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        calls.append(self)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


# --------------------------------------------------------------------------------------------------
# Metadata stripping


def test_jpeg_input_really_carries_every_kind_of_metadata() -> None:
    data = hostile_jpeg()
    assert b"ICC_PROFILE" not in hostile_jpeg(with_icc=False)
    markers = jpeg_segments(data)
    app1 = [payload for marker, payload in markers if marker == 0xE1]
    assert any(p.startswith(b"Exif\x00\x00") for p in app1)
    assert any(p.startswith(b"http://ns.adobe.com/xap/1.0/\x00") for p in app1)
    assert any(marker == 0xE2 and p.startswith(b"ICC_PROFILE\x00") for marker, p in markers)
    assert any(
        marker == 0xED and p.startswith(b"Photoshop 3.0\x00") and b"8BIM" in p for marker, p in markers
    )
    assert (0xFE, CANARY_COMMENT) in markers
    for canary in ALL_CANARIES:
        assert canary in data
    with Image.open(io.BytesIO(data)) as im:
        exif = im.getexif()
        assert exif[0x010E] == CANARY_EXIF
        assert exif.get_ifd(0x8825)[2] == (51.0, 30.0, 4.5)
        assert {"exif", "icc_profile", "comment", "xmp", "photoshop"} <= im.info.keys()


@pytest.mark.parametrize("with_icc", [True, False], ids=["with-icc", "without-icc"])
def test_jpeg_output_has_pixels_only(with_icc: bool) -> None:
    result = sanitise(hostile_jpeg(with_icc))
    assert (result.format, result.content_type, result.extension) == ("JPEG", "image/jpeg", "jpg")
    assert (result.width, result.height) == (96, 64)

    for marker, payload in jpeg_segments(result.data):
        assert marker != 0xFE, "COM segment survived"
        assert marker not in range(0xE1, 0xF0), f"APP{marker - 0xE0} segment survived"
        if marker == 0xE0:
            assert payload.startswith(b"JFIF\x00")
    for canary in [*ALL_CANARIES, b"Exif", b"ICC_PROFILE", b"Photoshop", b"8BIM", b"http://ns.adobe.com"]:
        assert canary not in result.data

    with Image.open(io.BytesIO(result.data)) as out:
        assert out.format == "JPEG"
        assert out.mode == "RGB"
        assert len(out.getexif()) == 0
        assert not {"exif", "icc_profile", "comment", "xmp", "photoshop"} & out.info.keys()
        assert mean_abs_diff(out, photo_like()) < 3


def test_plain_pillow_resave_would_leak_the_comment() -> None:
    """Why sanitise_image rebuilds the image: re-saving what Pillow opened keeps the COM segment."""
    with Image.open(io.BytesIO(hostile_jpeg(with_icc=False))) as im:
        naive = encode(im.convert("RGB"), "JPEG")
    assert CANARY_COMMENT in naive


def test_exif_orientation_is_applied_then_dropped() -> None:
    # Stored landscape, left half red / right half blue; Orientation=6 means "rotate 90 degrees
    # clockwise to display", so the displayed photo is portrait with red on top.
    stored = Image.new("RGB", (80, 40), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 40, 40))
    data = encode(stored, "JPEG", quality=95, exif=gps_exif(CANARY_EXIF, orientation=6))
    with Image.open(io.BytesIO(data)) as im:
        assert im.getexif()[0x0112] == 6

    result = sanitise(data)
    assert (result.width, result.height) == (40, 80)
    with Image.open(io.BytesIO(result.data)) as out:
        assert out.size == (40, 80)
        assert 0x0112 not in out.getexif()
        top, bottom = out.getpixel((20, 10)), out.getpixel((20, 70))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_png_text_exif_and_icc_chunks_are_dropped() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "CANARY-PNG-TEXT")
    info.add_itxt("Description", "CANARY-PNG-ITXT", lang="en", tkey="Description")
    info.add_text("Author", "CANARY-PNG-ZTXT", zip=True)
    source = photo_like().convert("RGBA")
    data = encode(source, "PNG", pnginfo=info, exif=gps_exif(CANARY_EXIF), icc_profile=srgb_icc())
    kinds_in = {kind for kind, _ in png_chunks(data)}
    assert {b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"iCCP"} <= kinds_in

    result = sanitise(data)
    assert (result.format, result.content_type, result.extension) == ("PNG", "image/png", "png")
    kinds_out = {kind for kind, _ in png_chunks(result.data)}
    assert kinds_out <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}
    for canary in (b"CANARY-PNG-TEXT", b"CANARY-PNG-ITXT", CANARY_EXIF.encode(), b"CanaryPhone"):
        assert canary not in result.data
    with Image.open(io.BytesIO(result.data)) as out:
        assert len(out.getexif()) == 0
        assert out.text == {}
        assert "icc_profile" not in out.info
        assert mean_abs_diff(out, source) == 0  # lossless round trip


def test_webp_exif_xmp_and_icc_chunks_are_dropped() -> None:
    data = encode(
        photo_like(), "WEBP", quality=95, exif=gps_exif(CANARY_EXIF), icc_profile=srgb_icc(), xmp=XMP_PACKET
    )
    assert {b"EXIF", b"XMP ", b"ICCP"} <= set(riff_chunks(data))

    result = sanitise(data)
    assert (result.format, result.content_type, result.extension) == ("WEBP", "image/webp", "webp")
    assert not {b"EXIF", b"XMP ", b"ICCP", b"ANIM", b"ANMF"} & set(riff_chunks(result.data))
    for canary in ALL_CANARIES:
        assert canary not in result.data
    with Image.open(io.BytesIO(result.data)) as out:
        assert not {"exif", "icc_profile", "xmp"} & out.info.keys()
        assert mean_abs_diff(out, photo_like()) < 4


# --------------------------------------------------------------------------------------------------
# Pixel bombs, sides, frames


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_100_megapixel_png_of_a_few_kilobytes_is_refused_without_decoding(no_decoding: list[object]) -> None:
    data = bomb_png()
    assert len(data) < 100 * 1024
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (10_000, 10_000)

    # tracemalloc cannot see Pillow's C pixel buffers, so prove "no decode" directly: the decoder is
    # never entered, and the refusal is quick.
    started = time.perf_counter()
    error = refused(data)
    elapsed = time.perf_counter() - started
    assert error.code == "too_many_pixels"
    assert no_decoding == []
    assert elapsed < 1.0


def test_pixel_limit_is_checked_from_the_header(no_decoding: list[object]) -> None:
    data = header_only_png(8_000, 6_000)  # 48 Mpx, below Pillow's own warning threshold
    assert refused(data).code == "too_many_pixels"
    assert no_decoding == []
    assert refused(header_only_png(100, 100), ImageLimits(max_pixels=9_999)).code == "too_many_pixels"


def test_pillow_decompression_bomb_error_becomes_rejected_upload() -> None:
    # 200 Mpx is over 2 x Image.MAX_IMAGE_PIXELS, where Pillow itself raises inside Image.open.
    limits = ImageLimits(max_pixels=10**9, max_side=10**6)
    assert refused(header_only_png(20_000, 10_000), limits).code == "too_many_pixels"


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillow_decompression_bomb_warning_becomes_rejected_upload() -> None:
    limits = ImageLimits(max_pixels=10**9, max_side=10**6)
    assert refused(header_only_png(10_000, 10_000), limits).code == "too_many_pixels"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pillow_warning_threshold_is_a_hard_ceiling_even_with_generous_limits() -> None:
    limits = ImageLimits(max_pixels=10**9, max_side=10**6)
    assert refused(header_only_png(10_000, 10_000), limits).code == "too_many_pixels"


def test_overlong_side_is_refused(no_decoding: list[object]) -> None:
    real = encode(Image.new("RGB", (13_000, 4), (1, 2, 3)), "JPEG")
    assert refused(real).code == "too_many_pixels"

    # 60000 x 600 = 36 Mpx fits the pixel budget; only the side limit stops it, before decoding.
    small = encode(noisy_image((16, 16)), "JPEG")
    declared = patch_jpeg_size(small, 60_000, 600)
    with Image.open(io.BytesIO(declared)) as im:
        assert im.size == (60_000, 600)
    error = refused(declared)
    assert error.code == "too_many_pixels"
    assert "12000" in error.message
    assert no_decoding == []


def test_jpeg_declaring_huge_dimensions_is_refused(no_decoding: list[object]) -> None:
    declared = patch_jpeg_size(encode(noisy_image((16, 16)), "JPEG"), 65_000, 65_000)
    assert refused(declared).code == "too_many_pixels"
    assert no_decoding == []


def test_animated_webp_is_refused() -> None:
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    with Image.open(io.BytesIO(data)) as im:
        assert im.n_frames == 3
    assert refused(data).code == "too_many_frames"


def test_apng_is_refused_unless_frames_are_allowed() -> None:
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)
    assert b"acTL" in data
    with Image.open(io.BytesIO(data)) as im:
        assert im.n_frames == 3
    assert refused(data).code == "too_many_frames"

    result = sanitise(data, ImageLimits(max_frames=3))
    assert b"acTL" not in result.data and b"fcTL" not in result.data
    with Image.open(io.BytesIO(result.data)) as out:
        assert getattr(out, "n_frames", 1) == 1
        assert out.convert("RGB").getpixel((0, 0)) == (255, 0, 0)


def test_multi_picture_jpeg_is_refused() -> None:
    data = encode(
        Image.new("RGB", (16, 16), (255, 0, 0)),
        "MPO",
        save_all=True,
        append_images=[Image.new("RGB", (16, 16))],
    )
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
        assert im.n_frames == 2
    assert refused(data).code == "too_many_frames"


# --------------------------------------------------------------------------------------------------
# Wrong formats, damaged and oversized files


def _other_formats() -> dict[str, bytes]:
    small = Image.new("RGB", (8, 8), (9, 9, 9))
    return {
        "svg": (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b"<script>alert(1)</script></svg>"
        ),
        "pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
        "html": b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
        "gif": encode(small, "GIF"),
        "tiff": encode(small, "TIFF"),
        "bmp": encode(small, "BMP"),
        "ico": encode(small, "ICO"),
        "random": random.Random(7).randbytes(4096),
        "text": b"just some text",
    }


@pytest.mark.parametrize("kind", sorted(_other_formats()))
def test_other_formats_are_unsupported(kind: str) -> None:
    data = _other_formats()[kind]
    fp = io.BytesIO(data)
    fp.name = "holiday-photo.jpg"  # a name never makes a file acceptable
    with pytest.raises(RejectedUpload) as info:
        sanitise_image(fp)
    error = info.value
    assert error.code == "unsupported_format"
    assert "JPEG" in error.message and "PNG" in error.message and "WebP" in error.message
    assert "holiday-photo" not in error.message
    assert data[:8].decode("latin-1") not in error.message


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(noisy_image((256, 256)), "JPEG", quality=90)
    cut = data[: int(len(data) * 0.6)]
    with Image.open(io.BytesIO(cut)) as im:  # the header is intact...
        assert im.size == (256, 256)
    assert refused(cut).code == "corrupt"  # ...but the photo is not


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_truncated_png_and_webp_are_corrupt(fmt: str) -> None:
    data = encode(noisy_image((128, 128)), fmt)
    assert refused(data[: int(len(data) * 0.6)]).code == "corrupt"


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xe0" + b"\x00" * 20,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 30,
        b"RIFF\x10\x00\x00\x00WEBPVP8 xx",
    ],
    ids=["jpeg", "png", "webp"],
)
def test_right_signature_but_broken_header_is_corrupt(data: bytes) -> None:
    assert refused(data).code == "corrupt"


def test_a_truncated_jpeg_is_refused_even_after_weasyprint_turned_truncation_tolerance_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import weasyprint  # noqa: F401 - its import switches LOAD_TRUNCATED_IMAGES on, process-wide

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    whole = encode(photo_like(), "JPEG")
    assert refused(whole[: len(whole) * 6 // 10]).code == "corrupt"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_empty_upload() -> None:
    error = refused(b"")
    assert error.code == "empty"
    assert error.message


class CountingStream(io.RawIOBase):
    """An endless stream of JPEG-looking bytes that records how much was read, in short reads."""

    def __init__(self) -> None:
        self.delivered = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), 1000)  # short reads, like a socket
        buffer[:n] = b"\xff" * n
        self.delivered += n
        return n


def test_too_large_reads_at_most_limit_plus_one() -> None:
    stream = CountingStream()
    with pytest.raises(RejectedUpload) as info:
        sanitise_image(stream, ImageLimits(max_bytes=50_000))  # type: ignore[arg-type]
    assert info.value.code == "too_large"
    assert stream.delivered == 50_001
    assert "48.8 KB" in info.value.message


def test_size_limit_boundary() -> None:
    data = encode(photo_like(), "JPEG")
    assert sanitise(data, ImageLimits(max_bytes=len(data))).format == "JPEG"
    error = refused(data, ImageLimits(max_bytes=len(data) - 1))
    assert error.code == "too_large"


def test_default_too_large_message_is_human() -> None:
    error = refused(b"\xff" * (20 * 1024 * 1024 + 1))
    assert error.code == "too_large"
    assert "20 MB" in error.message


# --------------------------------------------------------------------------------------------------
# Colour and mode normalisation


def test_cmyk_jpeg_becomes_rgb_jpeg() -> None:
    data = encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG", quality=95)  # pure red ink
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "CMYK"
    result = sanitise(data)
    assert result.format == "JPEG"
    with Image.open(io.BytesIO(result.data)) as out:
        assert out.mode == "RGB"
        r, g, b = out.getpixel((16, 16))
    assert r > 200 and g < 60 and b < 60
    assert not any(marker == 0xEE for marker, _ in jpeg_segments(result.data))  # no Adobe APP14 either


def test_embedded_icc_profile_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = ImageCms.profileToProfile

    def spy(im: Image.Image, *args: object, **kwargs: object) -> object:
        calls.append(im.mode)
        return original(im, *args, **kwargs)

    monkeypatch.setattr(ImageCms, "profileToProfile", spy)
    result = sanitise(encode(photo_like(), "PNG", icc_profile=srgb_icc()))
    assert calls == ["RGB"]
    with Image.open(io.BytesIO(result.data)) as out:
        assert "icc_profile" not in out.info
        assert mean_abs_diff(out, photo_like()) < 2  # sRGB -> sRGB changes (almost) nothing


@pytest.mark.parametrize(
    "icc",
    [b"not an icc profile at all", ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()],
    ids=["garbage", "wrong-colour-space"],
)
def test_unusable_icc_profile_falls_back_to_plain_conversion(icc: bytes) -> None:
    result = sanitise(encode(photo_like(), "PNG", icc_profile=icc))
    assert icc not in result.data
    with Image.open(io.BytesIO(result.data)) as out:
        assert "icc_profile" not in out.info
        assert mean_abs_diff(out, photo_like()) == 0


def test_png_alpha_is_kept() -> None:
    source = noisy_image((40, 30), "RGBA")
    result = sanitise(encode(source, "PNG"))
    with Image.open(io.BytesIO(result.data)) as out:
        assert out.mode == "RGBA"
        assert out.tobytes() == source.tobytes()


def test_palette_png_with_transparency_becomes_rgba() -> None:
    source = Image.new("P", (10, 10), 1)
    source.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
    source.paste(2, (0, 0, 5, 10))
    data = encode(source, "PNG", transparency=1)
    result = sanitise(data)
    with Image.open(io.BytesIO(result.data)) as out:
        assert out.mode == "RGBA"
        assert out.getpixel((2, 2)) == (0, 255, 0, 255)
        assert out.getpixel((8, 2))[3] == 0


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [("LA", (100, 50), (100, 100, 100, 50)), ("L", 77, (77, 77, 77)), ("1", 1, (255, 255, 255))],
)
def test_grey_pngs_become_rgb_or_rgba(mode: str, value: object, expected: tuple[int, ...]) -> None:
    result = sanitise(encode(Image.new(mode, (6, 6), value), "PNG"))
    with Image.open(io.BytesIO(result.data)) as out:
        assert out.mode == ("RGBA" if len(expected) == 4 else "RGB")
        assert out.getpixel((3, 3)) == expected


def test_16_bit_grey_png_is_scaled_not_clipped() -> None:
    source = Image.new("I;16", (3, 1))
    for x, value in enumerate((0, 32896, 65535)):
        source.putpixel((x, 0), value)
    data = encode(source, "PNG")
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode.startswith("I")
    with Image.open(io.BytesIO(sanitise(data).data)) as out:
        assert out.mode == "RGB"
        assert [out.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_webp_round_trip(mode: str) -> None:
    source = photo_like().convert(mode)
    if mode == "RGBA":
        source.putalpha(Image.linear_gradient("L").resize(source.size))
    result = sanitise(encode(source, "WEBP", quality=95))
    assert (result.format, result.content_type, result.extension) == ("WEBP", "image/webp", "webp")
    assert (result.width, result.height) == source.size
    with Image.open(io.BytesIO(result.data)) as out:
        assert out.format == "WEBP"
        assert out.mode == mode
        assert mean_abs_diff(out, source) < 4
        if mode == "RGBA":
            alpha_diff = ImageStat.Stat(ImageChops.difference(out.getchannel("A"), source.getchannel("A")))
            assert alpha_diff.mean[0] < 4


def test_tiny_image_and_output_types() -> None:
    result = sanitise(encode(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"))
    assert isinstance(result.data, bytes)
    assert (result.width, result.height) == (1, 1)
    with pytest.raises(AttributeError):
        result.width = 2  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# API details


def test_rejected_upload_carries_code_and_message() -> None:
    error = RejectedUpload("corrupt", "Damaged.")
    assert isinstance(error, ValueError)
    assert (error.code, error.message, str(error)) == ("corrupt", "Damaged.", "Damaged.")


@pytest.mark.parametrize("field", ["max_bytes", "max_pixels", "max_frames", "max_side"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_limits_must_be_positive_integers(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        ImageLimits(**{field: value})  # type: ignore[arg-type]


def test_module_does_not_import_django() -> None:
    """dsr.images must stay usable (and fuzzable) without Django settings."""
    tree = ast.parse(Path(images.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "collections", "contextlib", "io", "logging", "struct", "dataclasses", "typing",
                        "PIL"}


# --------------------------------------------------------------------------------------------------
# Fuzzing: whatever arrives, the only exception is RejectedUpload


SEEDS = [
    encode(photo_like((24, 16)), "JPEG", exif=gps_exif("x", orientation=3), comment=b"c"),
    encode(photo_like((24, 16)), "JPEG", progressive=True),
    encode(noisy_image((12, 12), "RGBA"), "PNG"),
    encode(Image.new("P", (12, 12), 3), "PNG", transparency=3),
    encode(photo_like((24, 16)), "WEBP"),
    encode(noisy_image((12, 12), "RGBA"), "WEBP", lossless=True),
]
FUZZ_LIMITS = ImageLimits(max_bytes=256 * 1024, max_pixels=4_000_000, max_side=4_000)


def _assert_only_rejections(data: bytes) -> None:
    try:
        result = sanitise(data, FUZZ_LIMITS)
    except RejectedUpload as error:
        assert error.code in {"unsupported_format", "too_many_pixels", "too_many_frames", "corrupt", "empty"}
        assert error.message
    else:
        assert result.format in {"JPEG", "PNG", "WEBP"}
        with Image.open(io.BytesIO(result.data)) as out:
            out.load()
            assert out.size == (result.width, result.height)


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=2048))
def test_random_bytes_only_ever_raise_rejected_upload(data: bytes) -> None:
    _assert_only_rejections(data)


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_images_only_ever_raise_rejected_upload(data: st.DataObject) -> None:
    buf = bytearray(data.draw(st.sampled_from(SEEDS)))
    for _ in range(data.draw(st.integers(0, 8))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        buf = buf[: data.draw(st.integers(0, len(buf)))]
    _assert_only_rejections(bytes(buf))
