"""Every endpoint through FastAPI's test client: each answers what the Python API answers (the
CLI's --json shape), and the writes change the index that the next read sees."""

import base64

import numpy as np
import pytest

from embedspace import query
from embedspace.index import Index

from .serving import TOKEN, bearer, client_for, png_base64


@pytest.fixture(scope="module")
def words(served):
    index = Index.open("words", served)
    return index, index.load_space()


def test_health_and_the_list_of_indexes(reader):
    health = reader.get("/health").json()
    assert health["status"] == "ok" and health["uptime_seconds"] >= 0
    listed = reader.get("/indexes").json()["indexes"]
    assert [i["name"] for i in listed] == ["words"]
    assert listed[0]["items"] == 36 and listed[0]["dim"] == 512 and listed[0]["problem"] is None


def test_index_info(reader, words):
    info = reader.get("/indexes/words").json()
    index, space = words
    assert info["space_id"] == index.space_id and info["items"] == 36 and info["generation"] == index.generation
    assert info["by_lang"] == {"en": 12, "es": 12, "de": 12} and info["concepts"] == 12
    assert info["faiss"]["kind"] == "flat" and "below" in info["faiss"]["reason"]
    assert list(info["image_routes"]) == list(space.image_routes())
    assert info["description"].startswith("Index 'words'")


def test_search_answers_what_the_python_api_answers(reader, words):
    index, space = words
    answer = reader.post("/indexes/words/search", json={"text": "perro", "k": 5, "lang": "de"})
    assert answer.status_code == 200
    assert answer.json() == query.search(index, space, "perro", k=5, lang="de")
    assert answer.json()["results"][0]["text"] == "Hund"


def test_search_by_vector_by_item_and_by_label(reader, words):
    index, space = words
    vector = space.embed_text("Katze").tolist()
    by_vector = reader.post("/indexes/words/search", json={"vector": vector, "k": 3}).json()
    assert by_vector["query"] == {"vector": True} and by_vector["results"][0]["text"] == "Katze"
    katze = by_vector["results"][0]["id"]
    by_item = reader.post("/indexes/words/search", json={"id": katze, "k": 3}).json()
    assert by_item["query"] == {"id": katze} and katze not in [r["id"] for r in by_item["results"]]
    assert by_item == query.search(index, space, item_id=katze, k=3)
    labelled = reader.post("/indexes/words/search", json={"text": "animal", "k": 36, "label": "person"}).json()
    assert len(labelled["results"]) == 12 and {r["label"] for r in labelled["results"]} == {"person"}


def test_search_batch(reader, words):
    index, space = words
    answer = reader.post("/indexes/words/search/batch", json={"texts": ["perro", "casa"], "k": 2, "kind": "text"})
    assert answer.json() == {"answers": query.search_many(index, space, texts=["perro", "casa"], k=2, kind="text")}
    by_ids = reader.post("/indexes/words/search/batch", json={"ids": [0, 1], "k": 1}).json()["answers"]
    assert [a["query"] for a in by_ids] == [{"id": 0}, {"id": 1}]


def test_analogy_and_its_batch(reader, words):
    index, space = words
    answer = reader.post("/indexes/words/analogy", json={"a": "man", "b": "king", "c": "woman", "k": 3})
    assert answer.json() == query.analogy(index, space, "man", "king", "woman", k=3)
    assert answer.json()["query"] == ["man", "king", "woman"] and answer.json()["method"] == "add"
    batch = reader.post("/indexes/words/analogy/batch",
                        json={"triples": [["man", "king", "woman"], ["hombre", "rey", "mujer"]], "method": "mul",
                              "k": 2})
    assert batch.json() == {"answers": query.analogy_many(index, space, [["man", "king", "woman"],
                                                                          ["hombre", "rey", "mujer"]], k=2, method="mul")}


def test_translate_and_its_batch(reader, words):
    index, space = words
    answer = reader.post("/indexes/words/translate", json={"text": "perro", "to": "en", "from": "es", "k": 2})
    assert answer.json() == query.translate(index, space, "perro", to="en", from_="es", k=2)
    assert answer.json()["from"] == "es" and answer.json()["results"][0]["text"] == "dog"
    assert "re-ranked by spelling + frequency" in answer.json()["setting"]
    raw = reader.post("/indexes/words/translate", json={"text": "perro", "to": "en", "from": "es", "k": 2,
                                                        "rerank": "none"}).json()
    assert raw == query.translate(index, space, "perro", to="en", from_="es", k=2, rerank="none")
    assert "no re-ranking" in raw["setting"]
    batch = reader.post("/indexes/words/translate/batch", json={"texts": ["perro", "gato"], "to": "de",
                                                                 "method": "nn"}).json()
    assert [a["results"][0]["text"] for a in batch["answers"]] == ["Hund", "Katze"]


def test_embed_texts_in_the_index_space(reader, words):
    _, space = words
    answer = reader.post("/indexes/words/embed", json={"texts": ["perro", "dog"], "role": "query"}).json()
    assert answer["space_id"] == space.id and answer["dim"] == 512
    assert np.allclose(answer["vectors"], space.embed_texts(["perro", "dog"], role="query"), atol=1e-6)


def test_writes_with_the_token_change_what_reads_see(writable):
    with client_for(writable, token=TOKEN) as client:
        added = client.post("/indexes/words/items", headers=bearer(), json={"items": [
            {"text": "Löwe", "lang": "de", "label": "animal", "concept": "lion", "meta": {"source": "test", "n": 1}},
            {"text": "perro", "lang": "es"}]})
        assert added.status_code == 200, added.text
        body = added.json()
        assert body["added"] == 1 and body["ids"] == [36] and body["items"] == 37
        assert body["skipped"] == [{"where": "item 2", "reason": "duplicate of an item already in the index"}]
        found = client.post("/indexes/words/search", json={"text": "lion", "k": 1, "lang": "de"}).json()
        assert found["results"][0] | {"score": 0, "cosine": 0} == {
            "rank": 1, "id": 36, "kind": "text", "text": "Löwe", "lang": "de", "label": "animal", "concept": "lion",
            "path": None, "score": 0, "cosine": 0}
        removed = client.request("DELETE", "/indexes/words/items", headers=bearer(), json={"ids": [36, 0]})
        assert removed.json() == {"removed": 2, "items": 35}
        ids = {r["id"] for r in client.post("/indexes/words/search", json={"text": "lion", "k": 35}).json()["results"]}
        assert 36 not in ids and 0 not in ids and len(ids) == 35


def test_metrics_count_requests_by_endpoint(served):
    with client_for(served) as client:
        for _ in range(3):
            client.post("/indexes/words/search", json={"text": "perro", "k": 1})
        client.post("/indexes/nothing/search", json={"text": "perro"})
        client.get("/no/such/path")
        client.request("BREW", "/indexes/words/search")  # a made-up method
        metrics = client.get("/metrics").json()
    by_endpoint = {e["endpoint"]: e for e in metrics["endpoints"]}
    search = by_endpoint["POST /indexes/{name}/search"]
    assert search["count"] == 4 and search["by_status"] == {"200": 3, "404": 1}
    assert 0 < search["latency_ms"]["p50"] <= search["latency_ms"]["max"] and search["window"] == 4
    assert by_endpoint["unmatched"]["by_status"] == {"404": 1, "405": 1}
    assert metrics["requests"] == 6  # GET /metrics itself is counted when it has answered
    assert len(by_endpoint) == 2


@pytest.mark.slow  # loads the image model (ConSE)
def test_images_in_base64_search_and_join_the_index(writable, cat_photo):
    from PIL import Image

    photo = png_base64(Image.fromarray(cat_photo))
    with client_for(writable, token=TOKEN) as client:
        index = Index.open("words", writable)
        found = client.post("/indexes/words/search", json={"image": photo, "k": 3, "kind": "text"}).json()
        assert found == query.search(index, index.load_space(), image=base64.b64decode(photo), k=3, kind="text")
        assert found["query"]["image"].endswith("bytes>") and "cat" in {r["text"] for r in found["results"]}
        data_url = client.post("/indexes/words/embed", json={"images": [f"data:image/png;base64,{photo}"]}).json()
        assert len(data_url["vectors"]) == 1 and len(data_url["vectors"][0]) == 512
        added = client.post("/indexes/words/items", headers=bearer(), json={"items": [
            {"image": photo, "text": "a tabby cat", "lang": "en", "label": "photo"}]}).json()
        assert added["added"] == 1
        again = client.post("/indexes/words/search", json={"image": photo, "k": 1, "kind": "image"}).json()
        assert again["results"][0]["id"] == added["ids"][0] and again["results"][0]["path"] is None
