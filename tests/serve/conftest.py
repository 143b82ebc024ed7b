"""Fixtures of the server tests: a small served index, a copy to write to, a read-only client."""

import shutil

import pytest

from .serving import build_words, client_for


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """A folder with index 'words' (use-m3: 36 words in en, es, de, with labels and concepts)."""
    return build_words(tmp_path_factory.mktemp("served"))


@pytest.fixture()
def writable(served, tmp_path):
    """A copy of the served folder that a test may write to."""
    shutil.copytree(served, tmp_path / "indexes", ignore=shutil.ignore_patterns(".*.lock"))
    return tmp_path / "indexes"


@pytest.fixture(scope="session")
def reader(served):
    """A client of a server without a token (reads only), shared by the tests that only read."""
    with client_for(served) as client:
        yield client


