"""``python -m batchnb.sim`` as a real subprocess driven by the SDK."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import anthropic

from .helpers import end_process


def test_cli_serves_until_terminated(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "batchnb.sim", "--port", "0", "--rpm", "0", "--latency", "0.05",
                             "--store", str(tmp_path), "--extra-model", "claude-3-haiku-20240307"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.fullmatch(r"batchnb emulator listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        client = anthropic.Anthropic(base_url=match.group(1), api_key="k", max_retries=0,
                                     _strict_response_validation=True)
        batch = client.messages.batches.create(requests=[{"custom_id": "a", "params": {
            "model": "claude-3-haiku-20240307", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}}])
        time.sleep(0.08)
        assert client.messages.batches.retrieve(batch.id).request_counts.succeeded == 1
        assert [r.result.type for r in client.messages.batches.results(batch.id)] == ["succeeded"]
    finally:
        assert end_process(proc, terminate=True) == 0
        assert proc.stderr.read() == ""
    assert list(tmp_path.glob("*.batch.json"))
