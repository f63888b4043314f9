"""A decoded image of any orientation, mode and colour space made into upright 8-bit sRGB.

Steps of :func:`normalise_colour`, in order (each appends what it did to the
caller's ``notes``, or a problem to its ``warnings``; none raises):

1. EXIF orientation applied (in place only when the image is ours to change);
2. any mode brought to L, LA, RGB, RGBA or CMYK: palettes keep their
   transparency, 16/32-bit and float greyscale are scaled (not clipped) to
   8-bit, LAB goes through littlecms, 1-bit becomes L;
3. a cheap integer shrink toward ``max_pixels`` before the colour work (the
   exact resize is :mod:`.fit`'s);
4. transparency composited on white (not black), noted when some pixel really is transparent;
5. an embedded ICC profile converted to sRGB; else a plain convert to RGB (greyscale and
   CMYK noted; an embedded sRGB profile is applied without a note: nothing changes).
"""

from __future__ import annotations

import io
import math

from PIL import Image, ImageOps

try:  # Pillow wheels ship littlecms; a source build may not
    from PIL import ImageCms
except ImportError:  # pragma: no cover - depends on the Pillow build
    ImageCms = None  # type: ignore[assignment]

_EXIF_ORIENTATION = 0x0112
_PROFILE_MODES = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}
# Modes whose conversion to RGB is worth telling the user (a palette or RGBX is just another encoding).
_MODE_NAMES = {"L": "greyscale", "1": "1-bit black and white", "CMYK": "CMYK", "LAB": "CIELAB"}
TRANSPARENCY_NOTE = "transparent areas composited on white"


def normalise_colour(
    image: Image.Image, *, owned: bool, max_pixels: int, notes: list[str], warnings: list[str]
) -> Image.Image:
    """Upright, 8-bit, alpha on white, sRGB ``RGB``; ``owned`` says whether ``image`` may be changed in place."""
    icc = image.info.get("icc_profile")
    image = _upright(image, owned, notes, warnings)
    mode_note = _mode_note(image.mode)
    image = _normalize_mode(image, notes)
    image = _shrink(image, max_pixels)
    image = _flatten_alpha(image, notes)
    return _to_srgb(image, icc, notes, warnings, mode_note)


def _upright(image: Image.Image, owned: bool, notes: list[str], warnings: list[str]) -> Image.Image:
    """Apply the EXIF orientation (a failure is a warning, not a placeholder)."""
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
        if orientation not in range(2, 9):
            return image
        if owned:
            ImageOps.exif_transpose(image, in_place=True)
        else:
            image = ImageOps.exif_transpose(image)
        notes.append(f"rotated upright from EXIF orientation {orientation}")
    except Exception as exc:  # noqa: BLE001 - a bad EXIF block only costs the orientation
        warnings.append(f"could not apply the EXIF orientation ({exc}); the image may be rotated")
    return image


def _mode_note(mode: str) -> str | None:
    """What converting ``mode`` to RGB is noted as (None: nothing worth a note)."""
    name = _MODE_NAMES.get(mode[:-1] if mode in ("LA", "La") else mode)
    return f"converted from {name} to RGB" if name else None


def _normalize_mode(image: Image.Image, notes: list[str]) -> Image.Image:
    """Bring any mode to L, LA, RGB, RGBA or CMYK (alpha kept, 16-bit scaled to 8-bit)."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return image
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode.startswith("I") or mode == "F":
        depth = "16-bit" if mode.startswith("I;16") else f"{mode} mode"
        notes.append(f"{depth} greyscale scaled to 8-bit and converted to RGB")
        return _to_8bit(image)
    if mode == "LAB" and ImageCms is not None:
        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(image, lab, srgb, outputMode="RGB")  # type: ignore[return-value]
    if mode == "1":
        return image.convert("L")
    return image.convert("RGBA" if "A" in mode or "a" in mode else "RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer or float greyscale to 8-bit L without clipping to white."""
    if image.mode != "F":
        image = image.convert("I")
    low, high = image.getextrema()
    if image.mode == "I" and low >= 0 and high <= 65535:
        scale, offset = 1 / 256, 0.0  # 16-bit data: 32768 -> 128
    elif image.mode == "F" and low >= 0 and high <= 1:
        scale, offset = 255.0, 0.0
    else:
        span = (high - low) or 1
        scale, offset = 255 / span, -low * 255 / span
    return image.point(lambda value: value * scale + offset).convert("L")


def _shrink(image: Image.Image, max_pixels: int) -> Image.Image:
    """Cheap integer box reduction toward max_pixels before colour work (fit does the exact resize)."""
    factor = math.isqrt(image.width * image.height // max(max_pixels, 1))
    if factor < 2:
        return image
    return image.reduce(factor)


def _flatten_alpha(image: Image.Image, notes: list[str]) -> Image.Image:
    """Composite transparency on white; returns L, RGB or CMYK."""
    if image.mode in ("L", "RGB") and "transparency" in image.info:
        image = image.convert(image.mode + "A")
    if image.mode not in ("LA", "RGBA"):
        return image
    alpha = image.getchannel("A")
    if alpha.getextrema()[0] < 255:  # an alpha channel that is opaque everywhere changes nothing: no note
        notes.append(TRANSPARENCY_NOTE)
    base_mode = image.mode[:-1]
    canvas = Image.new(base_mode, image.size, "white")
    canvas.paste(image.convert(base_mode), mask=alpha)
    return canvas


def _to_srgb(
    image: Image.Image, icc: bytes | None, notes: list[str], warnings: list[str], mode_note: str | None
) -> Image.Image:
    """Convert with the embedded ICC profile to sRGB when there is one, else plain convert to RGB."""
    converted = _apply_profile(image, icc, notes, warnings) if icc and ImageCms is not None else None
    if converted is None:
        converted = image if image.mode == "RGB" else image.convert("RGB")
        if image.mode == "CMYK":
            mode_note = "converted from CMYK to RGB without a colour profile; colours are approximate"
    if mode_note:
        notes.append(mode_note)
    return converted


def _apply_profile(image: Image.Image, icc: bytes, notes: list[str], warnings: list[str]) -> Image.Image | None:
    """``image`` converted from its embedded profile to sRGB, or None when the profile does not fit or is broken."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = profile.profile.xcolor_space.strip()
        if _PROFILE_MODES.get(space) != image.mode:
            notes.append(f"ignored a {space} colour profile on {image.mode} data")
            return None
        converted = ImageCms.profileToProfile(image, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
        description = ImageCms.getProfileDescription(profile).strip() or "embedded"
        if not description.lower().startswith("srgb"):  # sRGB to sRGB changes nothing worth a note
            notes.append(f"colours converted from the {description!r} profile to sRGB")
        return converted  # type: ignore[return-value]
    except Exception as exc:  # noqa: BLE001 - a broken profile only costs colour accuracy
        warnings.append(f"embedded colour profile could not be applied ({exc}); colours may be off")
        return None
