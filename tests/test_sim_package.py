"""Package boundaries and other SDK flavours."""

from __future__ import annotations

import ast
import asyncio
import pathlib

import anthropic

import batchnb.sim
from batchnb.sim import Simulator


def test_sim_imports_nothing_from_the_rest_of_batchnb_but_the_contract():
    root = pathlib.Path(batchnb.sim.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, (path.name, node.module)
                module = node.module or ""
                assert not (node.level == 0 and module.startswith("batchnb") and module != "batchnb.contract"), (
                    path.name, module)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("batchnb") for a in node.names), path.name
                if any(a.name == "anthropic" for a in node.names):
                    assert path.name == "_simulator.py", path.name


def test_async_client():
    async def run(base_url: str) -> list[str]:
        client = anthropic.AsyncAnthropic(base_url=base_url, api_key="k", max_retries=0,
                                          _strict_response_validation=True)
        batch = await client.messages.batches.create(requests=[{"custom_id": "a", "params": {
            "model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}}])
        await asyncio.sleep(0.05)
        assert (await client.messages.batches.retrieve(batch.id)).processing_status == "ended"
        out = [r.custom_id async for r in await client.messages.batches.results(batch.id)]
        await client.close()
        return out

    with Simulator(latency=0.02) as sim:
        assert asyncio.run(run(sim.base_url)) == ["a"]


def test_restart_same_simulator_object():
    sim = Simulator(latency=0.02)
    sim.start()
    client = sim.client(max_retries=0)
    client.messages.batches.list()
    sim.stop()
    sim.start()
    try:
        assert sim.client(max_retries=0).messages.batches.list().data == []
    finally:
        sim.stop()
