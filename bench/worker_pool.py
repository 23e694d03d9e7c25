"""Runs benchmark trainings in spawned worker processes that are replaced every few tasks.

`concurrent.futures.ProcessPoolExecutor(max_tasks_per_child=...)` deadlocks on Python 3.11 when a
worker retires (CPython gh-115634): the CI run of 2026-12-03 stopped after exactly 2 × 3 trainings.
`multiprocessing.Pool(maxtasksperchild=...)` replaces workers without that race.

Example:
    outcomes = run_in_workers(run_job, context, jobs, workers=2)
"""

import multiprocessing


def run_in_workers(function, context, jobs, workers, tasks_per_worker=3):
    """`[function(context, job) for job in jobs]`, on `workers` processes (1: in this process).

    Every worker is replaced after `tasks_per_worker` jobs, so the memory a training leaves
    behind (TF graphs, caches) is given back.
    """
    if workers <= 1:
        return [function(context, job) for job in jobs]
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(workers, maxtasksperchild=tasks_per_worker) as pool:
        return pool.starmap(function, [(context, job) for job in jobs], chunksize=1)
