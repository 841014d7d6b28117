"""Every endpoint and error code through the unmodified SDK (strict validation) against the emulator run as a
process, ``python -m batchnb sim`` — the way a user or another tool would meet it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import anthropic
import pytest

from .helpers import wait_ended


def strict(base_url: str, key: str = "key-1", **options) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key=key, _strict_response_validation=True, **options)


def request(i: int, model: str = "claude-haiku-4-5", **params) -> dict:
    return {"custom_id": f"req-{i}", "params": {"model": model, "max_tokens": 16,
                                                "messages": [{"role": "user", "content": f"hello {i}"}], **params}}


def raw_call(base_url: str, path: str, headers: dict[str, str], method: str = "GET") -> tuple[int, dict, dict]:
    call = urllib.request.Request(base_url + path, headers=headers, method=method)
    try:
        with urllib.request.urlopen(call) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_every_endpoint_through_the_sdk_against_the_process(emulator_process):
    # batches take 2 s: the checks made while they are in flight have wide margins on a loaded machine
    with emulator_process("--latency", "2", "--api-key", "key-1", "--max-requests", "5",
                          "--max-batch-bytes", "4000") as base_url:
        client = strict(base_url, max_retries=0)
        created = [client.messages.batches.create(requests=[request(i) for i in range(3)]) for _ in range(4)]
        first = created[0]
        assert first.processing_status == "in_progress" and first.request_counts.processing == 3
        assert first.results_url is None

        # list: newest first, pages both ways, has_more / first_id / last_id
        page = client.messages.batches.list(limit=2)
        assert [b.id for b in page.data] == [created[3].id, created[2].id] and page.has_more
        assert page.first_id == created[3].id and page.last_id == created[2].id
        after = client.messages.batches.list(limit=2, after_id=page.last_id)
        assert [b.id for b in after.data] == [created[1].id, created[0].id] and not after.has_more
        before = client.messages.batches.list(limit=2, before_id=created[1].id)
        assert [b.id for b in before.data] == [created[3].id, created[2].id]
        assert [b.id for b in client.messages.batches.list(limit=1)] == [b.id for b in reversed(created)]

        # cancel: canceling, then ended; delete only once ended; never 409
        canceled = client.messages.batches.cancel(created[3].id)
        assert canceled.processing_status == "canceling" and canceled.cancel_initiated_at is not None
        with pytest.raises(anthropic.BadRequestError):
            client.messages.batches.delete(created[2].id)  # still in progress: 400, not 409
        status, _, body = raw_call(base_url, f"/v1/messages/batches/{created[2].id}/results",
                                   {"x-api-key": "key-1", "anthropic-version": "2026-10-21"})
        assert status == 400 and body["error"]["type"] == "invalid_request_error"  # results before the end
        ended = wait_ended(client, first.id)
        assert ended.processing_status == "ended" and ended.results_url.startswith(base_url)
        lines = list(client.messages.batches.results(first.id))
        assert sorted(line.custom_id for line in lines) == ["req-0", "req-1", "req-2"]
        assert all(line.result.type == "succeeded" for line in lines)
        assert client.messages.batches.retrieve(created[3].id).request_counts.canceled == 3
        deleted = client.messages.batches.delete(first.id)
        assert deleted.id == first.id and deleted.type == "message_batch_deleted"

        # count_tokens
        count = client.messages.count_tokens(model="claude-haiku-4-5",
                                             messages=[{"role": "user", "content": "hello " * 40}])
        assert count.input_tokens > 40

        # errors with their real bodies: 404, 400 (custom_id, duplicates, 0 and too many), 413, 401
        with pytest.raises(anthropic.NotFoundError) as not_found:
            client.messages.batches.retrieve(first.id)  # deleted
        assert not_found.value.request_id and not_found.value.body["error"]["type"] == "not_found_error"
        bad = [[{"custom_id": "has space", "params": request(0)["params"]}], [request(1), request(1)], [],
               [request(i) for i in range(6)]]
        for requests in bad:
            with pytest.raises(anthropic.BadRequestError) as refused:
                client.messages.batches.create(requests=requests)
            assert refused.value.body["error"]["type"] == "invalid_request_error"
        with pytest.raises(anthropic.APIStatusError) as too_large:
            client.messages.batches.create(requests=[request(0, system="x" * 5000)])
        assert too_large.value.status_code == 413 and too_large.value.body["error"]["type"] == "request_too_large"
        with pytest.raises(anthropic.AuthenticationError):
            strict(base_url, key="wrong", max_retries=0).messages.batches.list()

        # both auth headers, and request-id on every answer
        for headers in ({"x-api-key": "key-1"}, {"authorization": "Bearer key-1"}):
            status, response_headers, body = raw_call(base_url, "/v1/messages/batches?limit=1",
                                                      {**headers, "anthropic-version": "2023-06-01"})
            assert status == 200 and response_headers.get("request-id", "").startswith("req_") and body["data"]
        status, response_headers, body = raw_call(base_url, "/v1/messages/batches", {"x-api-key": "key-1"})
        assert status == 400 and "anthropic-version" in body["error"]["message"] and response_headers["request-id"]
        status, _, body = raw_call(base_url, "/v1/messages/batches", {"anthropic-version": "2026-10-21"})
        assert status == 401 and body["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("status, exception", [(429, anthropic.RateLimitError), (500, anthropic.InternalServerError),
                                               (529, anthropic.OverloadedError)])
def test_injected_errors_reach_the_sdk_as_their_exceptions(emulator_process, status, exception):
    with emulator_process("--error-rate", "1", "--error-statuses", str(status)) as base_url:
        with pytest.raises(exception) as raised:
            strict(base_url, max_retries=0).messages.batches.list()
    assert raised.value.status_code == status and raised.value.request_id
