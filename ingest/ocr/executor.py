"""The one way pages run in parallel.

Workers are processes, not threads: the work is CPU-bound (tesseract is a child process,
but decoding, resizing and compressing page images happen in Python's Pillow calls).

They are started with "forkserver", not "fork": the process that runs a job has threads
(job lease heartbeats, the scheduler, the web server under `chartvault serve`), and a
plain fork copies whatever locks those threads hold at that instant (logging, database
drivers) into a child that can then deadlock. "spawn" is just as safe but starts a fresh
interpreter, re-importing Pillow and pikepdf, for every worker of every document; the fork
server imports the step modules once and forks clean, single-threaded children from
itself. (Python 3.14 made forkserver the default on Linux for the same reason.) Whatever
crosses to a worker must therefore be picklable: a module-level function and plain
arguments (paths, numbers, frozen dataclasses of them).

Each worker process dies with the process that started the pool, even a SIGKILLed one,
and takes the programs it started with it: one more thread in it, which only waits, watches
that process (ingest.ocr.lifeline)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from ingest.ocr import lifeline
from ingest.ocr.errors import OcrError

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_pages(
    fn: Callable[[Item], Result], items: Iterable[tuple[int, Item]], workers: int
) -> Iterator[tuple[int, Result]]:
    """Run `fn` on each (page_number, item) and yield (page_number, result) as pages
    finish, in completion order, so the caller can report progress as it happens.

    `workers=1` runs everything in this process, in order (tests, debugging, profiling).
    The first exception from any page is re-raised here; pages not yet started are
    cancelled. Closing the iterator early cancels them too."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    pending = list(items)
    if workers == 1 or len(pending) <= 1:
        for number, item in pending:
            yield number, fn(item)
        return
    context = multiprocessing.get_context("forkserver")
    # Only takes effect when the fork server starts (once per parent process).
    context.set_forkserver_preload([fn.__module__, lifeline.__name__])
    with ProcessPoolExecutor(
        max_workers=min(workers, len(pending)),
        mp_context=context,
        initializer=lifeline.die_with_parent,
        initargs=(lifeline.identity(os.getpid()),),
    ) as pool:
        futures: dict[Future[Result], int] = {
            pool.submit(fn, item): number for number, item in pending
        }
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BrokenProcessPool as exc:
            raise OcrError(
                "An OCR worker process stopped unexpectedly (the server may be short of "
                "memory). Retry the job."
            ) from exc
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
