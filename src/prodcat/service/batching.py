"""Micro-batching: requests that arrive while the model is busy go into its next call together.

One thread owns the model and calls it with everything queued at that moment (up to
``MAX_BATCH_TEXTS`` texts); an idle service answers a lone request at once, with no waiting
window. Several small requests then cost one model call, and the model is only ever called from
that one thread, so no family needs to be thread-safe.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from prodcat.categorizer import Prediction

MAX_BATCH_TEXTS = 1024
_STOP = object()  # put on the queue by close()
Predict = Callable[[list[str], int], list[Prediction]]


@dataclass
class _Job:
    texts: Sequence[str]
    top_k: int
    result: Future = field(default_factory=Future)


class MicroBatcher:
    """``categorize(texts, top_k)`` from any thread; the model calls happen in one background thread."""

    def __init__(self, predict: Predict, max_batch_texts: int = MAX_BATCH_TEXTS) -> None:
        self._predict = predict
        self._max_batch_texts = max_batch_texts
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._serve_forever, name="prodcat-model", daemon=True)
        self._thread.start()

    def categorize(self, texts: Sequence[str], top_k: int) -> list[Prediction]:
        if self._closed:
            raise RuntimeError("the model thread has stopped")
        job = _Job(texts, top_k)
        self._jobs.put(job)
        return job.result.result()

    def close(self) -> None:
        """Answer what is queued, then stop the thread."""
        self._closed = True
        self._jobs.put(_STOP)
        self._thread.join()

    def _serve_forever(self) -> None:
        carried = None
        while True:
            first = carried if carried is not None else self._jobs.get()
            if first is _STOP:
                return
            batch, carried = self._gather(first)
            self._answer(batch)

    def _gather(self, first: _Job) -> tuple[list[_Job], object | None]:
        """``first`` plus the jobs queued now, up to the text limit; also what did not fit (a job or ``_STOP``)."""
        batch, size = [first], len(first.texts)
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return batch, None
            if job is _STOP or size + len(job.texts) > self._max_batch_texts:
                return batch, job
            batch.append(job)
            size += len(job.texts)

    def _answer(self, batch: list[_Job]) -> None:
        texts = [text for job in batch for text in job.texts]
        try:
            predictions = self._predict(texts, max(job.top_k for job in batch))
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].result.set_exception(exc)
                return
            for job in batch:  # one bad request must not fail the others merged with it
                self._answer([job])
            return
        start = 0
        for job in batch:
            part = predictions[start : start + len(job.texts)]
            start += len(job.texts)
            job.result.set_result([replace(p, top_k=p.top_k[: job.top_k]) for p in part])
