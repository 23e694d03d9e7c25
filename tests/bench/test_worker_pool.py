"""The bench's worker pool keeps job order and survives workers being replaced."""

import operator
import os
import sys

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "bench")
sys.path.insert(0, BENCH)

from worker_pool import run_in_workers  # noqa: E402


def test_jobs_come_back_in_order_when_every_worker_retires_after_one_job():
    # 2 workers × 1 task each: the pool replaces a worker five times (the executor of 3.11 hung here).
    assert run_in_workers(operator.mul, 3, list(range(7)), workers=2, tasks_per_worker=1) == [0, 3, 6, 9, 12, 15, 18]


def test_one_worker_runs_the_jobs_in_this_process():
    assert run_in_workers(operator.add, 10, [1, 2], workers=1) == [11, 12]
