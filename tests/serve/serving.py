"""A small index served two ways: in process through FastAPI's TestClient, and live (the real
`embedspace serve` in a subprocess on a free loopback port, always stopped afterwards).

tests/serve is a package so that its conftest.py (the fixtures) is `serve.conftest`, not a second
module named `conftest` beside the one other test modules import helpers from."""

import base64
import io
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
from fastapi.testclient import TestClient
from PIL import Image

from embedspace.index.build import build_index
from embedspace.index.sources import ReadOptions
from embedspace.serve import ServeSettings, create_app

TOKEN = "a-test-token-of-some-length"
BASE_URL = "http://127.0.0.1"  # TestClient's own default, testserver, is not a Host the server answers to
ROOT = Path(__file__).resolve().parents[2]
WORDS = [  # concept, label, en, es, de
    ("dog", "animal", "dog", "perro", "Hund"), ("cat", "animal", "cat", "gato", "Katze"),
    ("horse", "animal", "horse", "caballo", "Pferd"), ("car", "thing", "car", "coche", "Auto"),
    ("house", "thing", "house", "casa", "Haus"), ("book", "thing", "book", "libro", "Buch"),
    ("king", "person", "king", "rey", "König"), ("queen", "person", "queen", "reina", "Königin"),
    ("man", "person", "man", "hombre", "Mann"), ("woman", "person", "woman", "mujer", "Frau"),
    ("water", "thing", "water", "agua", "Wasser"), ("bread", "thing", "bread", "pan", "Brot"),
]


def build_words(folder: Path) -> Path:
    rows = [{"text": word, "lang": lang, "label": label, "concept": concept}
            for concept, label, *names in WORDS for lang, word in zip(("en", "es", "de"), names)]
    pd.DataFrame(rows).to_csv(folder / "words.csv", index=False)
    build_index("words", [folder / "words.csv"], space="use-m3", index_dir=folder / "indexes",
                read_options=ReadOptions(lang_column="lang", label_column="label", concept_column="concept"))
    return folder / "indexes"


def client_for(index_dir, **settings) -> TestClient:
    return TestClient(create_app(ServeSettings(index_dir=str(index_dir), **settings)), base_url=BASE_URL)


def bearer(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(index_dir, *args, timeout: float = 120, log: Path | None = None):
    """`embedspace serve` in a subprocess on a free loopback port: yields (base URL, log file);
    stopped (SIGINT, then killed) whatever happens. benchmarks/serve.py uses it too."""
    port = free_port()
    log = Path(log or Path(index_dir).parent / f"serve-{port}.log")
    command = [sys.executable, "-m", "embedspace.cli", "serve", "--port", str(port), "--index-dir", str(index_dir),
               *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start in {timeout} s:\n{log.read_text()}")
            time.sleep(0.2)
        yield url, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
