"""Run independent rows of an experiment in worker processes, one torch thread each.

The labs' attacks work on one image or a small batch of a small model, and their federations
train small models on batches of 32. On such work a second torch thread buys little: on the
2-core CI machine, two processes with one thread each finish chapter 6's CAFE matrix in 57 % of
the time one process with two threads takes (56 s against 98 s). Every row
the experiments hand over is self-contained (it rewinds its defense and seeds its model and
attack), and every row runs on one thread, in a worker or here, so the results are the same
numbers whichever worker runs it and however many there are, and come back in order.

Worker processes are forked, so the rows may be closures over models, data and lambdas;
where forking is not the platform's safe default (macOS, Windows), once CUDA is in use (a
forked child cannot use it), or inside a worker, the rows run one after the other in this
process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import torch
from tqdm.auto import tqdm

from fl_course.checks import check_int

__all__ = ["default_processes", "map_rows"]

T = TypeVar("T")

_ROWS: Sequence[Callable[[], object]] = ()
_IN_WORKER = False


def default_processes() -> int:
    """Worker processes to use: ``FL_COURSE_PROCESSES`` if set, else the number of CPUs (≤ 4)."""
    text = os.environ.get("FL_COURSE_PROCESSES")
    if text is None:
        return min(os.cpu_count() or 1, 4)
    try:
        value = int(text)
    except ValueError:
        raise ValueError(
            f"FL_COURSE_PROCESSES={text!r} is not an integer; set it to e.g. 2, or 1 to run "
            "everything in this process."
        ) from None
    return check_int("FL_COURSE_PROCESSES", value, example=2)


def _start_worker() -> None:
    global _IN_WORKER
    _IN_WORKER = True
    torch.set_num_threads(1)


def _run_row(index: int) -> object:
    return _ROWS[index]()


def map_rows(
    rows: Sequence[Callable[[], T]],
    processes: int | None = None,
    *,
    desc: str | None = None,
    progress: bool = False,
) -> Iterator[T]:
    """Call every row and yield the results in order, spread over forked workers.

    Parameters
    ----------
    rows : sequence of callables
        Independent, seeded pieces of work without arguments; their results must pickle.
    processes : int, optional
        Worker processes (default :func:`default_processes`). With 1, on platforms other
        than Linux, with CUDA in use, inside a worker, or for a single row, the rows run
        here, in order.
    desc : str, optional
        Label of the progress bar.
    progress : bool, default False
        Show a progress bar over the rows.

    Examples
    --------
    >>> list(map_rows([lambda: 1, lambda: 2, lambda: 3], processes=2))
    [1, 2, 3]
    """
    processes = default_processes() if processes is None else check_int("processes", processes)
    results = _results(rows, min(processes, len(rows)))
    yield from tqdm(results, total=len(rows), desc=desc, disable=not progress, leave=False)


def _results(rows: Sequence[Callable[[], T]], processes: int) -> Iterator[T]:
    global _ROWS
    if processes <= 1 or _IN_WORKER or sys.platform != "linux" or torch.cuda.is_initialized():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in a worker: the same numbers to the last bit
        try:
            for row in rows:
                yield row()
        finally:
            torch.set_num_threads(threads)
        return
    _ROWS = rows
    context = multiprocessing.get_context("fork")
    try:
        with context.Pool(processes, initializer=_start_worker) as pool:
            yield from pool.imap(_run_row, range(len(rows)))
    finally:
        _ROWS = ()
