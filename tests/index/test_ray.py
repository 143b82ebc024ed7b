"""The Ray runner: the same index as the sequential one (up to float rounding: tests/reproducibility.py), a
killed worker costs only its chunk, and resume works across runners. One local 2-CPU cluster
serves every test (conftest)."""

import os
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reproducibility import SCORE_ATOL, assert_same_index, assert_same_ranking, assert_same_results, assert_same_vectors
from wordfreq import top_n_list

import embedspace.index.ray_runner as ray_runner
from embedspace import query
from embedspace.cli import main
from embedspace.errors import EmbedspaceError, InputError, SpaceUnavailableError
from embedspace.index.build import SequentialRunner, build_index, remove_items
from embedspace.index.ray_runner import ChunkEmbedder, RayRunner, check_images_reachable
from embedspace.index.sources import Chunk, ReadOptions
from embedspace.index.store import Index

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def multilingual_csv(tmp_path_factory):
    """~600 frequent words in three languages, with an empty row to be skipped and reported."""
    rows = [{"text": word, "lang": lang, "rank": rank}
            for lang in ("en", "es", "de")
            for rank, word in enumerate([w for w in top_n_list(lang, 400) if w.isalpha()][:200])]
    rows.insert(17, {"text": "", "lang": "en", "rank": -1})
    path = tmp_path_factory.mktemp("data") / "words.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def glove_txt(tmp_path_factory):
    """English words GloVe knows, and some it does not (skipped by the embedder, not the reader)."""
    words = [w for w in top_n_list("en", 700) if w.isalpha()][:500] + ["zzqxwv", "qqqzzk"]
    path = tmp_path_factory.mktemp("data") / "words.txt"
    path.write_text("\n".join(words))
    return path


def _build(root, name, source, runner=None, space="glove-6b-50d", chunk_size=40, **kwargs):
    options = ReadOptions(lang="en") if str(source).endswith(".txt") else ReadOptions(lang_column="lang")
    return build_index(name, [source], space=space, read_options=options, index_dir=root, chunk_size=chunk_size,
                       runner=runner, **kwargs)


def test_ray_build_equals_sequential_build(ray_cluster, multilingual_csv, tmp_path):
    seq = _build(tmp_path, "seq", multilingual_csv, space="use-m3", chunk_size=50)
    runner = RayRunner()
    ray = _build(tmp_path, "ray", multilingual_csv, runner=runner, space="use-m3", chunk_size=50)
    assert ray.added == seq.added == 600 and len(ray.skipped) == len(seq.skipped) == 1
    # the sequential build embedded with one thread per core, each actor with one: see VECTOR_ATOL
    assert_same_index(tmp_path, "seq", tmp_path, "ray")
    a, b = Index.open("seq", tmp_path), Index.open("ray", tmp_path)
    pd.testing.assert_frame_equal(a.items, b.items)
    assert a.kind == b.kind == "flat"
    space = a.load_space()
    queries = ["perro", "house", "Wasser", "ciudad", "money", "Kind", "rojo", "school"]
    found_a = query.search_many(a, space, texts=queries, k=10)
    found_b = query.search_many(b, space, texts=queries, k=10)
    assert_same_results(found_a, found_b, SCORE_ATOL)  # flat search: the same items, near-ties aside, and scores
    # ...and these checks still see real differences: a chunk from another space (a rotation of
    # this one), a chunk from other weights (noise of 1e-4), an item lost, two items swapped
    stored = np.load(Index.open("seq", tmp_path).folder / "vectors.npy")
    rng = np.random.default_rng(0)
    other_space, other_weights = stored.copy(), stored.copy()
    other_space[50:100] = stored[50:100].astype(np.float32) @ np.linalg.qr(rng.normal(size=(512, 512)))[0]
    other_weights[50:100] += rng.normal(0, 1e-4, (50, 512)).astype(np.float16)
    for wrong in (other_space, other_weights, np.delete(stored, 17, axis=0), stored[[1, 0, *range(2, 600)]]):
        with pytest.raises(AssertionError):
            assert_same_vectors(stored, wrong)
    house = int(b.items.loc[b.items["text"] == "house", "id"].iloc[0])
    shutil.copytree(tmp_path / "ray", tmp_path / "lost" / "ray")
    assert remove_items("ray", ids=[house], index_dir=tmp_path / "lost") == 1
    with pytest.raises(AssertionError, match="items.parquet"):
        assert_same_index(tmp_path, "seq", tmp_path / "lost", "ray")
    with pytest.raises(AssertionError):
        assert_same_results(found_a, query.search_many(Index.open("ray", tmp_path / "lost"), space, texts=queries, k=10),
                            SCORE_ATOL)
    swapped = [{**q, "results": [q["results"][1], q["results"][0], *q["results"][2:]]} for q in found_a]
    with pytest.raises(AssertionError):  # no query's first two results are tied
        assert_same_results(found_a, swapped, SCORE_ATOL)
    # the work really ran on Ray: two workers, each loaded the space itself and embedded chunks
    stats = runner.stats
    assert stats.workers == 2 and stats.chunks == 12 and stats.items == 600 and stats.restarts == 0
    assert len(stats.worker_items) == 2 and all(os.getpid() != int(w.split(":")[1]) for w in stats.worker_items)
    assert b.manifest["builds"][-1]["runner"]["runner"] == "ray"
    assert "Ray: 2 worker(s)" in ray.summary()


class LogChunks(ChunkEmbedder):
    """Logs every chunk it starts, with its pid, to see what was embedded again (embedded_chunks)."""

    folder = None  # set by the test; the class travels to the workers by value, with it

    def __call__(self, batch):
        for seq in batch["seq"]:
            with open(Path(self.folder) / "embedded.log", "a") as log:
                log.write(f"{int(seq)} {os.getpid()}\n")
            self.started(int(seq))
        return super().__call__(batch)

    def started(self, seq):
        pass


def embedded_chunks(folder) -> list:
    """(chunk, pid) for every chunk a LogChunks actor started, in order."""
    return [tuple(int(x) for x in line.split()) for line in (Path(folder) / "embedded.log").read_text().splitlines()]


class KillOnce(LogChunks):
    """Kills its own process (SIGKILL, no cleanup) the first time it gets chunk KILL_SEQ."""

    KILL_SEQ = 3

    def started(self, seq):
        marker = Path(self.folder) / "kill-marker"
        if seq == self.KILL_SEQ and marker.exists():
            marker.unlink()
            os.kill(os.getpid(), signal.SIGKILL)


class FailOn(ChunkEmbedder):
    def _embed(self, seq, payload):
        if seq == 2:
            raise InputError("chunk 2 cannot be embedded here")
        return super()._embed(seq, payload)


@pytest.fixture
def custom_embedder(monkeypatch, tmp_path):
    """Swap the runner's actor class for one of this module's (shipped to the workers by value)."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])

    def use(cls):
        monkeypatch.setattr(cls, "folder", str(tmp_path), raising=False)
        monkeypatch.setattr(ray_runner, "ChunkEmbedder", cls)

    yield use
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_killed_worker_costs_only_its_chunk(ray_cluster, glove_txt, tmp_path, custom_embedder):
    (tmp_path / "kill-marker").touch()
    custom_embedder(KillOnce)
    runner = RayRunner()
    report = _build(tmp_path / "ray", "w", glove_txt, runner=runner)
    assert not (tmp_path / "kill-marker").exists(), "the worker was never killed"
    log = embedded_chunks(tmp_path)
    starts = pd.Series([seq for seq, _ in log]).value_counts()
    chunks = -(-502 // 40)
    assert sorted(starts.index) == list(range(chunks))
    assert starts[KillOnce.KILL_SEQ] == 2 and (starts.drop(KillOnce.KILL_SEQ) == 1).all()  # only its chunk again
    assert len({pid for seq, pid in log if seq == KillOnce.KILL_SEQ}) == 2  # redone by a new process
    assert runner.stats.chunks == chunks
    # restarts counts replacement processes that delivered chunks: Ray may hand the killed chunk to
    # the surviving actor before the replacement starts, and then the replacement delivers none
    assert runner.stats.restarts in (0, 1)
    assert ("died and were replaced" in report.summary()) == (runner.stats.restarts == 1)

    _build(tmp_path / "seq", "w", glove_txt)
    assert_same_index(tmp_path / "ray", "w", tmp_path / "seq", "w")  # nothing lost, nothing twice
    assert len(Index.open("w", tmp_path / "ray")) == 500


def test_error_in_a_worker_reaches_the_caller_as_itself(ray_cluster, glove_txt, tmp_path, custom_embedder):
    custom_embedder(FailOn)
    with pytest.raises(InputError, match="^chunk 2 cannot be embedded here$"):
        _build(tmp_path, "w", glove_txt, runner=RayRunner())
    # the chunks that finished are staged for --resume; the cluster is free for the next build
    assert len(list((tmp_path / ".w.build").glob("chunk-*.json"))) >= 1


def lose_work(monkeypatch, rows: int, datasets: int) -> list:
    """Ray losing a node, as the driver sees it: the first `datasets` datasets deliver `rows` rows,
    then raise ActorUnavailableError (what benchmarks/ray_multinode.py got, with Ray's retries of
    the dead node's chunks used up before Ray declared the node dead). Returns the chunks each
    dataset delivered."""
    import ray.data
    from ray.exceptions import ActorUnavailableError

    real, delivered = ray.data.Dataset.iter_rows, []

    def iter_rows(self, *args, **kwargs):
        delivered.append([])
        for row in real(self, *args, **kwargs):
            if len(delivered) <= datasets and len(delivered[-1]) == rows:
                raise ActorUnavailableError("The actor is temporarily unavailable: RpcError: RPC error: failed to connect "
                                            "to all addresses; Connection refused rpc_code: 14", None)
            delivered[-1].append(int(row["seq"]))
            yield row

    monkeypatch.setattr(ray.data.Dataset, "iter_rows", iter_rows)
    return delivered


def test_lost_node_costs_only_the_chunks_not_yet_written(ray_cluster, glove_txt, tmp_path, custom_embedder, monkeypatch):
    custom_embedder(LogChunks)
    delivered = lose_work(monkeypatch, rows=4, datasets=1)
    runner = RayRunner()
    report = _build(tmp_path / "ray", "w", glove_txt, runner=runner)
    assert len(delivered) == 2 and len(delivered[0]) == 4  # the chunks still missing went to a second dataset
    starts = pd.Series([seq for seq, _ in embedded_chunks(tmp_path)]).value_counts()
    chunks = -(-502 // 40)
    assert sorted(starts.index) == list(range(chunks))
    assert (starts[delivered[0]] == 1).all()  # the chunks written before the loss were not embedded again
    assert sorted(delivered[0] + delivered[1]) == list(range(chunks))
    assert runner.stats.chunks == chunks and runner.stats.lost == 1
    assert "Ray lost workers or a node once" in report.summary()
    _build(tmp_path / "seq", "w", glove_txt)
    assert_same_index(tmp_path / "ray", "w", tmp_path / "seq", "w")


def test_work_lost_again_and_again_stops_with_a_resume_hint(ray_cluster, glove_txt, tmp_path, monkeypatch):
    delivered = lose_work(monkeypatch, rows=1, datasets=100)
    with pytest.raises(EmbedspaceError, match="Ray lost workers or a node 4 times.*run the same command with --resume"):
        _build(tmp_path / "ray", "w", glove_txt, runner=RayRunner())
    assert len(delivered) == 1 + ray_runner.LOST_WORK_RETRIES == 4  # bounded: no endless loop
    assert len(list((tmp_path / "ray" / ".w.build").glob("chunk-*.json"))) == 4  # each dataset's one chunk is kept
    monkeypatch.undo()
    report = _build(tmp_path / "ray", "w", glove_txt, resume=True)
    assert report.resumed_chunks == 4
    _build(tmp_path / "seq", "w", glove_txt)
    assert_same_index(tmp_path / "ray", "w", tmp_path / "seq", "w")


class StopAfter(SequentialRunner):
    """A sequential build interrupted after a few chunks (as by Ctrl-C)."""

    def __init__(self, chunks):
        self.left = chunks

    def run(self, chunks, space, store, progress=False):
        def limited():
            for chunk in chunks:
                if self.left == 0:
                    raise KeyboardInterrupt
                self.left -= 1
                yield chunk

        return super().run(limited(), space, store, progress)


def test_resume_across_runners(ray_cluster, glove_txt, tmp_path, monkeypatch):
    _build(tmp_path / "ref", "w", glove_txt)

    # sequential build interrupted after 4 chunks, resumed with Ray: only the rest is embedded
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path / "a", "w", glove_txt, runner=StopAfter(4))
    runner = RayRunner(workers=1)
    report = _build(tmp_path / "a", "w", glove_txt, runner=runner, resume=True)
    assert report.resumed_chunks == 4 and runner.stats.chunks == 13 - 4
    assert_same_index(tmp_path / "a", "w", tmp_path / "ref", "w")

    # Ray build interrupted after 3 chunks were written, resumed sequentially
    import embedspace.index.build as build_module

    real_write, written = build_module.ChunkStore.write, []

    def write_then_stop(self, seq, *args):
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(seq)
        real_write(self, seq, *args)

    monkeypatch.setattr(build_module.ChunkStore, "write", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path / "b", "w", glove_txt, runner=RayRunner())
    monkeypatch.setattr(build_module.ChunkStore, "write", real_write)
    report = _build(tmp_path / "b", "w", glove_txt, resume=True)
    assert report.resumed_chunks == 3
    assert_same_index(tmp_path / "b", "w", tmp_path / "ref", "w")


def test_cli_build_with_ray_and_partitions(ray_cluster, glove_txt, tmp_path, capsys):
    root = str(tmp_path)
    assert main(["build", "w", str(glove_txt), "--space", "glove-6b-50d", "--lang", "en", "--runner", "ray",
                 "--workers", "2", "--partitions", "3", "--chunk-size", "100", "--quiet", "--index-dir", root]) == 0
    out = capsys.readouterr().out
    assert "Ray: 2 worker(s) x 1 CPU on the Ray session of this process" in out
    assert main(["info", "w", "--index-dir", root]) == 0
    info = capsys.readouterr().out
    assert "partitions: 3 FAISS files by item id, memory-mapped" in info and "index-002.faiss: ids" in info
    assert main(["build", "x", str(glove_txt), "--workers", "2", "--index-dir", root]) == 2
    assert "--workers only apply to --runner ray" in capsys.readouterr().err
    assert main(["build", "x", str(glove_txt), "--runner", "ray", "--workers", "64", "--index-dir", root]) == 2
    assert "the Ray cluster has 2" in capsys.readouterr().err


def test_cli_joins_a_running_cluster(ray_cluster, glove_txt, tmp_path):
    """Another process joins the cluster by its address, as `--address HEAD:6379` on a multi-node
    cluster: its workers run there, and the index is the sequential one."""
    import subprocess

    address = ray_cluster.get_runtime_context().gcs_address
    command = [str(Path(sys.executable).parent / "embedspace"), "build", "w", str(glove_txt), "--space", "glove-6b-50d",
               "--lang", "en", "--runner", "ray", "--address", address, "--chunk-size", "100", "--quiet",
               "--index-dir", str(tmp_path / "ray")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"on Ray at {address}" in done.stdout
    _build(tmp_path / "seq", "w", glove_txt, chunk_size=100)
    assert_same_index(tmp_path / "ray", "w", tmp_path / "seq", "w")
    assert ray_cluster.is_initialized()  # the joining process left the cluster running


def test_unreachable_address_is_a_clear_error(tmp_path, glove_txt):
    import subprocess

    command = [str(Path(sys.executable).parent / "embedspace"), "build", "w", str(glove_txt), "--space", "glove-6b-50d",
               "--lang", "en", "--runner", "ray", "--address", "127.0.0.1:1", "--quiet", "--index-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "error: Could not start or join the Ray cluster at 127.0.0.1:1: nothing answers there" in done.stderr
    assert not (tmp_path / ".w.build").exists()  # refused before anything was read or staged


# -- no cluster needed ------------------------------------------------------------------------------
def test_near_ties_may_swap_and_nothing_else():
    ids, scores = [1, 2, 3, 4], [0.9, 0.8, 0.70005, 0.7]
    assert_same_ranking(ids, scores, ids, scores, atol=1e-4)
    assert_same_ranking(ids, scores, [1, 2, 4, 3], [0.9, 0.8, 0.70003, 0.70002], atol=1e-4)  # 3 and 4 tied
    assert_same_ranking(ids, scores, [1, 2, 3, 5], [0.9, 0.8, 0.70005, 0.69995], atol=1e-4)  # 5 was just past 4
    for other_ids, other_scores in (([2, 1, 3, 4], [0.9, 0.8, 0.70005, 0.7]),  # not tied: 0.1 apart
                                    ([1, 2, 3, 5], [0.9, 0.8, 0.70005, 0.6]),  # 4 lost, 5 far below
                                    (ids, [0.9, 0.8, 0.70005, 0.6998]),  # a score off by twice atol
                                    (ids[:3], scores[:3])):
        with pytest.raises(AssertionError):
            assert_same_ranking(ids, scores, other_ids, other_scores, atol=1e-4)


def test_worker_with_another_space_refuses_to_work():
    worker = ChunkEmbedder("glove-6b-50d", "glove-6b-50d#000000000000")
    out = worker({"seq": np.array([0]), "chunk": np.array([b'{"items": [], "skipped": []}'], dtype=object)})
    error = ray_runner.worker_error(out["error"][0])
    assert isinstance(error, SpaceUnavailableError) and "other weights or package versions" in str(error)


def test_worker_embeds_a_chunk_like_the_sequential_runner(glove_space):
    from embedspace.index.build import embed_chunk
    from embedspace.index.sources import read_chunks

    words = ["king", "queen", "zzqxwv", "paris"]
    chunk = next(read_chunks([_write(words)], ReadOptions(lang="en")))
    worker = ChunkEmbedder("glove-6b-50d", glove_space.id)
    out = worker({"seq": np.array([chunk.seq]), "chunk": np.array([ray_runner.encode_chunk(chunk)], dtype=object)})
    items, vectors, skipped = ray_runner.decode_result(out["result"][0])
    kept, expected, expected_skipped = embed_chunk(glove_space, chunk)
    assert [i["text"] for i in items] == [i["text"] for i in kept] == ["king", "queen", "paris"]
    assert vectors.dtype == np.float16 and np.array_equal(vectors, expected.astype(np.float16))
    assert skipped == expected_skipped and "zzqxwv" in skipped[0]["where"]


def test_image_missing_on_a_worker_is_a_setup_error(tmp_path):
    image = {"kind": "image", "payload": str(tmp_path / "gone.png"), "key": "file:abc"}
    with pytest.raises(InputError, match="every node mounts at the same path"):
        check_images_reachable(Chunk(0, [image]))
    check_images_reachable(Chunk(0, [{**image, "key": "missing:" + image["payload"]}]))  # unreadable here too: a skip


def test_bad_worker_counts_are_refused():
    with pytest.raises(InputError, match="--workers 0"):
        RayRunner(workers=0)
    with pytest.raises(InputError, match="--cpus-per-worker"):
        RayRunner(cpus_per_worker=-1)


def _write(lines):
    import tempfile

    path = Path(tempfile.mkdtemp()) / "words.txt"
    path.write_text("\n".join(lines))
    return path
