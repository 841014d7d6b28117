"""A run to be killed: ``python kill_worker.py '<json options>'`` prints a JSON summary when it finishes.

Not a test module: ``test_kill_resume.py`` starts it, SIGKILLs it at chosen moments and starts it again.
"""

import json
import sys

import anthropic

from batchnb import BatchManager


def main() -> None:
    options = json.loads(sys.argv[1])
    client = anthropic.Anthropic(base_url=options.pop("base_url"), api_key="kill-test", max_retries=5)
    count = options.pop("count")
    manager = BatchManager(messages=[f"item {i}: say something" for i in range(count)], model="claude-haiku-4-5",
                           client=client, max_tokens=64, **options)
    results = manager.run()
    print(json.dumps({"statuses": [r.status for r in results], "indices": [r.index for r in results],
                      "cost": manager.stats.cost, "budget_stop": manager.stats.budget_stop}))


if __name__ == "__main__":
    main()
