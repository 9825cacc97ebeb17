"""Where the runs of an experiment execute: in this process, in local processes, or on dask.

All executors take the same task list and function and yield ``(task, result, error)`` as runs
finish, in completion order (the engine never depends on that order). A run whose function raises
is yielded with its exception and the others go on.

- ``local`` with one worker runs everything in this process, one run after another (easy to debug
  and profile, and the only mode where a test can monkeypatch the run function).
- ``local`` with N workers uses a ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn``
  start method (no inherited locks or BLAS thread pools from a forked parent) and one BLAS/OpenMP
  thread per worker, so N workers use N cores. A worker process that dies (killed, out of
  memory) breaks the pool; the pool is restarted up to ``retries`` times for the runs that had not
  finished, after which they are reported as failed.
- ``dask`` submits every run to a ``dask.distributed`` scheduler: an existing one (``scheduler``
  address: a cluster started by ``dask scheduler``/``dask worker`` or by dask-jobqueue on
  SLURM/PBS) or, without an address, a ``LocalCluster`` of N single-threaded worker processes bound
  to 127.0.0.1. Each run is retried ``retries`` times (a worker lost mid-run, a transient error).
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

Task = TypeVar("Task")
Backend = Literal["local", "dask"]
Finished = tuple[Any, Any, BaseException | None]

# Each worker is one simulation at a time; more BLAS/OpenMP threads would only oversubscribe.
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


class WorkerDied(RuntimeError):
    """A worker process ended without finishing its run (killed, out of memory, crashed)."""


def execute(
    tasks: Sequence[Task],
    function: Callable[[Task], Any],
    *,
    key: Callable[[Task], str],
    workers: int = 1,
    backend: Backend = "local",
    scheduler: str | None = None,
    retries: int = 2,
) -> Iterator[Finished]:
    """Run ``function`` on every task; yield ``(task, result, None)`` or ``(task, None, error)``.

    Args:
        tasks: Picklable tasks.
        function: A module-level (importable) function of one task.
        key: A unique, readable name for a task (dask task keys).
        workers: Local processes (``local``) or LocalCluster workers (``dask`` without scheduler).
        backend: ``local`` or ``dask``.
        scheduler: Address of a running dask scheduler (``dask`` only).
        retries: Extra attempts of a task after a lost worker (and, on dask, after any error).
    """
    if not tasks:
        return iter(())
    if backend == "dask":
        return _dask(tasks, function, key, workers, scheduler, retries)
    if workers <= 1:
        return _in_process(tasks, function)
    return _process_pool(tasks, function, min(workers, len(tasks)), retries)


def _in_process(tasks: Sequence[Task], function: Callable[[Task], Any]) -> Iterator[Finished]:
    for task in tasks:
        try:
            result = function(task)
        except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the others go on
            yield task, None, exc
        else:
            yield task, result, None


@contextmanager
def single_threaded_children():
    """Make processes started inside the block use one BLAS/OpenMP thread (unless set already)."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _interrupts_ignored():
    """Ignore SIGINT in this process inside the block (main thread only; elsewhere a no-op)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals cannot be changed here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ignore_interrupts() -> None:
    """Worker initializer: Ctrl-C is for the parent, which stops the workers itself.

    A terminal's Ctrl-C reaches every process of the foreground group; workers that took it would
    each print a KeyboardInterrupt traceback over the parent's one-line message.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _process_pool(
    tasks: Sequence[Task], function: Callable[[Task], Any], workers: int, retries: int
) -> Iterator[Finished]:
    # At most `window` tasks are handed to the pool at a time: the pool pickles every submitted task up
    # front, and a sweep of 20,000 runs need not hold 20,000 pickled configs; runs also finish in
    # roughly plan order, so the engine holds few unfinished batches at once.
    queue = deque(tasks)
    window = 2 * workers
    attempts: dict[int, int] = {}
    context = multiprocessing.get_context("spawn")
    while queue:
        futures: dict[Any, Task] = {}
        lost: list[Task] = []
        # The pool starts its processes at the first submit; started with SIGINT ignored, they keep it
        # ignored from their first instruction (a Ctrl-C while they import would otherwise print a
        # traceback each), and the initializer makes sure of it.
        with single_threaded_children(), _interrupts_ignored():
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_ignore_interrupts)
            task = queue.popleft()
            futures[pool.submit(function, task)] = task
        try:
            while (queue and not lost) or futures:
                while queue and not lost and len(futures) < window:
                    task = queue.popleft()
                    futures[pool.submit(function, task)] = task
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    task = futures.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        lost.append(task)
                    except Exception as exc:  # noqa: BLE001 - recorded, the others go on
                        yield task, None, exc
                    else:
                        yield task, result, None
        except BaseException:
            # Ctrl-C or the caller stopped: end now rather than wait for the runs in flight
            # (their outputs are written atomically, so --resume simply runs them again).
            _terminate(pool)
            raise
        pool.shutdown(wait=True)
        # A dead worker breaks the whole pool and every run in flight with it: none can be blamed
        # alone, so each is tried again, up to `retries` more times, in a fresh pool.
        retry = []
        for task in lost:
            attempts[id(task)] = attempts.get(id(task), 0) + 1
            if attempts[id(task)] > retries:
                yield (
                    task,
                    None,
                    WorkerDied(
                        f"a worker process died before this run finished ({retries + 1} attempts); "
                        "killed or out of memory? try fewer workers, or --backend dask"
                    ),
                )
            else:
                retry.append(task)
        queue.extendleft(reversed(retry))


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's worker processes at once (Python 3.14 has ``terminate_workers``)."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _dask(
    tasks: Sequence[Task],
    function: Callable[[Task], Any],
    key: Callable[[Task], str],
    workers: int,
    scheduler: str | None,
    retries: int,
) -> Iterator[Finished]:
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        # Bound to the loopback interface and without a dashboard: nothing listens on the network.
        cluster = LocalCluster(
            n_workers=max(1, workers), threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        client = Client(cluster)
    try:
        # A per-invocation token keeps keys unique when several experiments share a scheduler.
        token = secrets.token_hex(4)
        queue = deque(tasks)
        # As for local processes, a bounded number of runs is with the scheduler at a time (it holds
        # every submitted task's pickle); enough to keep every worker of the cluster busy.
        window = 2 * max(workers, sum(client.nthreads().values()), 1)
        futures: dict[Any, Task] = {}

        def submit() -> Any:
            task = queue.popleft()
            future = client.submit(function, task, key=f"lendsim-{key(task)}-{token}", pure=False, retries=retries)
            futures[future] = task
            return future

        finished = dask_completed([submit() for _ in range(min(window, len(queue)))])
        for future in finished:
            task = futures.pop(future)
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - recorded, the others go on
                yield task, None, exc
            else:
                yield task, result, None
            finally:
                future.release()
            if queue:
                finished.add(submit())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


__all__ = ["Backend", "WorkerDied", "execute", "single_threaded_children"]
