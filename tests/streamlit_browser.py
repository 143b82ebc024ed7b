"""The app in a real browser: `streamlit run` on a free localhost port, driven by headless Chromium.

Used by tests/test_browser.py and docs/screenshots.py. Chromium is Debian's (/usr/bin/chromium,
package `chromium`), driven by Playwright's Python package through `executable_path`, so
Playwright never downloads a browser of its own. Each launch gets a fresh profile folder and the
flags that keep Chromium off the network (no sync, updates, background requests or QUIC).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
START_TIMEOUT = 120  # s: the server answers its health check within seconds, even on a busy machine


def chromium_path() -> str | None:
    """Debian's Chromium, or CHROMIUM_PATH; None when neither is installed."""
    for candidate in (os.environ.get("CHROMIUM_PATH"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_browser() -> str | None:
    """Why the browser cannot run here (what to install), or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package 'playwright' is not installed (pip install -r requirements.txt)"
    if chromium_path() is None:
        return "Chromium is not installed (Debian: apt-get install -y chromium)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict | None = None, app: Path = ROOT / "app.py", address: str | None = "127.0.0.1"):
    """Start `streamlit run app.py` headless on a free port; yield its URL; stop it afterwards.

    address=None passes no address, as `make run` does, so the checkout's .streamlit/config.toml
    decides; a None value in `env` unsets that variable.
    """
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
               *(["--server.address", address] if address else []), "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    environment = {name: value for name, value in {**os.environ, **(env or {})}.items() if value is not None}
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_healthy(url: str, process, log) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log.read().decode(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"streamlit did not answer at {url} within {START_TIMEOUT} s")


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 1000):
    """A page of headless Chromium with a fresh profile, closed afterwards."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="embedspace-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": width, "height": height}, device_scale_factor=1,
            )
            try:
                yield context.pages[0] if context.pages else context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


IDLE_SCRIPT = """() => {
    const status = document.querySelector('[data-testid="stStatusWidget"]');
    const busy = status && /Running|Stop/.test(status.innerText);
    const skeleton = document.querySelector('[data-testid="stSkeleton"]');
    return !busy && !skeleton;
}"""


def wait_until_idle(page, timeout_ms: int = 240_000) -> None:
    """Wait for Streamlit to finish the current run: its status widget offers 'Stop' until then.

    A run can start a moment after a click or a page load, so idle must hold twice, 1 s apart.
    """
    page.wait_for_selector('[data-testid="stMain"]', timeout=timeout_ms)
    for _ in range(2):
        page.wait_for_timeout(1000)
        page.wait_for_function(IDLE_SCRIPT, timeout=timeout_ms, polling=250)
