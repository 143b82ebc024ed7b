"""The real `embedspace serve` on a loopback port: what it says at start, refusals on the wire,
readers while a CLI `add` (another process) commits, and a seeded, time-capped schemathesis run
against its live OpenAPI schema."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from .serving import ROOT, TOKEN, live_server

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_help_does_not_import_the_server():
    """`embedspace --help` stays fast: the web stack loads only when `serve` runs."""
    code = ("import sys\nfrom embedspace.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'pydantic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_server_says_what_it_is_open_to_and_refuses_on_the_wire(served):
    with live_server(served) as (url, log):
        said = log.read_text()
        assert f"Listening on {url} (this machine only)." in said
        assert "Writes: refused (no token" in said and "CORS: none" in said and "words: 36 items" in said
        with httpx.Client(base_url=url) as client:
            assert client.post("/indexes/words/search", json={"text": "perro", "k": 1}).json()["results"][0][
                "text"] == "perro"
            assert client.post("/indexes/words/items", json={"items": [{"text": "x"}]}).status_code == 403

            def chunks():  # no Content-Length: the size is only known as the body streams in
                for _ in range(20):
                    yield b" " * (1024 * 1024)

            streamed = client.post("/indexes/words/search", content=chunks(), headers={"content-type": "application/json"})
            assert streamed.status_code == 413 and streamed.json()["error"] == "too_large"
            rebinding = client.get("/indexes", headers={"host": "attacker.example"})
            assert rebinding.status_code == 400


@pytest.mark.slow
def test_readers_never_fail_while_a_cli_add_commits(writable, tmp_path):
    """Two `embedspace add` runs (real processes) commit while four clients keep searching: every
    read answers 200 with whole results, and the new items are found without a restart."""
    new_words = []
    for number, words in enumerate((["Löwe", "Tiger", "Zebra"], ["Giraffe", "Elefant"])):
        path = tmp_path / f"new-{number}.txt"
        path.write_text("\n".join(words))
        new_words.append(path)
    with live_server(writable) as (url, _):
        stop, failures, answered = threading.Event(), [], []

        def read():
            with httpx.Client(base_url=url, timeout=30) as client:
                while not stop.is_set():
                    try:
                        answer = client.post("/indexes/words/search", json={"text": "Tier", "k": 5, "lang": "de"})
                        if answer.status_code != 200 or len(answer.json()["results"]) != 5:
                            failures.append(answer.text)
                        answered.append(answer.json()["results"][0]["id"])
                    except Exception as exc:  # noqa: BLE001 - any failure of a read is what this test looks for
                        failures.append(repr(exc))

        readers = [threading.Thread(target=read) for _ in range(4)]
        for thread in readers:
            thread.start()
        try:
            for path in new_words:
                subprocess.run([sys.executable, "-m", "embedspace.cli", "add", "words", str(path), "--lang", "de",
                                "--index-dir", str(writable), "--quiet"], check=True, cwd=ROOT, capture_output=True)
            time.sleep(1.0)
        finally:
            stop.set()
            for thread in readers:
                thread.join()
        assert not failures, failures[:3]
        assert len(answered) > 20
        with httpx.Client(base_url=url) as client:
            assert client.get("/indexes/words").json()["items"] == 41
            found = client.post("/indexes/words/search", json={"text": "Elefant", "k": 1}).json()["results"][0]
            assert (found["text"], found["id"]) == ("Elefant", 40)


@pytest.mark.slow
def test_schemathesis_finds_no_failure_against_the_live_schema(writable, tmp_path):
    """Seeded and capped at 40 s: every phase, writes included (with the token), on a copy of the index."""
    config = tmp_path / "schemathesis.toml"
    config.write_text('[parameters]\n"path.name" = "words"\n')  # the index there is, not random names (404)
    schemathesis = Path(sys.executable).parent / "schemathesis"
    with live_server(writable, "--token", TOKEN) as (url, log):
        run = subprocess.run([str(schemathesis), "--config-file", str(config), "run", f"{url}/openapi.json",
                              "--checks", CHECKS, "--seed", "2024", "--max-time", "40", "--max-examples", "30",
                              "--workers", "1", "--header", f"Authorization: Bearer {TOKEN}",
                              "--generation-database", "none", "--no-color"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=180)
        served_log = log.read_text()
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert "Traceback" not in served_log
    summary = run.stdout[run.stdout.index("SUMMARY"):]
    assert "Tested: 13" in summary and " passed" in summary and "failed" not in summary.lower()


@pytest.mark.slow
def test_the_docs_page_renders_offline_in_chromium(served):
    """Swagger UI draws every operation with no request leaving this machine (any other is aborted)."""
    from streamlit_browser import chromium_page, missing_browser

    problem = missing_browser()
    if problem and os.environ.get("EMBEDSPACE_REQUIRE_BROWSER") == "1":  # CI: a missing browser fails
        pytest.fail(f"EMBEDSPACE_REQUIRE_BROWSER=1, but {problem}.")
    if problem:
        pytest.skip(f"No real browser here: {problem}.")
    elsewhere = []

    def only_this_server(route):
        if route.request.url.startswith(url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with live_server(served) as (url, _), chromium_page() as page:
        page.route("**/*", only_this_server)
        page.goto(f"{url}/docs")
        page.wait_for_selector(".opblock", timeout=60_000)
        operations = page.locator(".opblock-summary-path").all_inner_texts()
        artifacts = ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        page.screenshot(path=str(artifacts / "serve-docs.png"), full_page=True)
    assert not elsewhere, elsewhere
    assert len(operations) == 13 and "/indexes/{name}/search" in [o.replace("\u200b", "") for o in operations]
