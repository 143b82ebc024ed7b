"""An interrupted build resumes from its last finished chunk: nothing lost, nothing embedded twice."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from wordfreq import top_n_list

from embedspace import load_space
from embedspace.errors import IndexStateError
from embedspace.index.build import build_index
from embedspace.index.sources import ReadOptions
from embedspace.index.store import Index

CHUNK = 40


@pytest.mark.slow
def test_sigkill_midway_then_resume(tmp_path):
    words = [w for w in top_n_list("es", 1200) if w.isalpha()][:600]
    source = tmp_path / "palabras.txt"
    source.write_text("\n".join(words))
    root = tmp_path / "indexes"
    command = [str(Path(sys.executable).parent / "embedspace"), "build", "w", str(source), "--space", "e5-small",
               "--lang", "es", "--chunk-size", str(CHUNK), "--index-dir", str(root), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    staging = root / ".w.build"
    deadline = time.time() + 120
    while len(list(staging.glob("chunk-*.json"))) < 3:  # e5-small embeds ~80 texts/s here
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "the build never wrote three chunks"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(staging.glob("chunk-*.json")))
    assert done_before < len(words) // CHUNK and not (root / "w").exists()

    with pytest.raises(IndexStateError, match="--resume"):
        build_index("w", [source], space="e5-small", read_options=ReadOptions(lang="es"), index_dir=root,
                    chunk_size=CHUNK)
    with pytest.raises(IndexStateError, match="other chunk_size"):
        build_index("w", [source], space="e5-small", read_options=ReadOptions(lang="es"), index_dir=root,
                    chunk_size=CHUNK + 1, resume=True)
    report = build_index("w", [source], space="e5-small", read_options=ReadOptions(lang="es"), index_dir=root,
                         chunk_size=CHUNK, resume=True)
    assert report.resumed_chunks == done_before
    assert not staging.exists()

    index = Index.open("w", root)
    assert index.items["text"].tolist() == words  # nothing lost, nothing duplicated, in order
    assert index.items["id"].tolist() == list(range(len(words)))
    space = load_space("e5-small")
    rows = [0, CHUNK * done_before - 1, CHUNK * done_before, len(words) - 1]  # both sides of the kill
    expected = space.embed_texts([words[r] for r in rows])
    np.testing.assert_allclose(index.vectors_f32(rows), expected, atol=2e-3)  # float16 storage


def test_restart_discards_an_interrupted_build(tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("king\nqueen\n")
    staging = tmp_path / ".w.build"
    staging.mkdir()
    (staging / "chunk-000000.json").write_text("{}")
    report = build_index("w", [source], space="glove-6b-50d", read_options=ReadOptions(lang="en"),
                         index_dir=tmp_path, restart=True)
    assert report.added == 2 and report.resumed_chunks == 0
    assert not staging.exists()


def test_resume_after_a_kill_before_the_build_state_was_written(tmp_path):
    """Killed between creating .NAME.build and writing its state.json: no chunk can be there yet, so
    --resume starts the build afresh (it used to refuse: 'used other chunk_size, index_type, ...')."""
    source = tmp_path / "words.txt"
    source.write_text("dog\ncat\nhouse\n")
    root = tmp_path / "indexes"
    (root / ".w.build").mkdir(parents=True)  # what the kill left
    build_index("w", [source], space="glove-6b-50d", index_dir=root, resume=True)
    assert Index.open("w", root).items["text"].tolist() == ["dog", "cat", "house"]
    assert not (root / ".w.build").exists()


def test_a_build_killed_after_its_commit_leaves_nothing_to_resume(tmp_path, monkeypatch):
    """Killed after replacing CURRENT but before removing .NAME.build: the staged chunks are in the
    index already, so the next add neither asks for --resume nor refuses it for 'other base'."""
    from embedspace.index import build as build_module

    root, first, second = tmp_path / "indexes", tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("dog\ncat\n")
    second.write_text("house\ntree\n")
    options = ReadOptions(lang="en")
    build_index("w", [first], space="glove-6b-50d", read_options=options, index_dir=root)
    real_rmtree = build_module.shutil.rmtree
    monkeypatch.setattr(build_module.shutil, "rmtree", lambda path, **kw: None if str(path).endswith(".w.build")
                        else real_rmtree(path, **kw))
    build_index("w", [second], read_options=options, index_dir=root, add=True)  # "killed" before the clean-up
    monkeypatch.undo()
    assert (root / ".w.build").exists()
    third = tmp_path / "c.txt"
    third.write_text("river\n")
    build_index("w", [third], read_options=options, index_dir=root, add=True)  # used to ask for --resume
    build_index("w", [second], read_options=options, index_dir=root, add=True, resume=True)  # used to refuse
    assert Index.open("w", root).items["text"].tolist() == ["dog", "cat", "house", "tree", "river"]
    assert not (root / ".w.build").exists()
