"""An index whose items are Markdown, LaTeX, colour directives, emoji shortcodes and HTML.

Every one of these strings means something to Streamlit's Markdown (st.markdown, st.caption,
alerts, image captions, widget labels, help): an image the browser fetches, a formula, coloured
text, an emoji, a link. The app must show each exactly as typed. Used by tests/test_app.py
(AppTest) and tests/test_browser.py (a real browser).
"""

from __future__ import annotations

from pathlib import Path

PIXEL_URL = "http://127.0.0.1:9/pixel.png"  # port 9 (discard): nothing answers, so a fetch only shows up as a request
HOSTILE = (
    f"![x]({PIXEL_URL})",  # an image: every viewer's browser would fetch the URL
    "$x^2$",  # LaTeX, typeset by KaTeX
    ":red[alarm]",  # coloured text
    ":smile: face",  # an emoji shortcode: backslash escapes do not stop it (remark-emoji runs after them)
    "<img src=x onerror=alert(1)>",  # HTML
    "**bold**",
    "[link](http://example.com)",
)
# An image file name is shown too (with its concept, as the item's title); '/' cannot be in one.
IMAGE_NAME = ":red[alarm] $x^2$ **bold** :smile:.png"
TRANSLATED = HOSTILE[:3]  # also in Spanish, so the Translate panel runs; 11 items, so one search shows all
NAME = "hostile"


def build_hostile_index(root: Path) -> Path:
    """Index NAME in `root`: each HOSTILE string as an English text (text, label and concept all that
    string), the TRANSLATED ones as Spanish texts too, and one image whose file name is IMAGE_NAME and
    whose label and concept are HOSTILE[0] (so the first text's concept has an image, shown beside
    the map)."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    from embedspace.index.build import build_index
    from embedspace.index.sources import ReadOptions

    data = root / "sources"
    data.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((48, 48, 3), (200, 40, 40), dtype=np.uint8)).save(data / IMAGE_NAME)
    texts = [{"text": text, "lang": "en", "label": text, "concept": text} for text in HOSTILE]
    texts += [{"text": text, "lang": "es", "label": text, "concept": text} for text in TRANSLATED]
    pd.DataFrame(texts).to_csv(data / "texts.csv", index=False)
    images = [{"image": IMAGE_NAME, "lang": "", "label": HOSTILE[0], "concept": HOSTILE[0]}]
    pd.DataFrame(images).to_csv(data / "images.csv", index=False)
    options = ReadOptions(lang_column="lang", label_column="label", concept_column="concept")
    build_index(NAME, [data / "texts.csv", data / "images.csv"], space="use-m3[images=conse]", read_options=options,
                index_dir=root)
    return root
