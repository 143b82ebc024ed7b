"""Learned maps: image maps (`align`), text maps (`align-text`) and bitext mining (`mine`)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embedspace.errors import InputError
from embedspace.maps import alignment
from embedspace.maps.mining import margin_scores, mine, mining_quality
from embedspace.maps.text_map import procrustes, split_pairs, translation_precision
from embedspace.spaces import image_map
from embedspace.spaces.image_map import (
    ImageMap,
    NeighbourPart,
    caption_to_image_recall,
    fit_map,
    fit_ridge,
    grouped_folds,
    load_map,
    save_map,
)

TEXT_SPACE = {"name": "toy", "spec": "", "artifacts": {"toy": "0"}, "dim": 8}


def synthetic(n=400, d_in=20, d_out=8, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d_in)).astype(np.float32) * rng.uniform(0.5, 3, d_in) + rng.normal(size=d_in)
    w = rng.normal(size=(d_in, d_out)).astype(np.float32)
    b = rng.normal(size=d_out).astype(np.float32)
    return x, w, b, (x @ w + b + noise * rng.normal(size=(n, d_out))).astype(np.float32)


# -- image maps: the fit -----------------------------------------------------------------------------------
def test_ridge_recovers_a_known_linear_map():
    x, w, b, y = synthetic()
    mean, scale, weight, bias = fit_ridge(x, y, alpha=1e-3)
    fitted = ImageMap(mean, scale, weight, bias, ("lite0",), TEXT_SPACE)
    fresh = np.random.default_rng(1).normal(size=(50, x.shape[1])).astype(np.float32)
    np.testing.assert_allclose(fitted.project(fresh), fresh @ w + b, atol=0.02)
    # the effective weight in the original feature units is W itself
    np.testing.assert_allclose(weight / scale[:, None], w, atol=0.01)


def test_stronger_ridge_shrinks_towards_the_mean_caption():
    x, _, _, y = synthetic()
    _, _, weak, _ = fit_ridge(x, y, 1.0)
    _, _, strong, bias = fit_ridge(x, y, 1e6)
    assert np.linalg.norm(strong) < 0.01 * np.linalg.norm(weak)
    np.testing.assert_allclose(bias, y.mean(axis=0), atol=1e-5)


def test_grouped_folds_keep_groups_together_and_are_deterministic():
    groups = [f"g{i // 3}" for i in range(60)]  # 20 groups of 3 variants
    folds = grouped_folds(groups, 5, seed=0)
    for g in set(groups):
        assert len({folds[i] for i, h in enumerate(groups) if h == g}) == 1
    assert sorted(np.bincount(folds)) == [12] * 5
    np.testing.assert_array_equal(folds, grouped_folds(groups, 5, seed=0))
    with pytest.raises(InputError, match="at least 5 groups"):
        grouped_folds(["a", "b", "a"], 5)


def test_cross_validation_never_sees_the_test_fold(monkeypatch):
    """Every fit (outer fold, and the inner folds choosing alpha) gets only the other folds' rows."""
    x, _, _, y = synthetic(n=120)
    x[:, 0] = np.arange(len(x))  # row ids travel inside the features
    groups = [i // 2 for i in range(len(x))]
    outer = grouped_folds(groups, 5, seed=0)
    seen = []
    real_fit_ridge = image_map.fit_ridge

    def spy(features, targets, alpha):
        seen.append(set(features[:, 0].astype(int)))
        return real_fit_ridge(features, targets, alpha)

    monkeypatch.setattr(image_map, "fit_ridge", spy)
    monkeypatch.setitem(image_map.FITTERS, "ridge", spy)
    per_lang = {"en": (np.arange(len(x)), y)}
    alignment.held_out_scores(x, y, per_lang, groups, None, ("lite0",), {**TEXT_SPACE, "dim": y.shape[1]},
                              alphas=(1.0, 10.0))
    assert len(seen) == 5 * (2 * 4 + 1)  # per fold: 2 alphas x 4 inner folds, then the fold's fit
    for fold in range(5):
        test_rows = set(np.flatnonzero(outer == fold))
        train_rows = set(range(len(x))) - test_rows
        fits = seen[fold * 9:(fold + 1) * 9]
        assert all(rows <= train_rows for rows in fits)
        assert fits[-1] == train_rows  # the fold's map is fitted on all of its training rows


def test_held_out_recall_of_a_learnable_map_beats_chance():
    x, _, _, y = synthetic(n=200, noise=0.5)
    groups = list(range(200))
    scores = alignment.held_out_scores(x, y, {"en": (np.arange(200), y)}, groups, None, ("lite0",),
                                       {**TEXT_SPACE, "dim": y.shape[1]}, alphas=(1.0, 100.0))
    assert scores["pool"] == 40
    assert scores["map"]["recall@10"] > 0.9 and scores["map"]["recall@1"] > 0.5  # chance: 0.25 and 0.025


def test_recall_counts_ties_against_the_query():
    q = np.eye(3, dtype=np.float32)
    assert caption_to_image_recall(q, q) == {1: 1.0, 10: 1.0}
    assert caption_to_image_recall(q, np.ones((3, 3), np.float32), ks=(1, 3)) == {1: 0.0, 3: 1.0}


def test_fitting_refuses_bad_training_data():
    x, _, _, y = synthetic(n=20)
    with pytest.raises(InputError, match="at least 2 classes"):
        fit_map(x, y, ["cat"] * 20, ("lite0",), TEXT_SPACE)
    with pytest.raises(InputError, match="8-d"):
        fit_map(x, y[:, :5], list(range(20)), ("lite0",), TEXT_SPACE)
    with pytest.raises(InputError, match="20 images but 19"):
        fit_map(x, y[:19], list(range(20)), ("lite0",), TEXT_SPACE)
    with pytest.raises(InputError, match="Unknown map method"):
        fit_map(x, y, list(range(20)), ("lite0",), TEXT_SPACE, method="magic")


# -- image maps: files ---------------------------------------------------------------------------------------
def _toy_map(in_dim=1280, out_dim=8):
    rng = np.random.default_rng(0)
    return ImageMap(np.zeros(in_dim, np.float32), np.ones(in_dim, np.float32),
                    rng.normal(size=(in_dim, out_dim)).astype(np.float32), np.zeros(out_dim, np.float32),
                    ("lite0",), {**TEXT_SPACE, "dim": out_dim}, {"method": "ridge"})


def test_map_file_round_trip(tmp_path):
    path = save_map(_toy_map(), tmp_path / "m.npz")
    loaded = load_map(path)
    np.testing.assert_array_equal(loaded.weight, _toy_map().weight)
    assert loaded.backbones == ("lite0",) and loaded.meta["method"] == "ridge"
    with np.load(path, allow_pickle=False) as data:  # no pickled objects inside
        assert set(data.files) == {"header", "mean", "scale", "weight", "bias"}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_shape", "nan", "not_a_map"])
def test_corrupt_map_files_are_refused(tmp_path, damage):
    path = save_map(_toy_map(), tmp_path / "m.npz")
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a zip at all")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        m = _toy_map()
        if damage == "wrong_shape":
            m.mean = np.zeros(10, np.float32)
        elif damage == "nan":
            m.weight[0, 0] = np.nan
            _save_unchecked(m, path)  # save_map itself refuses NaN
            m = None
        if m is not None:
            save_map(m, path)
        if damage == "not_a_map":
            np.savez(path, weight=np.zeros(3))
    with pytest.raises(InputError, match="m.npz"):
        load_map(path)


def _save_unchecked(m, path, version=1, neighbours=None, extra=None):
    """A map file as a damaged or foreign writer could leave it (save_map refuses NaN)."""
    from embedspace.artifacts import save_headed_npz

    header = {"format": "embedspace.image_map", "version": version, "backbones": list(m.backbones),
              "backbone_checksums": {}, "text_space": m.text_space, "in_dim": m.in_dim, "out_dim": m.out_dim,
              "meta": m.meta, **({"neighbours": neighbours} if neighbours is not None else {})}
    save_headed_npz(path, header, {"mean": m.mean, "scale": m.scale, "weight": m.weight, "bias": m.bias, **(extra or {})})


# -- image maps: the nearest-training-images part ---------------------------------------------------------------
def _positive_data(n=60, d_in=1280, d_out=8, seed=0):
    """Non-negative features (as pooled backbone features are) and unit targets, one group per image."""
    rng = np.random.default_rng(seed)
    x = np.abs(rng.normal(size=(n, d_in))).astype(np.float32) ** 3
    y = rng.normal(size=(n, d_out)).astype(np.float32)
    return x, y / np.linalg.norm(y, axis=1, keepdims=True), [f"g{i}" for i in range(n)]


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_neighbour_part_is_the_documented_blend():
    """ridge_weight * unit(ridge) + (1 - ridge_weight) * unit(softmax(cos(sqrt x, sqrt x_j) / T) . y_j over the k nearest)."""
    x, y, groups = _positive_data()
    part = NeighbourPart(k=5, temperature=0.1, ridge_weight=0.3)
    fitted = fit_map(x, y, groups, ("lite0",), TEXT_SPACE, alpha=100.0, neighbours=part)
    fresh = np.abs(np.random.default_rng(5).normal(size=(7, x.shape[1]))).astype(np.float32) ** 3
    ridge = ((fresh - fitted.mean) / fitted.scale) @ fitted.weight + fitted.bias
    similarity = _unit(np.sqrt(fresh)) @ _unit(np.sqrt(x)).T
    expected = []
    for row in similarity:
        nearest = np.argsort(-row)[:5]
        weights = np.exp(row[nearest] / 0.1) / np.exp(row[nearest] / 0.1).sum()
        expected.append(_unit(weights @ y[nearest]))
    np.testing.assert_allclose(fitted.project(fresh), 0.3 * _unit(ridge) + 0.7 * np.array(expected), atol=1e-4)
    assert fitted.meta["alpha"] == 100.0 and "inner_cv" not in fitted.meta
    assert "5 nearest training images" in fitted.meta["recipe"]


def test_a_training_image_keeps_its_own_caption_vector():
    """What the part is for: an image the map was fitted on lands on its own target, even where a
    linear map of a strong ridge cannot fit every image's caption (here: 200 images, 20 features)."""
    x, y, groups = _positive_data(n=200, d_in=20)
    strong = fit_map(x, y, groups, ("lite0",), TEXT_SPACE, alpha=1e4)
    with_part = fit_map(x, y, groups, ("lite0",), TEXT_SPACE, alpha=1e4,
                        neighbours=NeighbourPart(k=10, temperature=0.01, ridge_weight=0.0))
    assert caption_to_image_recall(y, strong.project(x))[1] < 0.5
    assert caption_to_image_recall(y, with_part.project(x))[1] == 1.0


def test_fixed_strength_must_be_positive():
    x, y, groups = _positive_data(n=20, d_in=10)
    with pytest.raises(InputError, match="positive"):
        fit_map(x, y, groups, ("lite0",), TEXT_SPACE, alpha=0.0)
    with pytest.raises(InputError, match="temperature"):
        fit_map(x, y, groups, ("lite0",), TEXT_SPACE, alpha=1.0, neighbours=NeighbourPart(temperature=0))


def test_map_with_neighbour_part_round_trip(tmp_path):
    x, y, groups = _positive_data()
    fitted = fit_map(x, y, groups, ("lite0",), TEXT_SPACE, alpha=100.0, neighbours=NeighbourPart(k=3))
    loaded = load_map(save_map(fitted, tmp_path / "m.npz"))
    np.testing.assert_allclose(loaded.project(x[:5]), fitted.project(x[:5]), atol=1e-6)
    assert loaded.neighbour_part == NeighbourPart(k=3) and loaded.meta["recipe"] == fitted.meta["recipe"]
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:  # arrays only, no pickled objects
        assert set(data.files) == {"header", "mean", "scale", "weight", "bias", "neighbours", "neighbour_targets"}
    fitted.neighbour_targets[0, 0] = np.nan
    with pytest.raises(InputError, match="neighbour_targets hold NaN"):
        save_map(fitted, tmp_path / "nan.npz")
    assert not (tmp_path / "nan.npz").exists()


@pytest.mark.parametrize("damage", ["nan", "wrong_shape", "no_part", "bad_part", "missing_array"])
def test_damaged_neighbour_parts_are_refused(tmp_path, damage):
    x, y, groups = _positive_data()
    fitted = fit_map(x, y, groups, ("lite0",), TEXT_SPACE, alpha=100.0, neighbours=NeighbourPart(k=3))
    arrays = {"neighbours": fitted.neighbours.copy(), "neighbour_targets": fitted.neighbour_targets.copy()}
    part = {"k": 3, "temperature": 0.05, "ridge_weight": 0.2, "power": 0.5}
    if damage == "nan":
        arrays["neighbour_targets"][1, 1] = np.nan
    elif damage == "wrong_shape":
        arrays["neighbours"] = arrays["neighbours"][:, :10]
    elif damage == "no_part":
        part = None
    elif damage == "bad_part":
        part["temperature"] = -1
    else:
        del arrays["neighbour_targets"]
    _save_unchecked(fitted, tmp_path / "m.npz", version=2, neighbours=part, extra=arrays)
    with pytest.raises(InputError, match="m.npz"):
        load_map(tmp_path / "m.npz")


def test_a_map_for_another_space_is_refused(tmp_path, monkeypatch, use_space):
    monkeypatch.setenv("EMBEDSPACE_MAP_DIR", str(tmp_path))
    save_map(_toy_map(out_dim=384), tmp_path / "for-e5.npz")
    from embedspace.spaces.registry import load_space

    with pytest.raises(InputError, match="fitted for the text space toy"):
        load_space("use-m3[images=map:for-e5]")
    with pytest.raises(InputError, match="No image map"):
        load_space("use-m3[images=map:nowhere]")


def test_a_map_name_follows_its_folder(tmp_path, monkeypatch, use_space):
    """The same spec names another file once the maps folder moves: the space is loaded again,
    not served from the cache with the old folder's map (a composite follows its part)."""
    from embedspace.spaces.registry import load_space

    ids = []
    for seed in (1, 2):
        folder = tmp_path / f"maps{seed}"
        folder.mkdir()
        weight = np.random.default_rng(seed).normal(size=(1280, 512)).astype(np.float32)
        save_map(ImageMap(np.zeros(1280, np.float32), np.ones(1280, np.float32), weight, np.zeros(512, np.float32),
                          ("lite0",), use_space.text_space(), {"method": "ridge"}), folder / "same.npz")
        monkeypatch.setenv("EMBEDSPACE_MAP_DIR", str(folder))
        space = load_space("use-m3[images=map:same]")
        assert space.map_file[0] == folder / "same.npz"
        ids.append((space.id, load_space("concat:use-m3[images=map:same]+glove-6b-50d").id))
    assert ids[0][0] != ids[1][0] and ids[0][1] != ids[1][1]


# -- image maps: end to end on real images ---------------------------------------------------------------------
ANIMALS = "\U0001F436 \U0001F431 \U0001F42D \U0001F434 \U0001F437 \U0001F42E \U0001F414 \U0001F41F \U0001F98A \U0001F981"
VEHICLES = "\U0001F697 \U0001F6B2 \U0001F680 \U0001F68C \U0001F695 \U0001F69A \U0001F3CD \U0001F6F5 \U0001F682 \U0001F6A2"


@pytest.fixture(scope="module")
def emoji_folder(tmp_path_factory):
    """A folder per class, named by the emoji's English name, with its OpenMoji drawing."""
    from embedspace.data.emoji import english_name
    from embedspace.data.render import render_emoji

    root = tmp_path_factory.mktemp("labelled")
    for e, path in render_emoji((ANIMALS + " " + VEHICLES).split())[0].items():
        (root / english_name(e)).mkdir()
        (root / english_name(e) / path.name).write_bytes(path.read_bytes())
    (root / "dog face" / "broken.png").write_bytes(b"\x89PNG not really")
    return root


def test_align_a_folder_saves_a_map_the_space_uses(emoji_folder, tmp_path, monkeypatch):
    from embedspace.errors import IndexStateError
    from embedspace.index.build import build_index
    from embedspace.index.store import Index
    from embedspace.spaces.registry import load_space

    monkeypatch.setenv("EMBEDSPACE_INDEX_DIR", str(tmp_path))
    report = alignment.align_images("kinds", "use-m3", emoji_folder, languages=["en"], backbones=("lite0",), folds=2)
    assert report.map_path == tmp_path / "maps" / "kinds.npz"
    assert len(report.data.images) == 20 and len(report.data.skipped) == 1  # the broken PNG is reported
    assert "broken.png" in report.summary()
    space = load_space("use-m3[images=map:kinds]")
    assert "map:kinds.npz" in space.artifacts and "learned map" in space.images_note
    classes = sorted(p.name for p in emoji_folder.iterdir())
    dog, car = (next(emoji_folder.glob(f"{name}/1F*.png")) for name in ("dog face", "automobile"))
    nearest = (space.embed_images([dog, car]) @ space.embed_texts(classes).T).argmax(axis=1)
    assert [classes[i] for i in nearest] == ["dog face", "automobile"]  # fitted on them: checks the wiring
    # an index built with this map refuses the same space with ConSE, and a refitted map
    build_index("withmap", [str(emoji_folder)], space="use-m3[images=map:kinds]", index_dir=tmp_path, progress=False)
    index = Index.open("withmap", tmp_path)
    with pytest.raises(IndexStateError):
        index.check_space(load_space("use-m3"))
    alignment.align_images("kinds", "use-m3", emoji_folder, languages=["en"], backbones=("lite0",), folds=2,
                           method="contrastive")
    with pytest.raises(IndexStateError):
        index.check_space(load_space("use-m3[images=map:kinds]"))


def test_a_map_space_keeps_conse_as_a_second_image_route(emoji_folder, tmp_path, monkeypatch, cat_photo, capsys):
    """A photo in an index whose images go through a map fitted on drawings can go in through ConSE:
    the same vectors as the ConSE space's, searched in the same index, from the API, the CLI and the app."""
    from streamlit.testing.v1 import AppTest

    from embedspace import query
    from embedspace.cli import main
    from embedspace.errors import UnsupportedError
    from embedspace.index.build import build_index
    from embedspace.index.store import Index
    from embedspace.spaces.registry import load_space

    monkeypatch.setenv("EMBEDSPACE_INDEX_DIR", str(tmp_path))
    alignment.align_images("kinds", "use-m3", emoji_folder, languages=["en"], backbones=("lite0",), folds=2)
    space, conse_space = load_space("use-m3[images=map:kinds]"), load_space("use-m3")
    assert list(space.image_routes()) == ["map", "conse"] and list(conse_space.image_routes()) == ["conse"]
    via_conse = space.embed_images([cat_photo], via="conse")
    np.testing.assert_allclose(via_conse, conse_space.embed_images([cat_photo]), atol=1e-6)
    assert float(via_conse[0] @ space.embed_images([cat_photo])[0]) < 0.99  # the map's route differs
    with pytest.raises(UnsupportedError, match="no image route 'clip'"):
        space.embed_images([cat_photo], via="clip")
    build_index("withmap", [str(emoji_folder)], space="use-m3[images=map:kinds]", index_dir=tmp_path, progress=False)
    index = Index.open("withmap", tmp_path)
    photo = tmp_path / "cat.png"
    Image.fromarray(cat_photo).save(photo)
    found = query.search(index, space, image=str(photo), image_via="conse", k=5)["results"]
    expected = query.search(index, space, vector=via_conse[0], k=5)["results"]
    assert [r["id"] for r in found] == [r["id"] for r in expected]
    assert main(["search", "withmap", "--image", str(photo), "--image-via", "conse", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["results"]][:5] == [r["id"] for r in found]
    assert main(["search", "withmap", "dog", "--image-via", "conse"]) == 2
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=180)
    at.session_state["panel"] = "Search"
    at.session_state["index_name"] = "withmap"
    at.run()
    assert at.get_by_key("image_via").options == ["map", "conse"]


def test_align_refuses_spaces_without_maps_and_tiny_sources(emoji_folder, tmp_path):
    from embedspace.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="no learned image maps"):
        alignment.align_images("x", "glove-6b-50d", emoji_folder, save=False)
    with pytest.raises(InputError, match="No image source"):
        alignment.align_images("x", "use-m3", tmp_path / "missing", save=False)
    with pytest.raises(InputError, match="too few"):
        alignment.align_images("x", "use-m3", emoji_folder, folds=20, save=False, backbones=("lite0",))


# -- text maps --------------------------------------------------------------------------------------------------
def test_procrustes_recovers_a_rotation():
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    x = rng.normal(size=(100, 16))
    w = procrustes(x, x @ rotation)
    np.testing.assert_allclose(w, rotation, atol=1e-5)
    np.testing.assert_allclose(w @ w.T, np.eye(16), atol=1e-5)


def test_held_out_pairs_share_no_source_word():
    pairs = [(f"s{i // 2}", f"t{i}") for i in range(100)]
    train, held = split_pairs(pairs)
    assert not {s for s, _ in train} & {s for s, _ in held}
    assert len({s for s, _ in held}) == 10


def test_csls_follows_the_published_formula():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(12, 5))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    pool = rng.normal(size=(15, 5))
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    cos = q @ pool.T
    r_t = np.array([np.mean(sorted(row)[-10:]) for row in cos])
    r_s = np.array([np.mean(sorted(col)[-10:]) for col in cos.T])
    best = [int(np.argmax(2 * cos[i] - r_t[i] - r_s)) for i in range(12)]
    answers = [{b} for b in best]
    assert translation_precision(q, pool, answers, "csls")["P@1"] == 1.0


def test_align_text_reports_and_translate_uses_the_map(tmp_path, monkeypatch, use_space):
    from embedspace.maps.text_map import align_text, concept_pairs, find_text_map

    monkeypatch.setenv("EMBEDSPACE_MAP_DIR", str(tmp_path))
    pairs = concept_pairs("es", "en")
    assert len(pairs) > 1000 and ("perro", "dog") in pairs
    report = align_text("use-m3", pairs[::4], "es", "en")
    assert report["held_out_sources"] > 50
    for key in ("nn_plain", "nn_mapped", "csls_plain", "csls_mapped"):
        assert 0.3 < report[key]["P@1"] <= report[key]["P@5"] <= 1.0
    found = find_text_map(use_space, "es", "en")
    assert found is not None and found.weight.shape == (512, 512)
    assert find_text_map(use_space, "en", "es") is None


# -- mining -----------------------------------------------------------------------------------------------------
def test_margin_matches_the_formula():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4))
    y = rng.normal(size=(7, 4))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    cos = x @ y.T
    i, j = 2, 3
    expected = cos[i, j] / (np.sort(cos[i])[-4:].sum() / 8 + np.sort(cos[:, j])[-4:].sum() / 8)
    assert margin_scores(x, y)[i, j] == pytest.approx(expected)


def test_mining_finds_country_name_pairs(use_space):
    from embedspace.data.cldr import babel_records

    rows = babel_records(["es", "en"])
    by = {}
    for row in rows:
        if row["label"] == "country":
            by.setdefault(row["concept"], {})[row["lang"]] = row["text"]
    gold = sorted({(v["es"], v["en"]) for v in by.values() if "es" in v and "en" in v})[:150]
    rng = np.random.default_rng(0)
    targets = [t for _, t in gold]
    rng.shuffle(targets)
    sources = [s for s, _ in gold]
    found = mine(sources, targets, use_space.embed_texts(sources), use_space.embed_texts(targets), threshold=1.0)
    quality = {row["threshold"]: row for row in mining_quality(found, set(gold))}
    assert quality[1.0]["precision"] > 0.8 and quality[1.0]["recall"] > 0.7
    assert quality[1.2]["mined"] <= quality[1.0]["mined"]


def test_align_text_judges_the_map_on_words_and_translate_follows_the_verdict(tmp_path, monkeypatch, use_space):
    """A names map checked on the pinned FreeDict de-en slice: the report carries a words verdict
    (on word sources it was not fitted on); translation applies the map exactly when that verdict
    says it helps, and a map saved without words is not applied."""
    from embedspace.maps.text_map import (
        align_text,
        applicable_text_map,
        concept_pairs,
        load_text_map,
        read_pairs,
        save_text_map,
    )

    monkeypatch.setenv("EMBEDSPACE_MAP_DIR", str(tmp_path))
    names = concept_pairs("de", "en")[::4]
    words = read_pairs(Path(__file__).parents[1] / "fixtures" / "freedict" / "de-en.dev-slice.txt")
    report = align_text("use-m3", names, "de", "en", words=words)
    judged = report["words"]
    assert judged["held_out_sources"] >= 50 and judged["pool"] >= judged["held_out_sources"]
    assert judged["helps"] == (judged["csls_mapped"]["P@1"] > judged["csls_plain"]["P@1"])
    used, setting = applicable_text_map(use_space, "de", "en")
    assert (used is not None) == judged["helps"] and "P@1" in setting

    saved = load_text_map(report["path"])
    for helps in (True, False):  # the verdict alone decides
        saved.meta["report"]["words"]["helps"] = helps
        save_text_map(saved)
        assert (applicable_text_map(use_space, "de", "en")[0] is not None) is helps
    saved.meta["report"]["words"] = None
    save_text_map(saved)
    used, setting = applicable_text_map(use_space, "de", "en")
    assert used is None and "no verdict on words" in setting
    assert align_text("use-m3", names, "de", "en", save=False)["words"] is None


def test_align_reports_same_style_and_cross_style_figures(tmp_path):
    """--cross-style: the final map ranks, per caption, the same emoji drawn in another style (here
    OpenMoji mirrored, named by code point as the emoji-datasource packages name them)."""
    from PIL import Image, ImageOps

    from embedspace.data.render import render_emoji
    from embedspace.images import load_images

    emojis = (ANIMALS + " " + VEHICLES).split()
    paths = render_emoji(emojis)[0]
    style = tmp_path / "img" / "mirrored" / "64"
    style.mkdir(parents=True)
    for e, path in paths.items():
        ImageOps.mirror(Image.open(path)).save(style / f"{'-'.join(f'{ord(c):x}' for c in e)}.png")
    data = alignment.captioned_emoji(list(paths), load_images(list(paths.values()))[0], ["en"], "twenty emoji")
    report = alignment.align_images("styles", "use-m3", None, languages=["en"], backbones=("lite0",), folds=2,
                                    save=False, data=data, cross_style=[style])
    assert set(report.cross_style) == {"mirrored"} and report.cross_style["mirrored"]["en"] >= 0.8
    summary = report.summary()
    assert "Same-style held-out" in summary and "Cross-style R@10 on mirrored" in summary
    with pytest.raises(InputError, match="none of its emoji"):
        alignment.cross_style_scores(report.image_map, data, {}, [_folder_with(tmp_path / "other", "1f9ff.png")])


def _folder_with(folder, name):
    from PIL import Image

    folder.mkdir()
    Image.new("RGB", (64, 64), "white").save(folder / name)
    return folder


@pytest.mark.slow
def test_align_cli_fits_the_recipe_it_is_given(emoji_folder, tmp_path, monkeypatch, capsys):
    """`align --alpha A --neighbours K`: the saved map holds the recipe (and says so); a bad K is refused."""
    from embedspace.cli import main

    monkeypatch.setenv("EMBEDSPACE_INDEX_DIR", str(tmp_path))
    common = ["align", "recipe", "--space", "use-m3", "--images", str(emoji_folder), "--languages", "en",
              "--backbones", "lite0", "--folds", "2"]
    assert main([*common, "--alpha", "10000", "--neighbours", "5", "--temperature", "0.03"]) == 0
    out = capsys.readouterr().out
    assert "ridge alpha 10000 + 5 nearest training images (temperature 0.03" in out
    fitted = load_map(tmp_path / "maps" / "recipe.npz")
    assert fitted.neighbour_part == NeighbourPart(k=5, temperature=0.03) and fitted.meta["alpha"] == 10000
    assert main([*common, "--neighbours", "0"]) != 0
    assert "k >= 1" in capsys.readouterr().err


def test_multilevel_neighbour_cosine_weighs_each_block_alike():
    """With 'lite0-multi' features the neighbour part compares each pooled block (signed power, unit
    length) with equal weight: scaling one block changes nothing; the plain layout stays one block."""
    blocks = image_map.feature_blocks(("lite0-multi",))
    assert blocks == [1280, 1280, 320, 192, 112] and image_map.feature_blocks(("lite0",)) is None
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, sum(blocks))).astype(np.float32)
    scaled = x.copy()
    scaled[:, 2560:2880] *= 100.0
    embedded = image_map.neighbour_embedding(x, 0.5, blocks)
    np.testing.assert_allclose(image_map.neighbour_embedding(scaled, 0.5, blocks), embedded, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(embedded[:, 2560:2880], axis=1), np.full(4, 5 ** -0.5), atol=1e-5)
    signed = np.sign(x[:, :1280]) * np.abs(x[:, :1280]) ** 0.5
    np.testing.assert_allclose(embedded[:, :1280] * 5 ** 0.5, _unit(signed), atol=1e-5)


def test_multilevel_map_round_trip_is_format_3(tmp_path):
    x, y, groups = _positive_data(d_in=image_map.feature_dim("lite0-multi"))
    fitted = fit_map(x, y, groups, ("lite0-multi",), TEXT_SPACE, alpha=100.0, neighbours=NeighbourPart(k=3))
    loaded = load_map(save_map(fitted, tmp_path / "m.npz"))
    np.testing.assert_allclose(loaded.project(x[:5]), fitted.project(x[:5]), atol=1e-6)
    assert loaded.backbones == ("lite0-multi",)
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        assert json.loads(bytes(data["header"]).decode())["version"] == 3
    similarity = image_map.neighbour_embedding(x[:5], 0.5, [1280, 1280, 320, 192, 112]) @ fitted.neighbours.T
    assert (similarity.argmax(axis=1) == np.arange(5)).all()  # stored with the same block weighting
