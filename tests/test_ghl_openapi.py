"""Every request the GHL client makes, checked against GHL's own OpenAPI files.

The specs live beside the project as ``../shared/specs/ghl`` (CI copies them
there); without them the test skips and says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from integration_health.clients.ghl import GhlClient

REPO_ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = [REPO_ROOT.parent / "shared/specs/ghl", Path("/work/shared/specs/ghl")]
SPEC_DIR = next((p for p in CANDIDATES if (p / "apps").is_dir()), None)
BASE = "https://services.leadconnectorhq.com"
TOKEN = "pit-openapi-token-1"

pytestmark = pytest.mark.skipif(
    SPEC_DIR is None, reason="GHL OpenAPI specs not found at ../shared/specs/ghl"
)


def _load(name: str) -> dict[str, Any]:
    assert SPEC_DIR is not None
    return dict(json.loads((SPEC_DIR / "apps" / f"{name}.json").read_text()))


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _properties(spec: dict[str, Any], schema: Any) -> set[str]:
    schema = _resolve(spec, schema)
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []) + schema.get("oneOf", []):
        names |= _properties(spec, part)
    return names


def _operation(request: httpx.Request) -> tuple[dict[str, Any], dict[str, Any]]:
    family = request.url.path.strip("/").split("/")[0]
    spec = _load(family)
    method = request.method.lower()
    for template, ops in spec["paths"].items():
        parts = re.split(r"\{[^/]+\}", template)
        pattern = "[^/]+".join(re.escape(part) for part in parts)
        if re.fullmatch(pattern, request.url.path) and method in ops:
            return spec, ops[method]
    raise AssertionError(f"{request.method} {request.url.path} not in the spec")


def _check(request: httpx.Request) -> None:
    spec, op = _operation(request)
    params = [_resolve(spec, p) for p in op.get("parameters", [])]
    declared_query = {p["name"] for p in params if p["in"] == "query"}
    for param in params:
        if param["in"] == "header" and param.get("required"):
            value = request.headers.get(param["name"])
            assert value, f"missing header {param['name']}"
            enum = param.get("schema", {}).get("enum")
            assert enum is None or value in enum, f"{param['name']}={value}"
        if param["in"] == "query" and param.get("required"):
            assert param["name"] in request.url.params, f"missing {param['name']}"
    assert set(request.url.params) <= declared_query
    assert request.headers["Authorization"].startswith("Bearer ")
    body = request.read()
    if body:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        assert set(json.loads(body)) <= _properties(spec, schema)


def _exercise(client: GhlClient) -> None:
    client.find_duplicate(TOKEN, "loc", email="a@b.co", number="+15550001111")
    client.upsert_contact(
        TOKEN, "loc", email="a@b.co", phone="+1555", first_name="A", last_name="B"
    )
    client.create_contact(
        TOKEN, "loc", email="a@b.co", phone="+1555", first_name="A", last_name="B"
    )
    client.get_contact(TOKEN, "c1")
    client.search_conversations(TOKEN, "loc", "c1")
    list(client.iter_messages(TOKEN, "conv1", limit=2))
    client.send_sms(TOKEN, "c1", "hi")


def test_every_request_matches_the_openapi_spec(httpx_mock: HTTPXMock) -> None:
    reply = {
        "contact": {"id": "c1"},
        "new": False,
        "conversations": [],
        "messages": {"lastMessageId": "m1", "nextPage": False, "messages": []},
        "conversationId": "v1",
        "messageId": "m1",
    }
    httpx_mock.add_response(json=reply, is_reusable=True)
    _exercise(GhlClient(BASE, limiter=None))
    requests = httpx_mock.get_requests()
    assert len(requests) == 7
    for request in requests:
        _check(request)


def test_a_wrong_version_header_is_caught(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={"contact": {"id": "c1"}})
    GhlClient(BASE, api_version="2099-01-01", limiter=None).get_contact(TOKEN, "c1")
    with pytest.raises(AssertionError):
        _check(httpx_mock.get_requests()[0])
