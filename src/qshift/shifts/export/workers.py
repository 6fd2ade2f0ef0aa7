"""The process pool of an export: spawn workers that die with their parent.

A parent killed with SIGKILL cannot stop its pool, whose processes would otherwise live on and
keep writing while a resumed run writes the same files. On Linux the kernel kills each worker
the moment the parent dies (``PR_SET_PDEATHSIG``); elsewhere, and for a parent that died before
that was set, a daemon thread polls the parent id and ends the worker when it changes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_POLL_SECONDS = 0.05


def map_jobs(
    work: Callable[[Any], Any],
    jobs: Sequence[Any],
    workers: int,
    setup: Callable[[], None] | None = None,
) -> Generator[Any, None, None]:
    """Results of ``work(job)`` as they finish: in this process for one worker, else in a spawn pool.

    ``setup`` runs once in each pool process (a module-level function, as spawn pickles it).
    Closing the generator stops the pool and cancels the jobs not yet started.
    """
    if workers == 1 or len(jobs) <= 1:
        yield from (work(job) for job in jobs)
        return
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=get_context("spawn"),
        initializer=_init_worker,
        initargs=(os.getpid(), setup),
    )
    try:
        futures: list[Future[Any]] = [pool.submit(work, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def chunk_size(count: int, workers: int, cap: int) -> int:
    """Items per job: about four jobs per worker (so the pool stays busy to the end), at most ``cap``."""
    return max(1, min(cap, -(-count // (4 * workers))))


def one_opencv_thread() -> None:
    """Give a pool process one OpenCV thread: the parallelism comes from the processes."""
    import cv2

    cv2.setNumThreads(1)


def _init_worker(parent: int, setup: Callable[[], None] | None) -> None:
    """Set up a pool process: die with the parent, then run the kind's own ``setup``."""
    _die_with_parent()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    if setup is not None:
        setup()


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent exits; a no-op where prctl is missing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _exit_with_parent(parent: int) -> None:
    """End this process as soon as its parent is no longer ``parent``."""
    while os.getppid() == parent:
        time.sleep(_POLL_SECONDS)
    os._exit(1)
