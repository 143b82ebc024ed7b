"""The published contract: /openapi.json states the limits and every refusal, names every field,
marks what needs the token; the docs page and its assets come from this server only."""

import re

import pytest

from embedspace.serve.settings import MAX_BATCH, MAX_IDS, MAX_ITEMS, MAX_K, MAX_TEXT_CHARS

from .serving import TOKEN, client_for


@pytest.fixture(scope="module")
def schema(served):
    with client_for(served, token=TOKEN) as client:
        return client.get("/openapi.json").json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_declares_its_refusals_with_the_error_body(schema):
    for name, operation in operations(schema):
        refusals = {code for code in operation["responses"] if code.startswith("4")}
        assert {"400", "413"} <= refusals, name
        if "{name}" in name:
            assert {"404", "409", "422"} <= refusals, name
        for code in refusals:
            assert operation["responses"][code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"}, (name, code)
        assert "HTTPValidationError" not in str(operation)  # FastAPI's own 422 shape is replaced by ours


def test_writes_need_the_token_in_the_schema(schema):
    assert schema["components"]["securitySchemes"]["token"] == {
        "type": "http", "scheme": "bearer", "description": schema["components"]["securitySchemes"]["token"]["description"]}
    secured = {name for name, operation in operations(schema) if operation.get("security")}
    assert secured == {"POST /indexes/{name}/items", "DELETE /indexes/{name}/items"}
    for name in secured:
        assert {"401", "403"} <= set(dict(operations(schema))[name]["responses"])


def test_the_limits_are_in_the_schema(schema):
    models = schema["components"]["schemas"]
    search = models["SearchQuery"]["properties"]
    assert search["k"]["maximum"] == MAX_K and search["k"]["minimum"] == 1
    assert search["text"]["anyOf"][0]["maxLength"] == MAX_TEXT_CHARS
    assert search["image"]["anyOf"][0]["maxLength"] > 0 and "pixels" in search["image"]["anyOf"][0]["description"]
    assert search["vector"]["anyOf"][0]["maxItems"] > 0
    assert models["SearchBatch"]["properties"]["texts"]["anyOf"][0]["maxItems"] == MAX_BATCH
    assert models["NewItems"]["properties"]["items"]["maxItems"] == MAX_ITEMS
    assert models["RemoveItems"]["properties"]["ids"]["maxItems"] == MAX_IDS
    assert models["SearchQuery"]["additionalProperties"] is False  # unknown fields are refused


def test_every_response_field_is_named(schema):
    """No free-form object in an answer: each model lists its properties (maps have typed values)."""
    models = schema["components"]["schemas"]
    for name, model in models.items():
        if name.startswith("Validation"):
            continue
        assert model.get("properties"), name
        for field, spec in model["properties"].items():
            text = str(spec)
            assert "'type': 'object'" not in text or "additionalProperties" in text, (name, field)
    result = models["Result"]["properties"]
    assert list(result) == ["rank", "id", "kind", "text", "lang", "label", "concept", "path", "score", "cosine"]
    assert models["TranslateAnswer"]["properties"].keys() >= {"from", "to", "method", "text_map"}


def test_the_docs_page_loads_nothing_from_elsewhere(reader):
    page = reader.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://", page.text)  # no CDN: every asset is a path on this server
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= set(assets)
    for asset in assets:
        answer = reader.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 500, asset
    assert "/openapi.json" in page.text
    assert reader.get("/docs/assets/index.html").status_code == 404  # the package's demo page is not served
