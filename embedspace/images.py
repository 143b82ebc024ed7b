"""Loading images safely: paths, bytes, PIL images or arrays -> RGB PIL images.

Guards against what users' folders really hold: files that are not images, truncated
JPEGs, decompression bombs (a tiny PNG that claims gigapixels), animated GIFs (first frame
is used), EXIF-rotated photos, and transparent PNGs (composited on white, as they are shown).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError

# 40 megapixels covers any camera photo; a bigger claim in a header is treated as a bomb.
MAX_PIXELS = 40_000_000
MAX_FILE_BYTES = 100 * 1024 * 1024
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def describe(source) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source):,} bytes>"
    return f"<{type(source).__name__}>"


def load_image(source) -> Image.Image:
    """One image -> RGB PIL image, or InputError saying what is wrong with it."""
    name = describe(source)
    if isinstance(source, Image.Image):
        return _to_rgb(source, name)
    if isinstance(source, np.ndarray):
        if source.ndim not in (2, 3) or source.dtype != np.uint8:
            raise InputError(f"Image array {source.shape} {source.dtype}: expected HxW or HxWx3 uint8.")
        return _to_rgb(Image.fromarray(source), name)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"Image {name}: " + ("not a regular file (a folder, a device or a pipe)." if path.exists()
                                                  else "no such file."))
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"Image {name} is {path.stat().st_size:,} bytes; the limit is {MAX_FILE_BYTES:,}.")
        data = path.read_bytes()
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        if len(data) > MAX_FILE_BYTES:
            raise InputError(f"Image {name} is too large; the limit is {MAX_FILE_BYTES:,} bytes.")
    else:
        raise InputError(f"Cannot read an image from a {type(source).__name__}; give a path, bytes or a PIL image.")
    return _decode(data, name)


def _decode(data: bytes, name: str) -> Image.Image:
    if not data:
        raise InputError(f"Image {name} is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size  # read from the header, before any pixel is decoded
            if width * height > MAX_PIXELS:
                raise InputError(
                    f"Image {name} claims {width}x{height} pixels (over {MAX_PIXELS:,}): refused as a "
                    "possible decompression bomb. Downscale it if it is a real image."
                )
            image.seek(0)  # animated GIF/WebP: the first frame
            image.load()
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{name} is not an image Pillow can read (jpg, png, webp, gif, ...).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"Image {name} is refused as a possible decompression bomb.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"Image {name} is truncated or corrupt ({exc}).") from None
    return _to_rgb(image, name)


def _to_rgb(image: Image.Image, name: str) -> Image.Image:
    if image.width * image.height > MAX_PIXELS:
        raise InputError(f"Image {name} has {image.width}x{image.height} pixels; the limit is {MAX_PIXELS:,}.")
    if image.width < 1 or image.height < 1:
        raise InputError(f"Image {name} has no pixels.")
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_images(sources, skip_errors: bool = False) -> tuple[list, list]:
    """Load many images -> (images, skipped) where skipped is [(position, source, reason)].

    With skip_errors=False the first bad image raises; with True it is skipped and reported.
    """
    if isinstance(sources, (str, Path, bytes, Image.Image)):
        sources = [sources]
    images, skipped = [], []
    for i, source in enumerate(sources):
        try:
            images.append(load_image(source))
        except InputError as exc:
            if not skip_errors:
                raise InputError(f"Image {i}: {exc}") from None
            skipped.append((i, describe(source), str(exc)))
    return images, skipped


def find_images(folder) -> list:
    """Image files under a folder, recursively, in a stable order."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())

