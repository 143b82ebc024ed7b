"""Set-up step for cross-style validation of image maps: other art styles of the same emoji.

Fetches, by exact name and version, the npm packages `emoji-datasource-twitter`, `-apple` and
`-facebook` (one 64-px PNG per emoji and the Unicode data, `emoji.json`) with `npm pack`, and keeps
only `img/<style>/64/*.png` and `emoji.json` in benchmarks/.cache/emoji-styles/<style>/ (gitignored).
Never committed, never fetched by `make test`: the Apple and Facebook images are not free to
redistribute. The Google / Noto style is deliberately not fetched: it is the check kept aside.

    python benchmarks/emoji_styles_setup.py            # about 3 downloads of tens of MB, once
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

STYLES = ("twitter", "apple", "facebook")
VERSION = "16.0.0"
CACHE = Path(__file__).parent / ".cache" / "emoji-styles"


def style_dir(style: str) -> Path:
    return CACHE / style


def fetch(style: str) -> Path:
    """Unpack one style's 64-px PNGs and emoji.json into the cache (skipped when already there)."""
    target = style_dir(style)
    if (target / "emoji.json").is_file() and any((target / "64").glob("*.png")):
        return target
    package = f"emoji-datasource-{style}@{VERSION}"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", package, "--silent"], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        archive = next(Path(tmp).glob("*.tgz"))
        (target / "64").mkdir(parents=True, exist_ok=True)
        prefix = f"package/img/{style}/64/"
        with tarfile.open(archive) as tar:
            for member in tar:
                name = member.name
                if member.isfile() and name.startswith(prefix) and name.endswith(".png") and "/" not in name[len(prefix):]:
                    (target / "64" / Path(name).name).write_bytes(tar.extractfile(member).read())
                elif name == "package/emoji.json":
                    (target / "emoji.json").write_bytes(tar.extractfile(member).read())
    return target


def style_images(style: str) -> dict:
    """{emoji string: PNG path} for the emoji this style draws (from emoji.json's unified code points)."""
    folder = style_dir(style)
    out = {}
    for entry in json.loads((folder / "emoji.json").read_text()):
        if not entry.get(f"has_img_{style}"):
            continue
        path = folder / "64" / entry["image"]
        if path.is_file():
            out["".join(chr(int(cp, 16)) for cp in entry["unified"].split("-"))] = path
    return out


def main() -> None:
    for style in STYLES:
        folder = fetch(style)
        print(f"{style}: {len(style_images(style)):,} emoji in {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
