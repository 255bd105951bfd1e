"""Run a deletion slowly in its own process (batches of 2, a pause after each) so a test can kill it mid-way.

python -m tests.deletion.slow_deletion DATABASE_URL SEGMENT_KEY NAME EXPECTED
"""

from __future__ import annotations

import sys
import time

from segpipe.config import Settings
from segpipe.db.engine import get_engine
from segpipe.deletion import DeletionRequest, run_deletion


class SlowProgress:
    def start(self, total: int | None, description: str = "") -> None:
        return None

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        if description:
            print(description, flush=True)
            time.sleep(0.4)

    def finish(self) -> None:
        return None


def main(url: str, key: str, name: str, expected: str) -> None:
    engine = get_engine(Settings(database_url=url))
    request = DeletionRequest(key, "alice", int(expected), name, batch_size=2)
    result = run_deletion(engine, request, SlowProgress())
    print(result.status, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
