"""Real semantics of the offline spaces, on their packaged weights."""

import numpy as np
import pytest
from conftest import cos

from embedspace import InputError, UnsupportedError, load_space

ENGLISH = [
    "The cat is sleeping on the sofa.",
    "I would like a cup of coffee, please.",
    "The train to Berlin leaves at eight.",
    "It is raining heavily today.",
    "My brother plays the guitar very well.",
    "The hospital is next to the school.",
]
TRANSLATIONS = {
    "es": [
        "El gato está durmiendo en el sofá.",
        "Quisiera una taza de café, por favor.",
        "El tren a Berlín sale a las ocho.",
        "Hoy está lloviendo mucho.",
        "Mi hermano toca muy bien la guitarra.",
        "El hospital está al lado de la escuela.",
    ],
    "fr": [
        "Le chat dort sur le canapé.",
        "Je voudrais une tasse de café, s'il vous plaît.",
        "Le train pour Berlin part à huit heures.",
        "Il pleut beaucoup aujourd'hui.",
        "Mon frère joue très bien de la guitare.",
        "L'hôpital est à côté de l'école.",
    ],
    "de": [
        "Die Katze schläft auf dem Sofa.",
        "Ich hätte gern eine Tasse Kaffee, bitte.",
        "Der Zug nach Berlin fährt um acht Uhr.",
        "Heute regnet es stark.",
        "Mein Bruder spielt sehr gut Gitarre.",
        "Das Krankenhaus ist neben der Schule.",
    ],
}


def assert_vectors(vectors, n, dim):
    assert vectors.shape == (n, dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("space_name", ["use_space", "e5_space"])
@pytest.mark.parametrize("lang", sorted(TRANSLATIONS))
def test_sentences_are_nearest_to_their_english_translation(space_name, lang, request):
    space = request.getfixturevalue(space_name)
    english = space.embed_texts(ENGLISH)
    foreign = space.embed_texts(TRANSLATIONS[lang])
    assert_vectors(foreign, len(ENGLISH), space.dim)
    nearest = (foreign @ english.T).argmax(axis=1)
    assert nearest.tolist() == list(range(len(ENGLISH)))


@pytest.mark.parametrize("space_name", ["use_space", "e5_space"])
def test_words_are_nearer_their_translation_than_other_words(space_name, request):
    space = request.getfixturevalue(space_name)
    dog, perro, coche, chien, hund = space.embed_texts(["dog", "perro", "coche", "chien", "Hund"])
    assert cos(dog, perro) > cos(dog, coche)
    assert cos(dog, chien) > cos(dog, coche) and cos(dog, hund) > cos(dog, coche)


def test_vectors_are_deterministic_and_batch_independent(use_space, e5_space):
    texts = ["perro", "Der Zug nach Berlin fährt um acht Uhr.", "今日は雨です"]
    for space in (use_space, e5_space):
        first = space.embed_texts(texts, batch_size=1)
        again = space.embed_texts(texts, batch_size=3)
        np.testing.assert_allclose(first, again, atol=1e-5)
        np.testing.assert_array_equal(space.embed_texts(texts), space.embed_texts(texts))


def test_e5_prefix_modes_are_documented_and_differ():
    symmetric = load_space("e5-small")
    asymmetric = load_space("e5-small[prefix=asymmetric]")
    assert symmetric.id != asymmetric.id
    text = ["the dog sleeps"]
    # symmetric: items and queries both get "query: "
    np.testing.assert_array_equal(symmetric.embed_texts(text, role="item"), symmetric.embed_texts(text, role="query"))
    # asymmetric: items get "passage: ", queries "query: "
    item, query = asymmetric.embed_texts(text, role="item")[0], asymmetric.embed_texts(text, role="query")[0]
    assert cos(item, query) < 0.999
    np.testing.assert_allclose(query, symmetric.embed_text(text[0]), atol=1e-6)
    assert "passage: " in asymmetric.tokenize("the dog", role="item").note


def test_glove_words_and_its_refusals(glove_space):
    king, queen, man, woman, car = glove_space.embed_texts(["king", "Queen", "man", "woman", "car"])
    assert_vectors(np.stack([king, queen]), 2, 50)
    answer = king - man + woman
    assert cos(answer, queen) > cos(answer, car)
    with pytest.raises(InputError, match="single words"):
        glove_space.embed_texts(["a cat"])
    with pytest.raises(InputError, match="not among GloVe"):
        glove_space.embed_texts(["qwertyzzz"])
    with pytest.raises(UnsupportedError, match="takes no images"):
        glove_space.embed_images([np.zeros((8, 8, 3), np.uint8)])
    assert glove_space.tokenize("Paris").tokens == ["paris"]


def test_tokenizers_show_what_the_model_sees(use_space, e5_space):
    tokens = use_space.tokenize("Hello world, perro!")
    assert tokens.tokens[0] == "<s>" and tokens.tokens[-1] == "</s>" and "▁perro" in tokens.tokens
    assert tokens.count == len(tokens.tokens)
    e5 = e5_space.tokenize("Hello world, perro!")
    assert e5.tokens is None and e5.count > 4 and "token count" in e5.note


@pytest.mark.parametrize(
    "texts, fragment",
    [
        ([""], "Text 1 of 1 is empty"),
        (["ok", "   "], "Text 2 of 2 is empty"),
        ([None], "Text 1 of 1 is None"),
        ([3.5], "not a string"),
        (["x" * 10_000_000], "split long documents"),
        ("a bare string", "not a single string"),
        (None, "No texts"),
    ],
)
def test_bad_texts_get_clear_errors(use_space, texts, fragment):
    with pytest.raises(InputError, match=fragment):
        use_space.embed_texts(texts)


def test_empty_list_gives_empty_matrix(use_space):
    assert use_space.embed_texts([]).shape == (0, 512)


def test_languages_are_canonical(use_space, e5_space):
    assert len(use_space.languages) == 16 and {"zh-Hans", "zh-Hant", "es"} <= set(use_space.languages)
    assert len(e5_space.languages) >= 90 and "sw" in e5_space.languages


@pytest.mark.parametrize("spec", ["use-m3", "glove-6b-50d"])
def test_a_lone_surrogate_is_refused_by_every_space_not_a_unicode_traceback(spec):
    """Issue 15 item 7: the CLI and the query path check for it; a direct embed_texts (the app's
    Compare panel, a user's script) reached the tokenizer and ended in a UnicodeEncodeError."""
    with pytest.raises(InputError, match=r"Text 2 of 2 holds an invalid character \(a lone surrogate U\+D800"):
        load_space(spec).embed_texts(["dog", "ga\ud800to"])


def test_the_space_id_kept_between_queries_follows_its_artifacts():
    """Space.id is kept rather than rehashed per query (issue 16); a changed artifact still changes it."""
    space = load_space("glove-6b-50d")
    first = space.id
    assert space.id == first
    saved = dict(space.text_artifacts)
    try:
        space.text_artifacts = {**saved, "extra.bin": "0" * 64}
        assert space.id != first and space.id.startswith(space.canonical + "#")
    finally:
        space.text_artifacts = saved
    assert space.id == first


def test_use_embeds_a_few_query_texts_on_one_blas_thread_and_batches_on_every_core(use_space):
    """Issue 16: one query text on 2 BLAS threads took 1.0 ms against 0.8-0.9 on one, and the
    threads left behind slowed the FAISS search after it (text search 2.1-4.1 ms against 1.4)."""
    from embedspace.runtime import cpu_count

    backend = use_space.model._model
    use_space.embed_texts(["dog"], role="query")
    assert backend.threads == 1
    use_space.embed_texts([f"word {i}" for i in range(40)])
    assert backend.threads == cpu_count()
