"""Adaptive micro-batching: concurrent requests answered by one predict call.

A model's predict has a fixed cost per call (a 100-tree forest spends ~5 ms on one row and
about as much on eight), so the server predicts the requests that arrived together in one
call. When nothing is being predicted, a request is predicted at once; while a predict runs,
new requests queue, and the next call takes all that queued (of the same served version and
shape, up to ``max_rows`` rows). Under light load a request waits for nobody; under heavy load
batches grow by themselves. One refinement keeps them whole: right after a call, the clients it
answered are expected back, so the next call waits for them for at most a quarter of the last
call's duration (5 ms at most), never when nothing else is waiting. Large requests gain too: the
forest's per-row cost falls as calls grow. A second call runs beside the first only when
``PARALLEL_ROWS`` rows are waiting: one-row traffic then stays in one batch, and large requests
use both cores (tree predictions release the GIL). Rows go back to their requests by position;
a model whose output does not have one row per input row, or a batch whose predict fails, is
predicted request by request instead, so one bad request never fails the others.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gittrack.core.errors import ModelError
from gittrack.serving.follower import Served
from gittrack.serving.payload import Parsed


class PredictError(ModelError):
    """The model raised while predicting a request (the server answers 400, as MLflow)."""


@dataclass
class Item:
    """One request waiting for its predictions."""

    served: Served
    parsed: Parsed
    future: asyncio.Future[Any]
    received: float  # time.time() when it arrived, for request logs


PARALLEL_ROWS = 1000  # rows waiting before a second predict call may run beside the first
HOLD_FRACTION, MAX_HOLD = 0.25, 0.005  # the wait for answered clients: 1/4 of a predict, <= 5 ms
BatchHook = Callable[[Served, list[Item], Any, Any], None]


class Batcher:
    """Queues parsed requests and predicts them in batches on a small thread pool."""

    def __init__(self, max_rows: int = 4096, parallel: int = 2, batching: bool = True,
                 on_batch: BatchHook | None = None,
                 on_rows: Callable[[int], None] | None = None) -> None:
        self.max_rows = max(1, max_rows)
        self.parallel = max(1, parallel)
        self.batching = batching
        self.on_batch = on_batch
        self.on_rows = on_rows
        self._pending: deque[Item] = deque()
        self._pending_rows = 0
        self._running = 0
        self._expect = 0  # requests expected back soon: those just answered and those waiting
        self._hold_until = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._predict_seconds = 0.0  # the last predict call's duration
        self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="gittrack-predict")

    @property
    def pending_rows(self) -> int:
        """Rows of the requests waiting for a predict call."""
        return self._pending_rows

    @property
    def running(self) -> int:
        """Predict calls running now."""
        return self._running

    async def predict(self, served: Served, parsed: Parsed) -> Any:
        """The predictions for one request (PredictError when the model raised)."""
        loop = asyncio.get_running_loop()
        item = Item(served, parsed, loop.create_future(), time.time())
        self._pending.append(item)
        self._pending_rows += parsed.rows
        self._dispatch(loop)
        return await item.future

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._pending and self._running < self.parallel and (
                self._running == 0 or not self.batching
                or self._pending_rows >= min(self.max_rows, PARALLEL_ROWS)):
            if self._holding(loop):
                return
            batch = self._take()
            self._running += 1
            done = loop.run_in_executor(self._pool, self._predict, batch)
            done.add_done_callback(functools.partial(self._finish, loop, batch))

    def _holding(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Wait a moment for the clients just answered, so they join the next call.

        Closed-loop clients otherwise settle into two halves that alternate, each predicted
        alone (half the batch, twice the calls). The wait is a quarter of the last predict
        call (at most 5 ms), and ends as soon as as many requests wait as are expected.
        """
        if not self.batching or self._running or len(self._pending) >= self._expect \
                or self._pending_rows >= min(self.max_rows, PARALLEL_ROWS):
            return False
        if loop.time() >= self._hold_until:
            return False
        if self._timer is None:
            self._timer = loop.call_at(self._hold_until, self._release, loop)
        return True

    def _release(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._hold_until = 0.0
        self._dispatch(loop)

    def _take(self) -> list[Item]:
        first = self._pending.popleft()
        taken, rows = [first], first.parsed.rows
        if self.batching and rows < self.max_rows:
            kept: deque[Item] = deque()
            while self._pending:
                item = self._pending.popleft()
                if item.served is first.served and item.parsed.key == first.parsed.key \
                        and rows + item.parsed.rows <= self.max_rows:
                    taken.append(item)
                    rows += item.parsed.rows
                else:
                    kept.append(item)
            self._pending = kept
        self._pending_rows -= rows
        return taken

    def _finish(self, loop: asyncio.AbstractEventLoop, batch: list[Item],
                done: asyncio.Future[list[Any]]) -> None:
        self._running -= 1
        try:
            results = done.result()
        except BaseException as exc:  # noqa: BLE001 - hand any failure to the waiting requests
            results = [exc] * len(batch)
        for item, result in zip(batch, results):
            if item.future.done():  # the client went away
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)
        if self._running == 0:
            if self._timer is not None:  # a new wait replaces the one before
                self._timer.cancel()
                self._timer = None
            self._expect = len(self._pending) + len(batch)
            self._hold_until = loop.time() + min(MAX_HOLD, HOLD_FRACTION * self._predict_seconds)
        self._dispatch(loop)

    def _predict(self, batch: list[Item]) -> list[Any]:
        """Runs on a pool thread: one predict call for the batch, split back by rows."""
        served, first = batch[0].served, batch[0].parsed
        data = first.data if len(batch) == 1 else combine(first.kind, [i.parsed.data for i in batch])
        started = time.perf_counter()
        try:
            output = served.predict(first.kind, data, first.params)
            self._predict_seconds = time.perf_counter() - started
        except Exception as exc:  # noqa: BLE001 - the model's own failure
            if len(batch) == 1:
                return [PredictError(f"{type(exc).__name__}: {exc}")]
            return [self._predict([item])[0] for item in batch]
        parts = split(output, [item.parsed.rows for item in batch])
        if parts is None:
            return [self._predict([item])[0] for item in batch]
        if self.on_rows is not None:
            self.on_rows(len(data))
        if self.on_batch is not None:
            self.on_batch(served, batch, data, output)
        return parts

    def close(self) -> None:
        """Wait for running predictions and stop the threads."""
        self._pool.shutdown(wait=True)


def combine(kind: str, parts: list[Any]) -> Any:
    """One input from the inputs of several requests of the same kind and key."""
    if kind == "frame":
        import pandas as pd

        return pd.concat(parts, ignore_index=True)
    import numpy as np

    return np.concatenate(parts)


def split(output: Any, rows: list[int]) -> list[Any] | None:
    """Each request's rows of a batch's output; None when it is not one row per input row."""
    if len(rows) == 1:
        return [output]
    total = sum(rows)
    if getattr(output, "ndim", 0) < 1 or len(output) != total:
        return None
    parts, start = [], 0
    for count in rows:
        part = output.iloc[start:start + count] if hasattr(output, "iloc") \
            else output[start:start + count]
        parts.append(part)
        start += count
    return parts

