"""Every refusal: unknown index 404, token 401/403 checked before the body is read, body too large
413 (declared length or streamed), invalid fields 422, Host names, CORS, a busy index 409. Each is
JSON with a message, and none is a 500."""

import asyncio
import base64
import json

import pytest
from PIL import Image

from embedspace.errors import InputError
from embedspace.index.store import IndexLock
from embedspace.serve import ServeSettings, create_app
from embedspace.serve.settings import MAX_BATCH, MAX_BODY_BYTES, MAX_K, MAX_TEXT_CHARS

from .serving import TOKEN, bearer, client_for, png_base64

ADD = {"items": [{"text": "Löwe", "lang": "de"}]}


def refused(response, status: int, fragment: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == status and body["error"] and fragment in body["message"], body
    return body


def test_an_unknown_index_is_404(reader):
    body = refused(reader.post("/indexes/nothing/search", json={"text": "perro"}), 404, "No index 'nothing'")
    assert "words" in body["message"]  # names the ones there are
    refused(reader.get("/indexes/nothing"), 404)
    refused(reader.get("/no/such/path"), 404, "No such path: GET /no/such/path")
    refused(reader.get("/indexes/words/search"), 405, "does not take GET")


@pytest.fixture()
def writer(writable):
    with client_for(writable, token=TOKEN) as client:
        yield client


def test_writes_need_the_token(writer):
    body = refused(writer.post("/indexes/words/items", json=ADD), 401, "Authorization: Bearer")
    assert body["error"] == "token_required"
    assert writer.post("/indexes/words/items", json=ADD).headers["www-authenticate"] == "Bearer"
    refused(writer.post("/indexes/words/items", json=ADD, headers=bearer("a-wrong-token-of-some-length")), 403,
            "Wrong token")
    refused(writer.post("/indexes/words/items", json=ADD, headers={"Authorization": f"Basic {TOKEN}"}), 401)
    refused(writer.request("DELETE", "/indexes/words/items", json={"ids": [1]}), 401)
    assert writer.post("/indexes/words/items", json=ADD, headers=bearer()).json()["added"] == 1
    assert writer.post("/indexes/words/search", json={"text": "perro"}).status_code == 200  # reads stay open


def test_a_server_without_a_token_takes_no_writes(reader):
    refused(reader.post("/indexes/words/items", json=ADD, headers=bearer()), 403, "started without a token")
    refused(reader.request("DELETE", "/indexes/words/items", json={"ids": [1]}, headers=bearer()), 403)


def test_reads_can_be_put_behind_the_token(served):
    with client_for(served, token=TOKEN, protect_reads=True) as client:
        refused(client.post("/indexes/words/search", json={"text": "perro"}), 401)
        refused(client.get("/indexes"), 401)
        refused(client.get("/metrics"), 401)
        assert client.post("/indexes/words/search", json={"text": "perro"}, headers=bearer()).status_code == 200
        assert client.get("/health").status_code == 200  # no data: open, as are the docs and the schema
        assert client.get("/openapi.json").status_code == 200 and client.get("/docs").status_code == 200


def test_settings_refuse_a_short_token_and_protected_reads_without_one():
    with pytest.raises(InputError, match="at least 16"):
        ServeSettings(token="short")
    with pytest.raises(InputError, match="needs a token"):
        ServeSettings(protect_reads=True)


def call(app, method: str, path: str, headers: dict, chunks: list[bytes]):
    """Drive the ASGI app directly: (status, body, how many body chunks the app asked for)."""
    asked, sent = [], []
    pending = list(chunks)

    async def receive():
        asked.append(1)
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"127.0.0.1:8000"), *((k.lower().encode(), v.encode()) for k, v in headers.items())]}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), len(asked)


def test_the_token_is_checked_before_the_body_is_read(writable):
    app = create_app(ServeSettings(index_dir=str(writable), token=TOKEN))
    body = [json.dumps(ADD).encode()]
    assert call(app, "POST", "/indexes/words/items", {"content-type": "application/json"}, body)[::2] == (401, 0)
    wrong = {"content-type": "application/json", "authorization": "Bearer a-wrong-token-of-some-length"}
    assert call(app, "POST", "/indexes/words/items", wrong, body)[::2] == (403, 0)
    # even a body declared far over the limit: the missing token is what is said first
    huge = {"content-type": "application/json", "content-length": str(10 * MAX_BODY_BYTES)}
    assert call(app, "POST", "/indexes/words/items", huge, body)[::2] == (401, 0)


def test_a_body_over_the_limit_is_413_declared_or_streamed(reader, served):
    app = create_app(ServeSettings(index_dir=str(served)))
    declared = {"content-type": "application/json", "content-length": str(MAX_BODY_BYTES + 1)}
    status, body, asked = call(app, "POST", "/indexes/words/search", declared, [b"{}"])
    assert (status, body["error"], asked) == (413, "too_large", 0)  # refused on the header, nothing read
    chunk = b" " * (1024 * 1024)
    streamed = [chunk] * 20  # 20 MiB in chunks, no Content-Length
    status, body, asked = call(app, "POST", "/indexes/words/search", {"content-type": "application/json"}, streamed)
    assert status == 413 and asked == MAX_BODY_BYTES // len(chunk) + 1  # stopped as soon as it passed the limit
    refused(reader.post("/indexes/words/search", content=b" " * (MAX_BODY_BYTES + 1),
                        headers={"content-type": "application/json"}), 413, f"{MAX_BODY_BYTES:,} bytes")


BOMB = Image.new("1", (8000, 8000))  # 64 megapixels in a few kB of PNG


@pytest.mark.parametrize("body, field", [
    ({"text": "perro", "colour": "red"}, "body.colour"),  # unknown field
    ({"text": "perro", "k": 0}, "body.k"),
    ({"text": "perro", "k": MAX_K + 1}, "body.k"),
    ({"text": "perro", "k": "ten"}, "body.k"),
    ({"text": "x" * (MAX_TEXT_CHARS + 1)}, "body.text"),
    ({"text": ""}, "body.text"),
    ({"text": "perro\ud800"}, "body.text"),  # half a surrogate pair
    ({"text": "perro", "kind": "video"}, "body.kind"),
    ({}, "body"),  # no query
    ({"text": "perro", "id": 3}, "body"),  # two queries
    ({"text": "perro", "image_via": "conse"}, "body"),
    ({"image": "not base64!"}, "body.image"),
    ({"vector": [1.0, "x"]}, "body.vector.1"),
    ({"id": -1}, "body.id"),
])
def test_invalid_fields_are_422_naming_the_field(reader, body, field):
    as_json = json.dumps(body).encode()  # ASCII with \u escapes: a lone surrogate travels as JSON may carry it
    answer = refused(reader.post("/indexes/words/search", content=as_json, headers={"content-type": "application/json"}),
                     422, "Invalid request")
    assert field in [d["field"] for d in answer["details"]], answer
    assert "perro\ud800" not in answer["message"]  # the input is never echoed back


@pytest.mark.parametrize("path, body, fragment", [
    ("search", {"vector": [1.0, 2.0]}, "index's space has 512"),
    ("search", {"vector": [0.0] * 512}, "all zeros"),
    ("search", {"id": 999}, "no item with id 999"),
    ("search", {"text": "perro", "lang": "not a language"}, "not a language"),
    ("search", {"image": png_base64(BOMB)}, "decompression bomb"),
    ("search", {"image": base64.b64encode(b"no image here").decode()}, "not an image"),
    ("search", {"image": png_base64(Image.new("RGB", (4, 4))), "image_via": "teleport"}, "no image route"),
    ("translate", {"text": "perro", "to": "fr"}, "no text items in 'fr'"),
    ("analogy", {"a": "man", "b": "king", "c": " "}, "empty"),
    ("embed", {"texts": ["  "]}, "empty"),
])
def test_what_the_index_cannot_answer_is_422(reader, path, body, fragment):
    refused(reader.post(f"/indexes/words/{path}", json=body), 422, fragment)


def test_batches_and_lists_have_limits(reader, writer):
    refused(reader.post("/indexes/words/search/batch", json={"texts": ["a"] * (MAX_BATCH + 1)}), 422)
    refused(reader.post("/indexes/words/analogy/batch", json={"triples": [["a", "b"]]}), 422)
    refused(writer.post("/indexes/words/items", headers=bearer(), json={"items": []}), 422)
    refused(writer.post("/indexes/words/items", headers=bearer(), json={"items": [{"lang": "de"}]}), 422,
            "give a text, an image")
    refused(writer.post("/indexes/words/items", headers=bearer(), json={"items": [{"text": "x", "path": "/etc"}]}), 422)


def test_bad_bodies_are_4xx_not_500(reader):
    refused(reader.post("/indexes/words/search", content=b"{", headers={"content-type": "application/json"}), 422)
    refused(reader.post("/indexes/words/search", content=b"text=perro",
                        headers={"content-type": "application/x-www-form-urlencoded"}), 422)
    refused(reader.post("/indexes/words/search", content=b"[" * 100_000, headers={"content-type": "application/json"}),
            400)
    refused(reader.post("/indexes/words/search", json=["perro"]), 422)
    refused(reader.post("/indexes/words/search", content=b"{}", headers={"content-length": "ten"}), 400)


def test_removing_what_is_not_there_or_everything_is_422(writer):
    refused(writer.request("DELETE", "/indexes/words/items", headers=bearer(), json={"ids": [999]}), 422,
            "No items with ids [999]")
    refused(writer.request("DELETE", "/indexes/words/items", headers=bearer(), json={"ids": list(range(36))}), 422,
            "remove all 36 items")


def test_a_write_while_another_process_writes_is_409(writer, writable):
    with IndexLock("words", writable):
        body = refused(writer.post("/indexes/words/items", headers=bearer(), json=ADD), 409, "being written")
    assert body["error"] == "conflict"
    assert writer.post("/indexes/words/items", headers=bearer(), json=ADD).status_code == 200


def test_only_known_host_names_are_answered(served):
    with client_for(served) as client:
        for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
            assert client.get("/indexes", headers={"host": host}).status_code == 200, host
        refused(client.get("/indexes", headers={"host": "attacker.example"}), 400, "'attacker.example'")
    with client_for(served, allowed_hosts=("embed.lan",)) as client:
        assert client.get("/indexes", headers={"host": "embed.lan:8000"}).status_code == 200
        refused(client.get("/indexes", headers={"host": "other.lan"}), 400)


def test_no_cors_headers_unless_an_origin_is_configured(served):
    origin = {"origin": "http://elsewhere.example"}
    with client_for(served) as client:
        answer = client.post("/indexes/words/search", json={"text": "perro"}, headers=origin)
        assert answer.status_code == 200 and not any(h.startswith("access-control-") for h in answer.headers)
        assert answer.headers["x-content-type-options"] == "nosniff"
        preflight = client.options("/indexes/words/search", headers={**origin, "access-control-request-method": "POST"})
        assert not any(h.startswith("access-control-") for h in preflight.headers)
    with client_for(served, cors_origins=("http://app.example",)) as client:
        allowed = client.post("/indexes/words/search", json={"text": "perro"}, headers={"origin": "http://app.example"})
        assert allowed.headers["access-control-allow-origin"] == "http://app.example"
        other = client.post("/indexes/words/search", json={"text": "perro"}, headers=origin)
        assert "access-control-allow-origin" not in other.headers
