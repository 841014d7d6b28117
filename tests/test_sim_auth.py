"""Auth and version headers, request-id everywhere, error bodies: raw HTTP with the stdlib."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import anthropic
import pytest

from batchnb.sim import Simulator

BODY = json.dumps({"requests": [{"custom_id": "a", "params": {
    "model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}}]})


def call(sim: Simulator, method: str, path: str, headers: dict, body: str | None = None):
    url = urlsplit(sim.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def keyed():
    with Simulator(latency=0.05, api_keys={"good-key"}) as s:
        yield s


def test_x_api_key_and_old_version_accepted(sim):
    status, headers, body = call(sim, "POST", "/v1/messages/batches",
                                 {"x-api-key": "k", "anthropic-version": "2023-06-01",
                                  "content-type": "application/json"}, BODY)
    assert status == 200 and headers["request-id"].startswith("req_")
    assert json.loads(body)["type"] == "message_batch"


def test_bearer_accepted_and_beta_query_ignored(sim):
    status, headers, body = call(sim, "GET", "/v1/messages/batches?beta=true",
                                 {"authorization": "Bearer k", "anthropic-version": "2026-10-21",
                                  "anthropic-beta": "message-batches-2024-09-24"})
    assert status == 200 and "data" in json.loads(body)


@pytest.mark.parametrize("headers,status,etype,message", [
    ({"anthropic-version": "2023-06-01"}, 401, "authentication_error", "x-api-key header is required"),
    ({"x-api-key": "k"}, 400, "invalid_request_error", "anthropic-version: header is required"),
    ({"x-api-key": "k", "anthropic-version": "2020-01-01"}, 400, "invalid_request_error", "is not a valid version"),
])
def test_header_errors(sim, headers, status, etype, message):
    got, resp_headers, body = call(sim, "GET", "/v1/messages/batches", headers)
    error = json.loads(body)
    assert got == status and resp_headers["request-id"].startswith("req_")
    assert error["type"] == "error" and error["error"]["type"] == etype and message in error["error"]["message"]
    assert error["request_id"] == resp_headers["request-id"]


def test_api_keys_restrict(keyed):
    status, _, body = call(keyed, "GET", "/v1/messages/batches", {"x-api-key": "bad", "anthropic-version": "2023-06-01"})
    assert status == 401 and json.loads(body)["error"]["message"] == "invalid x-api-key"
    assert call(keyed, "GET", "/v1/messages/batches", {"x-api-key": "good-key", "anthropic-version": "2023-06-01"})[0] == 200
    with pytest.raises(anthropic.AuthenticationError):
        keyed.client(max_retries=0).messages.batches.list()
    assert keyed.client(max_retries=0, api_key="good-key").messages.batches.list().data == []


def test_unknown_route_404_with_request_id(sim):
    status, headers, body = call(sim, "GET", "/v1/nothing", {"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert status == 404 and headers["request-id"].startswith("req_")
    assert json.loads(body)["error"]["type"] == "not_found_error"


def test_path_prefix_base_url(sim):
    client = anthropic.Anthropic(base_url=sim.base_url + "/proxy", api_key="k", max_retries=0,
                                 _strict_response_validation=True)
    batch = client.messages.batches.create(requests=[json.loads(BODY)["requests"][0]])
    import time
    time.sleep(0.1)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.results_url.startswith(sim.base_url + "/proxy/v1/")
    assert [r.custom_id for r in client.messages.batches.results(batch.id)] == ["a"]
