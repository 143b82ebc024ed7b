"""The app in a real browser: `streamlit run app.py` on a free localhost port, headless Chromium.

Searches for "gato", then for "perro", on the small demo index of conftest.py, and checks that the
dog results replace the cat results; saves a screenshot to test-artifacts/ (git-ignored).
Skips when Chromium or Playwright is missing, unless EMBEDSPACE_REQUIRE_BROWSER=1 (set by
.ci/run, which also installs Chromium), where that is a failure.
"""

import os

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


TITLES = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] strong'))
    .filter(element => !element.closest('[data-testid="stCaptionContainer"]'))
    .map(element => element.innerText.trim())"""


def result_titles(page) -> list:
    """The gallery's card titles: bold text outside the captions (the scores are bold there too)."""
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
        assert {"dog", "hund"} <= set(dogs[:4]), dogs
        assert "cat" not in dogs[:3]
        assert page.locator('[data-testid="stException"]').count() == 0
        assert shot.stat().st_size > 10_000
