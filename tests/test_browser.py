"""The app in a real browser: `streamlit run app.py` on a free localhost port, headless Chromium.

Searches for "gato", then for "perro", on the small demo index of conftest.py, and checks that the
dog results replace the cat results; opens the Map tab and counts the points plotly drew (every item
of the index, by default) and the region names it wrote; shows an index whose items are Markdown, LaTeX, colour
directives, emoji shortcodes and HTML (hostile_items.py) and checks that the page shows them as
typed and fetches nothing; saves screenshots to test-artifacts/ (git-ignored). Skips when Chromium
or Playwright is missing, unless EMBEDSPACE_REQUIRE_BROWSER=1 (set by .ci/run, which also
installs Chromium), where that is a failure. And checks, without a browser, that the app started
the way `make run` starts it listens on 127.0.0.1 only.
"""

import ipaddress
import json
import os
import socket
import sys
from pathlib import Path

import hostile_items
import pytest
from streamlit_browser import ROOT, chromium_page, missing_browser, streamlit_server, wait_until_idle

ARTIFACTS = ROOT / "test-artifacts"
REQUIRED = os.environ.get("EMBEDSPACE_REQUIRE_BROWSER") == "1"


@pytest.fixture
def browser_ready():
    problem = missing_browser()
    if problem and REQUIRED:
        pytest.fail(f"EMBEDSPACE_REQUIRE_BROWSER=1, but {problem}.")
    if problem:
        pytest.skip(f"No real browser here: {problem}. Set EMBEDSPACE_REQUIRE_BROWSER=1 to make this a failure.")


TITLES = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] [class*="st-key-search_card_"]'))
    .map(card => card.querySelector('[data-testid="stText"]').innerText.trim())"""


def result_titles(page) -> list:
    """The gallery's card titles: the first plain text of each card (app.py keys them search_card_ID)."""
    return page.evaluate(TITLES)


def search(page, text: str) -> list:
    box = page.get_by_label("Text (any language)")
    box.fill(text)
    box.press("Enter")
    wait_until_idle(page)
    return result_titles(page)


@pytest.mark.slow
def test_search_for_perro_shows_dogs_in_chromium(browser_ready, app_index_dir):
    env = {"EMBEDSPACE_INDEX_DIR": str(app_index_dir), "EMBEDSPACE_CACHE_DIR": os.environ["EMBEDSPACE_CACHE_DIR"]}
    with streamlit_server(env) as url, chromium_page() as page:
        page.goto(url)
        wait_until_idle(page)
        assert page.get_by_role("tab", name="Search").get_attribute("aria-selected") == "true"
        cats = search(page, "gato")
        assert "cat" in cats[:3] and "dog" not in cats[:3], cats
        dogs = search(page, "perro")
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "browser-search-perro.png"
        page.screenshot(path=str(shot), full_page=True)
        # An unfiltered search alternates the best texts and the best images (query.nearest_mixed):
        # the dog texts among the first three texts, the dog face among the first two images.
        assert {"dog", "hund"} <= set(dogs[:6]), dogs
        assert any("dog" in title for title in dogs[1:4:2]), dogs
        assert "cat" not in dogs[:3]
        assert page.locator('[data-testid="stException"]').count() == 0
        assert shot.stat().st_size > 10_000


# What plotly drew in the Map tab, read from the chart's own data: the item traces are the WebGL ones
# named 'group (count)' (app.py's map_figure), the region names are annotations (the analogy's arrows: no text).
DRAWN = r"""() => {
    const chart = document.querySelector('[data-testid="stMain"] .js-plotly-plot');
    if (!chart || !chart._fullData || !chart.checkVisibility({visibilityProperty: true})) return null;
    const items = chart._fullData.filter(t => t.type === 'scattergl' && t.customdata && /\(\d[\d,]*\)$/.test(t.name));
    return {
        points: items.reduce((sum, t) => sum + t._length, 0),
        ids: new Set(items.flatMap(t => Array.from(t.customdata))).size,
        webgl: chart.querySelectorAll('canvas').length,
        regions: Array.from(chart.querySelectorAll('.annotation-text')).map(e => e.textContent).filter(t => t),
    };
}"""


MAP_CHART = '[data-testid="stMain"] .js-plotly-plot'


def map_drawing(page, timeout_ms: int = 120_000) -> dict:
    """What the Map tab's chart drew, once plotly has drawn it."""
    page.wait_for_function(f"({DRAWN})() !== null", timeout=timeout_ms, polling=200)
    return page.evaluate(DRAWN)


@pytest.mark.slow
def test_map_tab_draws_every_item_and_names_regions_in_chromium(browser_ready, app_index_dir):
    from embedspace.index.store import Index

    items = len(Index.open("demo", str(app_index_dir)).items)
    env = {"EMBEDSPACE_INDEX_DIR": str(app_index_dir), "EMBEDSPACE_CACHE_DIR": os.environ["EMBEDSPACE_CACHE_DIR"]}
    with streamlit_server(env) as url, chromium_page() as page:
        page.goto(url)
        wait_until_idle(page)
        # The Search page draws the map in the closed Map tab (app.py's prepare_map), out of sight
        page.wait_for_function(f"document.querySelector({json.dumps(MAP_CHART)}) !== null", timeout=120_000)
        assert page.evaluate(f"({DRAWN})()") is None
        assert not page.get_by_text("Region names", exact=True).is_visible()
        page.get_by_role("tab", name="Map", exact=True).click()
        wait_until_idle(page)
        drawn = map_drawing(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-map.png"), full_page=True)
        assert drawn["points"] == drawn["ids"] == items, drawn
        assert drawn["webgl"] >= 1  # scattergl draws on a canvas
        assert drawn["regions"], drawn
        assert page.locator('[data-testid="stMain"] .js-plotly-plot .annotation-text').first.is_visible()
        assert page.locator('[data-testid="stException"]').count() == 0


# -- where the app listens ---------------------------------------------------------------------------
def listening_addresses(port: int) -> set:
    """The local addresses with a TCP socket listening on `port`, from the kernel's tables."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, local_port = local.split(":")
            if state == "0A" and int(local_port, 16) == port:  # 0A: LISTEN
                # The kernel prints the address as 32-bit words in the machine's byte order.
                words = (int(address[i:i + 8], 16) for i in range(0, len(address), 8))
                found.add(str(ipaddress.ip_address(b"".join(word.to_bytes(4, sys.byteorder) for word in words))))
    return found


def outside_addresses() -> list:
    """This machine's addresses that another machine would reach it at: the source address of its
    route out (a UDP 'connect' sends nothing), for IPv4 and IPv6; none where there is no route."""
    addresses = set()
    for family, somewhere in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):  # documentation ranges
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((somewhere, 9))
                addresses.add(probe.getsockname()[0])
        except OSError:
            continue
    return sorted(a for a in addresses if not ipaddress.ip_address(a).is_loopback)


def answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads Linux's /proc/net/tcp")
def test_make_run_listens_on_localhost_only():
    """`make run` is `streamlit run app.py` in the checkout, with no address: .streamlit/config.toml
    must keep the explorer (indexes on disk, uploads) off the network. No page is opened, so the app
    itself never runs and needs no index."""
    with streamlit_server({"STREAMLIT_SERVER_ADDRESS": None}, address=None) as url:
        port = int(url.rsplit(":", 1)[1])
        assert listening_addresses(port) == {"127.0.0.1"}
        for address in outside_addresses():
            assert not answers(address, port), f"the app answers at {address}:{port}"


# -- text from an index is shown as typed ------------------------------------------------------------
# In the page: no image, formula, coloured text, emoji, link or bold text made from an item.
RENDERED = r"""() => {
    const page = document.body;  // select box options open in a layer outside the app
    const made = (selector, test) => Array.from(page.querySelectorAll(selector)).filter(test).map(e => e.outerHTML);
    return {
        images: made('img', e => /127\.0\.0\.1:9|pixel|^x$/.test(e.getAttribute('src') || '')),
        formulas: made('.katex, math, mjx-container', () => true),
        coloured: made('span', e => e.innerText.trim() === 'alarm'),
        links: made('a', e => /example\.com|127\.0\.0\.1:9\//.test(e.href || '')),
        bold: made('strong, b', e => e.innerText.trim() === 'bold'),
        emoji: page.innerText.includes('\u{1F604}') ? ['😄'] : [],
    };
}"""
NOTHING = {"images": [], "formulas": [], "coloured": [], "links": [], "bold": [], "emoji": []}


@pytest.mark.slow
def test_hostile_items_show_as_typed_in_chromium(browser_ready, tmp_path):
    root = hostile_items.build_hostile_index(tmp_path)
    # EMBEDSPACE_MAP_ASK_ABOVE=1: the Map tab waits for a button instead of computing UMAP (numba compiles
    # for half a minute); the test picks PCA, which is computed at once.
    env = {"EMBEDSPACE_INDEX_DIR": str(root), "EMBEDSPACE_CACHE_DIR": os.environ["EMBEDSPACE_CACHE_DIR"],
           "EMBEDSPACE_MAP_ASK_ABOVE": "1"}
    with streamlit_server(env) as url, chromium_page() as page:
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(url)
        wait_until_idle(page)
        titles = search(page, hostile_items.HOSTILE[0])  # every item: 11 cards
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-hostile-labels.png"), full_page=True)
        assert page.evaluate(RENDERED) == NOTHING
        assert not [address for address in requests if "127.0.0.1:9" in address or "example.com" in address]
        for hostile in hostile_items.HOSTILE:
            assert page.get_by_text(hostile, exact=True).first.is_visible(), hostile
        assert set(titles) == set(hostile_items.HOSTILE) | {f"{hostile_items.HOSTILE[0]} {hostile_items.IMAGE_NAME}"}
        # The map: the search's results are offered in a select box; the one picked is shown beside the map.
        page.get_by_role("tab", name="Map", exact=True).click()
        wait_until_idle(page)
        page.get_by_text("PCA (fast)", exact=True).click()
        wait_until_idle(page)
        picker = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text("Show a highlighted item"))
        picker.locator('[role="combobox"], input').first.click()
        options = page.get_by_role("option")
        assert {hostile for hostile in hostile_items.HOSTILE if options.filter(has_text=hostile).count()} == \
            set(hostile_items.HOSTILE)
        assert page.evaluate(RENDERED) == NOTHING
        options.filter(has_text=hostile_items.HOSTILE[0]).first.click()
        wait_until_idle(page)
        page.screenshot(path=str(ARTIFACTS / "browser-hostile-map-item.png"), full_page=True)
        assert page.get_by_text(f"the image of its concept {hostile_items.HOSTILE[0]}", exact=True).is_visible()
        assert page.evaluate(RENDERED) == NOTHING
        assert not [address for address in requests if "127.0.0.1:9" in address or "example.com" in address]
        assert page.locator('[data-testid="stException"]').count() == 0
