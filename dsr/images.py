"""Sanitise uploaded photos before they are stored in the vault.

The vault holds people's face photos, so every uploaded image is treated as hostile twice over:

* **as an attack** - a few kilobytes can declare a 100-megapixel canvas (decompression bomb), a file
  called ``photo.jpg`` can be a PDF, SVG or HTML page, and a truncated file can make the decoder pad
  with grey and store a damaged photo without anyone noticing;
* **as a privacy leak** - a phone photo carries GPS coordinates, device serial numbers, capture times,
  editing history (XMP), press captions (IPTC), free-text comments and thumbnails of the *uncropped*
  original. None of that is needed to hold a face photo, and all of it is personal data we would then
  have to protect, disclose and erase.

:func:`sanitise_image` therefore only accepts JPEG, PNG and WebP, checks sizes from the headers
*before* decoding, decodes the pixels fully, bakes the EXIF orientation and embedded colour profile
into the pixels, and re-encodes those pixels from a brand-new image object, so nothing but pixels
survives.

This module is deliberately free of Django so it can be unit- and fuzz-tested in isolation and reused
by management commands and workers.
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

try:  # Pillow can be built without LittleCMS; colour management is then best-effort plain conversion.
    from PIL import ImageCms
except ImportError:  # pragma: no cover - depends on how Pillow was built
    ImageCms = None  # type: ignore[assignment]

__all__ = ["ImageLimits", "RejectedUpload", "SanitisedImage", "sanitise_image"]

# Pillow's default, stated explicitly: a truncated file must fail to decode instead of being padded
# with grey. This is a process-wide switch, so sanitise_image() also refuses to run if someone else
# has flipped it (see _require_strict_decoding).
ImageFile.LOAD_TRUNCATED_IMAGES = False
logger = logging.getLogger(__name__)

# The formats we accept, mapped to (output format, MIME type, file extension). "MPO" is what Pillow
# calls a JPEG carrying a Multi-Picture index (several images in one file); it is only reachable
# through the JPEG plugin and is re-encoded as a plain, single-frame JPEG.
_OPEN_FORMATS = ["JPEG", "PNG", "WEBP"]
_OUTPUT: dict[str, tuple[str, str, str]] = {
    "JPEG": ("JPEG", "image/jpeg", "jpg"),
    "MPO": ("JPEG", "image/jpeg", "jpg"),
    "PNG": ("PNG", "image/png", "png"),
    "WEBP": ("WEBP", "image/webp", "webp"),
}
_ACCEPTED_HUMAN = "JPEG, PNG or WebP"

# File signatures of the accepted formats. Used only to tell "this is a damaged JPEG/PNG/WebP"
# (corrupt) apart from "this is some other kind of file" (unsupported_format) when Pillow cannot
# identify the bytes; the allow-list itself is enforced by Image.open(formats=...).
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Everything Pillow and its C decoders are known to raise on malformed input. struct.error and
# LookupError come from the pure-Python header parsers; OSError covers "image file is truncated"
# and decoder errors; SyntaxError is Pillow's historical "not a valid file" exception; EOFError
# comes from frame seeking; ArithmeticError from hostile header fields used as divisors or sizes.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    LookupError,
    TypeError,
    ArithmeticError,
    struct.error,
)

_JPEG_QUALITY = 90
_WEBP_QUALITY = 90


class RejectedUpload(ValueError):
    """An upload that is not acceptable as a photo.

    ``code`` is stable and machine-readable (for API responses, metrics and tests); ``message`` is
    meant for the person who uploaded the file. The message never repeats the file name or any bytes
    of the file: both are attacker-controlled and would end up in HTML pages and logs.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"RejectedUpload(code={self.code!r}, message={self.message!r})"


@dataclass(frozen=True)
class SanitisedImage:
    """A re-encoded image that contains pixels and nothing else, ready to be encrypted and stored."""

    data: bytes
    format: str
    content_type: str
    extension: str
    width: int
    height: int
    # What ``hash_pixels`` made of the clean pixels (the API passes dsr.perceptual.hash_image: a PDQ hash for the
    # takedown desk's copy sweep and block list), so no upload is decoded twice.
    pdq: Any = None


@dataclass(frozen=True)
class ImageLimits:
    """Upper bounds applied to every upload.

    The defaults fit what phones and most cameras produce by default (12-33 MP) and keep one decoded
    copy of the worst case at about 160 MB (40 Mpx RGBA); a face photo needs no more. Full-resolution
    modes of 48-200 MP phone sensors and 45-61 MP cameras are refused and need a smaller export (or a
    larger ``max_pixels``; note Pillow's own ~89 Mpx bomb threshold is always a hard ceiling).
    ``max_side`` refuses pathological aspect ratios (e.g. 40,000,000 x 1) that pass the pixel budget
    but are never a face photo and make resampling code downstream misbehave.
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_frames: int = 1
    max_side: int = 12_000

    def __post_init__(self) -> None:
        # A zero or negative limit would silently refuse everything (or, for frames, accept nothing);
        # fail at configuration time instead of at the first upload.
        for name in ("max_bytes", "max_pixels", "max_frames", "max_side"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ImageLimits.{name} must be a positive integer, got {value!r}")


def sanitise_image(
    fp: BinaryIO, limits: ImageLimits = ImageLimits(), *, hash_pixels: Callable[[Image.Image], Any] | None = None
) -> SanitisedImage:
    """Validate an uploaded image and return a metadata-free re-encoding of its pixels.

    Reads at most ``limits.max_bytes + 1`` bytes from the current position of ``fp``. The output has
    the same format as the input (JPEG, PNG or WebP), EXIF orientation applied, colours converted to
    sRGB, and no EXIF, XMP, IPTC, ICC profile, comments or text chunks. ``hash_pixels``, if given, is called with
    those clean, upright sRGB pixels and its result is kept in ``pdq``.

    Raises :class:`RejectedUpload` for anything that is not an acceptable photo. Raises
    :class:`RuntimeError` only if the process is misconfigured so that truncated images would be
    silently accepted (see :func:`_require_strict_decoding`).
    """
    _require_strict_decoding()
    data = _read_capped(fp, limits.max_bytes)
    if not data:
        raise RejectedUpload("empty", "The uploaded file is empty.")
    if len(data) > limits.max_bytes:
        raise RejectedUpload(
            "too_large",
            f"This file is larger than the {_human_bytes(limits.max_bytes)} limit for photos.",
        )

    im = _open_checked(data, limits)
    out_format, content_type, extension = _OUTPUT[im.format or ""]
    try:
        # Decode every pixel now: with LOAD_TRUNCATED_IMAGES off, a truncated or damaged stream
        # raises here instead of being padded with grey and stored as if it were the real photo.
        im.load()
        # Conversion can still trip over odd-but-decodable files (strange palettes or modes); to the
        # uploader that is the same as an unreadable file.
        pixels = _to_clean_pixels(im, keep_alpha=out_format in ("PNG", "WEBP"))
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels_generic() from exc
    except _DECODE_ERRORS as exc:
        raise _corrupt() from exc
    finally:
        im.close()
    del im

    buffer = io.BytesIO()
    if out_format == "JPEG":
        pixels.save(buffer, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    elif out_format == "PNG":
        pixels.save(buffer, "PNG", optimize=True)
    else:
        pixels.save(buffer, "WEBP", quality=_WEBP_QUALITY)
    return SanitisedImage(
        data=buffer.getvalue(),
        format=out_format,
        content_type=content_type,
        extension=extension,
        width=pixels.width,
        height=pixels.height,
        pdq=hash_pixels(pixels) if hash_pixels is not None else None,
    )


# --------------------------------------------------------------------------------------------------
# Reading and validating


def _require_strict_decoding() -> None:
    """Keep Pillow from silently padding truncated images.

    ``ImageFile.LOAD_TRUNCATED_IMAGES`` is a process-wide Pillow switch; WeasyPrint turns it on when it
    is imported (dsr renders PDFs in the same process). With it on, a half-uploaded photo would decode
    "successfully" with its lower part grey and we would store a damaged copy of someone's face. dsr
    never wants truncated images — its PDFs embed none — so the switch is turned back off, and logged.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        logger.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES was switched on by another library; switching it off")
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def _read_capped(fp: BinaryIO, max_bytes: int) -> bytes:
    """Read up to ``max_bytes + 1`` bytes, so "too large" is detected without reading the whole stream.

    Loops because ``read(n)`` on pipes, sockets and some upload wrappers may return fewer than ``n``
    bytes before end-of-file.
    """
    wanted = max_bytes + 1
    chunks: list[bytes] = []
    received = 0
    while received < wanted:
        chunk = fp.read(wanted - received)
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def _open_checked(data: bytes, limits: ImageLimits) -> ImageFile.ImageFile:
    """Open ``data`` with the format allow-list and check size and frame count from the headers only.

    Nothing is decoded here: Pillow's ``open`` parses headers lazily, so the pixel, side and frame
    limits are enforced before a single pixel buffer is allocated.
    """
    try:
        im = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow raises the error above 2 x MAX_IMAGE_PIXELS on its own; the warning only becomes an
        # exception if the process runs with warnings-as-errors. Either way: too many pixels.
        raise _too_many_pixels_generic() from exc
    except UnidentifiedImageError as exc:
        if _looks_like_accepted_format(data):
            # Right signature, unreadable header: a damaged photo rather than a different file type.
            raise _corrupt() from exc
        raise RejectedUpload(
            "unsupported_format",
            f"This file is not a supported image. Please upload a photo saved as {_ACCEPTED_HUMAN}.",
        ) from exc
    except _DECODE_ERRORS as exc:
        raise _corrupt() from exc

    try:
        if im.format not in _OUTPUT:  # pragma: no cover - formats= already guarantees this
            raise RejectedUpload(
                "unsupported_format",
                f"This file is not a supported image. Please upload a photo saved as {_ACCEPTED_HUMAN}.",
            )
        width, height = im.size
        if width < 1 or height < 1:
            raise _corrupt()
        # Pillow only *warns* between MAX_IMAGE_PIXELS (~89 Mpx) and twice that; we treat its
        # threshold as a hard ceiling too, so a DecompressionBombWarning is always followed by a
        # refusal here, without touching the process-wide warnings filters (not thread-safe).
        pixel_limit = limits.max_pixels
        if Image.MAX_IMAGE_PIXELS is not None:
            pixel_limit = min(pixel_limit, Image.MAX_IMAGE_PIXELS)
        if width * height > pixel_limit:
            raise RejectedUpload(
                "too_many_pixels",
                f"This image is {width} x {height} pixels ({width * height / 1e6:.1f} megapixels); "
                f"the limit is {pixel_limit / 1e6:g} megapixels. Please upload a smaller photo.",
            )
        if width > limits.max_side or height > limits.max_side:
            raise RejectedUpload(
                "too_many_pixels",
                f"This image is {width} x {height} pixels; neither side may be longer than "
                f"{limits.max_side} pixels. Please upload a smaller photo.",
            )
        # n_frames comes from the container header (APNG acTL, WebP ANIM, MPO index), not from
        # decoding the frames. Only the first frame is ever decoded and kept.
        frames = getattr(im, "n_frames", 1)
        if frames > limits.max_frames:
            if limits.max_frames == 1:
                message = (
                    "Animated or multi-image files are not accepted. Please upload a single still photo."
                )
            else:
                message = (
                    f"This file contains {frames} images; at most {limits.max_frames} are accepted. "
                    "Please upload a single still photo."
                )
            raise RejectedUpload("too_many_frames", message)
    except RejectedUpload:
        im.close()
        raise
    except _DECODE_ERRORS as exc:
        im.close()
        raise _corrupt() from exc
    return im


def _looks_like_accepted_format(data: bytes) -> bool:
    """Whether ``data`` starts with the signature of JPEG, PNG or WebP."""
    return (
        data.startswith(_JPEG_MAGIC)
        or data.startswith(_PNG_MAGIC)
        or (len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


# --------------------------------------------------------------------------------------------------
# Pixel normalisation


def _to_clean_pixels(im: Image.Image, *, keep_alpha: bool) -> Image.Image:
    """Return a brand-new RGB/RGBA image holding ``im``'s pixels, upright and in sRGB.

    The result is built with ``Image.new`` + ``paste`` so it has an empty ``info`` dict: Pillow's
    encoders fall back to ``im.info`` for the JPEG comment and the PNG ICC profile, and ``convert``
    and ``copy`` carry ``info`` over, so a plain re-save would keep exactly what we want to drop.
    """
    # Bake the orientation into the pixels: once EXIF is gone, a phone photo taken in portrait would
    # otherwise be stored lying on its side. Malformed EXIF is common in real phone photos and is about
    # to be discarded anyway, so a broken tag keeps the stored orientation rather than refusing the photo.
    with contextlib.suppress(*_DECODE_ERRORS):
        ImageOps.exif_transpose(im, in_place=True)

    alpha = _extract_alpha(im) if keep_alpha else None
    colour = _to_srgb(im)
    mode = "RGBA" if alpha is not None else "RGB"
    clean = Image.new(mode, colour.size)
    clean.paste(colour, (0, 0))
    if alpha is not None:
        clean.putalpha(alpha)
    return clean


def _extract_alpha(im: Image.Image) -> Image.Image | None:
    """The alpha channel of ``im`` as an ``L`` image, or ``None`` if it has no transparency.

    Covers real alpha channels (RGBA, LA, PA) as well as PNG ``tRNS`` transparency (palette entries or a
    single transparent colour), which Pillow keeps in ``info`` and applies on conversion to RGBA.
    """
    if not im.has_transparency_data:
        return None
    if "A" in im.getbands():
        return im.getchannel("A")
    try:
        return im.convert("RGBA").getchannel("A")
    except _DECODE_ERRORS:
        # E.g. 16-bit greyscale with a tRNS colour: Pillow cannot convert it to RGBA directly. Losing a
        # single transparent colour is better than refusing the photo.
        return None


def _colour_only(im: Image.Image) -> Image.Image:
    """``im`` without alpha, in a mode LittleCMS understands (L, RGB or CMYK).

    The colour mode is kept where it matters for the embedded ICC profile (a CMYK profile needs CMYK
    pixels, a grey profile needs L pixels).
    """
    mode = im.mode
    if mode in ("RGB", "L", "CMYK"):
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit greyscale PNG: scale 0..65535 to 0..255. Pillow's direct I;16 -> L conversion clips
        # instead of scaling, which would turn most of the photo white.
        wide = im if mode == "I" else im.convert("I")
        return wide.point(lambda value: value / 257).convert("L")
    if mode in ("LA", "La", "1"):
        return im.convert("L")
    # P, PA, RGBA, RGBa, RGBX, YCbCr, LAB, ...: a palette is stored as RGB, everything else converts.
    return im.convert("RGB")


def _to_srgb(im: Image.Image) -> Image.Image:
    """Convert ``im``'s colour to 8-bit sRGB, honouring an embedded ICC profile when possible.

    The ICC profile is dropped from the output (it can fingerprint devices and editing software), so
    its effect has to be baked into the pixels first or wide-gamut and CMYK photos would look wrong.
    Conversion is best-effort: a broken or mismatched profile falls back to Pillow's plain conversion.
    """
    colour = _colour_only(im)
    icc = im.info.get("icc_profile")
    if icc and ImageCms is not None:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                colour, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
        except (ImageCms.PyCMSError, *_DECODE_ERRORS):
            converted = None
        if converted is not None:
            return converted
    return colour if colour.mode == "RGB" else colour.convert("RGB")


# --------------------------------------------------------------------------------------------------
# Messages


def _corrupt() -> RejectedUpload:
    return RejectedUpload(
        "corrupt",
        "This image file is damaged or incomplete and could not be read. "
        "Please save or export it again and upload the new file.",
    )


def _too_many_pixels_generic() -> RejectedUpload:
    return RejectedUpload(
        "too_many_pixels",
        "This image has too many pixels to be processed safely. Please upload a smaller photo.",
    )


def _human_bytes(n: int) -> str:
    """``20971520`` -> ``"20 MB"``; used in user-facing messages only."""
    mib = n / (1024 * 1024)
    if mib >= 1:
        return f"{round(mib, 1):g} MB"
    return f"{round(n / 1024, 1):g} KB" if n >= 1024 else f"{n} bytes"
