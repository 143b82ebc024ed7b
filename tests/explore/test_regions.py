"""Named regions: known groups of words in three languages are recovered as top-level regions and
named, in Spanish, by a word of the group or its hypernym; siblings never share a name."""

import numpy as np
import pandas as pd
import pytest

from embedspace.explore.regions import NAMING_HELP, _regions, _sibling_groups, region_clusters, region_labels

GROUPS = {
    "animal": {"en": "animal dog cat horse cow pig sheep lion tiger bear rabbit mouse",
               "es": "animal perro gato caballo vaca cerdo oveja león tigre oso conejo ratón",
               "ja": "動物 犬 猫 馬 牛 豚 羊 ライオン 虎 熊 ウサギ ネズミ"},
    "colour": {"en": "colour red blue green yellow black white purple orange pink brown grey",
               "es": "color rojo azul verde amarillo negro blanco morado naranja rosa marrón gris",
               "ja": "色 赤 青 緑 黄色 黒 白 紫 オレンジ ピンク 茶色 灰色"},
    "number": {"en": "number one two three four five six seven eight nine ten eleven",
               "es": "número uno dos tres cuatro cinco seis siete ocho nueve diez once",
               "ja": "数 一 二 三 四 五 六 七 八 九 十 十一"},
    "country": {"en": "country France Germany Spain Italy Japan China Brazil Mexico Canada Egypt India",
                "es": "país Francia Alemania España Italia Japón China Brasil México Canadá Egipto India",
                "ja": "国 フランス ドイツ スペイン イタリア 日本 中国 ブラジル メキシコ カナダ エジプト インド"},
}
# What a Spanish reader may see as the name of each group's region: its words and its hypernym.
ACCEPTED_ES = {group: set(langs["es"].split()) | {"animales", "colores", "números", "países"}
               for group, langs in GROUPS.items()}


@pytest.fixture(scope="module")
def groups_index(tmp_path_factory):
    from embedspace.index.build import build_index
    from embedspace.index.sources import ReadOptions
    from embedspace.index.store import Index

    rows = [{"text": word, "lang": lang, "label": group}
            for group, langs in GROUPS.items() for lang, words in langs.items() for word in words.split()]
    root = tmp_path_factory.mktemp("regions-index")
    pd.DataFrame(rows).to_csv(root / "groups.csv", index=False)
    build_index("groups", [root / "groups.csv"], space="use-m3",
                read_options=ReadOptions(lang_column="lang", label_column="label"), index_dir=root)
    return Index.open("groups", root)


@pytest.fixture(autouse=True)
def pca_positions(monkeypatch, tmp_path):
    """Label positions from a PCA map (a UMAP would add its compile to every run; positions are not
    what these tests check), and a cache of the test's own."""
    from embedspace.explore import regions
    from embedspace.explore.projection import pca_layout

    monkeypatch.setattr(regions, "_layout_coords", lambda index: pca_layout(index.vectors_f32(slice(None)), 2)[0])
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path))


def test_top_level_regions_recover_the_groups(groups_index):
    from sklearn.metrics import adjusted_mutual_info_score

    clusters = region_clusters(groups_index)
    ami = adjusted_mutual_info_score(groups_index.items["label"], clusters[0])
    print(f"AMI {ami:.3f}, {clusters[0].max() + 1} top-level regions")
    assert ami >= 0.7, ami


def test_spanish_names_come_from_each_group_and_siblings_differ(groups_index):
    labels = region_labels(groups_index, "es")
    clusters = region_clusters(groups_index)
    assert {"x", "y", "name", "level", "size", "cluster"} <= set(labels.columns) and set(labels["level"]) <= {0, 1, 2}
    spanish = set(groups_index.items.loc[groups_index.items["lang"] == "es", "text"])
    assert set(labels["name"]) <= spanish  # names are Spanish text items of the index
    named = dict(zip(labels["cluster"], labels["name"]))
    for siblings in _sibling_groups(clusters, _regions(clusters)):
        names = [named[r] for r in siblings if r in named]  # a region may have no name (named_regions)
        assert len(set(names)) == len(names), names
    # each group's name: the name of the top-level region most of its items fall in
    items = groups_index.items
    print(labels.to_string())
    for group in GROUPS:
        region = np.bincount(clusters[0][(items["label"] == group).to_numpy()]).argmax()
        assert named[region] in ACCEPTED_ES[group], (group, named[region])


def test_the_same_regions_are_named_in_japanese_and_a_missing_language_gives_none(groups_index):
    spanish, japanese = region_labels(groups_index, "es"), region_labels(groups_index, "ja")
    # the same regions, at the same places: each language names those its words tell apart
    top = set(np.unique(region_clusters(groups_index)[0]))
    assert top <= set(spanish["cluster"]) and top <= set(japanese["cluster"])
    both = spanish.merge(japanese, on="cluster")
    assert len(both) and (both["x_x"] == both["x_y"]).all() and (both["y_x"] == both["y_y"]).all()
    assert set(japanese["name"]) <= set(groups_index.items.loc[groups_index.items["lang"] == "ja", "text"])
    assert region_labels(groups_index, "fr").empty
    assert "CSLS" in NAMING_HELP


def test_fragments_and_short_function_words_name_no_region():
    """Frequent-word lists hold fragments ("le", "st", "だら"); a region is named by a word, and a
    single CJK ideograph or Hangul syllable is one."""
    from embedspace.explore.regions import is_nameable

    assert not any(is_nameable(text) for text in ("le", "st", "ll", "ma", "だら", "", "  a "))
    assert all(is_nameable(text) for text in ("dog", "oso", "犬", "国", "개", "ライオン", "bandera"))


def test_a_mixed_region_is_named_by_the_word_most_of_its_items_are_nearest_to():
    """Seven items near 'perro', three near 'gato': the name is 'perro', which most items are nearest
    to, not 'mascota', the word nearest to their mean (typical of none of them in a mixed region)."""
    from embedspace.explore.regions import region_names

    dog, cat, other = np.eye(8)[0], np.eye(8)[1], np.eye(8)[2]
    rng = np.random.default_rng(0)
    members = [dog + rng.normal(0, 0.05, 8) for _ in range(7)] + [cat + rng.normal(0, 0.05, 8) for _ in range(3)]
    members += [other + rng.normal(0, 0.05, 8) for _ in range(10)]
    words = {"perro": dog, "gato": cat, "mascota": (dog + cat) / np.sqrt(2), "piedra": other}
    items = pd.DataFrame({"kind": ["image"] * len(members) + ["text"] * len(words),
                          "lang": [None] * len(members) + ["es"] * len(words), "text": [None] * len(members) + list(words)})
    vectors = np.stack(members + list(words.values())).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # the words belong to the region of what they name, as they would in an index
    clusters = np.array([[0] * 10 + [1] * 10 + [0, 0, 0, 1]], dtype=np.int32)
    assert region_names(items, vectors, clusters, "es") == {"0": "perro", "1": "piedra"}


def test_without_a_clear_number_of_regions_the_top_level_has_the_most_of_its_range():
    """Items with no group structure (random directions): every k's silhouette is near 0, so it does
    not say how many regions there are; the top level then has the most regions of TOP_K_RANGE."""
    from embedspace.explore.regions import TOP_K_RANGE, best_top_k

    vectors = np.random.default_rng(0).normal(size=(600, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert best_top_k(vectors) == TOP_K_RANGE[1]



def _groups(*groups, lang="es", images=4, spread=0.15):
    """Items, unit vectors and one level of clusters: group i (its texts in `lang`, then `images` images)
    lies around axis i of an 8-D space, each item a little apart from it."""
    axes = np.eye(8)
    rng = np.random.default_rng(0)
    rows, vectors, labels = [], [], []
    for region, texts in enumerate(groups):
        for text in [*texts, *[None] * images]:
            rows.append({"kind": "text" if text else "image", "lang": lang if text else None, "text": text})
            vectors.append(axes[region] + rng.normal(0, spread, 8))
            labels.append(region)
    vectors = np.stack(vectors).astype(np.float32)
    return pd.DataFrame(rows), vectors / np.linalg.norm(vectors, axis=1, keepdims=True), np.array([labels], np.int32)


def test_a_region_is_named_by_the_category_word_its_names_share_even_when_it_is_no_item():
    """Flags named "bandera X": "bandera" (no item of the index) is what they share and gets the votes of
    every flag; "con", in as many names of two regions, is particular to neither and names none."""
    from embedspace.explore.regions import region_names

    flags = [f"bandera {country}" for country in ("estonia", "suiza", "chile", "perú", "japón", "kenia")]
    faces = ["cara con calor", "cara con gafas", "cara sonriendo", "cara con sueño", "cara con cuernos", "cara triste"]
    symbols = ["botón con marca", "corazón con flecha", "círculo con raya", "llave con candado"]
    names = region_names(*_groups(flags, faces, symbols), "es")
    assert names["0"] == "bandera" and names["1"] == "cara", names
    assert names.get("2") != "con", names


def test_a_japanese_region_is_named_by_the_head_noun_its_names_end_in():
    """Japanese writes no spaces: 走る人, 泳ぐ人... (a running person, a swimming person) share 人, the
    ideographs ending each name after its kana."""
    from embedspace.explore.regions import region_names, words_of_text

    assert words_of_text("ふざけた顔") == ["ふざけた顔", "顔"] and words_of_text("笑顔") == ["笑顔"]
    people = ["走る人", "泳ぐ人", "踊る人", "歌う人", "眠る人"]
    faces = ["ふざけた顔", "泣いた顔", "怒った顔", "笑った顔", "眠い顔"]
    names = region_names(*_groups(people, faces, lang="ja"), "ja")
    assert names == {"0": "人", "1": "顔"}, names


def test_a_region_its_name_does_not_tell_from_its_siblings_gets_no_name():
    """Region 0: dogs. Region 1: as many items near 'perro' as near 'gato' (a mixed region): whatever its
    name, half its items are nearer to region 0's: no name (better none than a misleading one)."""
    from embedspace.explore.regions import MIN_RECALL, named_regions

    rng = np.random.default_rng(0)
    dog, cat = np.eye(8)[0], np.eye(8)[1]
    members = [dog + rng.normal(0, 0.1, 8) for _ in range(20)]
    members += [(dog if i % 2 else cat) + rng.normal(0, 0.1, 8) for i in range(20)]
    words = {"perro": dog, "gato": cat}
    items = pd.DataFrame({"kind": ["image"] * 40 + ["text"] * 2, "lang": [None] * 40 + ["es"] * 2,
                          "text": [None] * 40 + list(words)})
    vectors = np.stack(members + list(words.values())).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    clusters = np.array([[0] * 20 + [1] * 20 + [0, 1]], dtype=np.int32)
    named = named_regions(items, vectors, clusters, "es")
    assert named["0"][0] == "perro" and named["0"][2] >= MIN_RECALL, named
    assert "1" not in named, named
    assert "1" in named_regions(items, vectors, clusters, "es", min_recall=0.0)  # it had a name to drop
