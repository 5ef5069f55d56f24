"""Streaming sketches of one column, the parts of a data profile (gittrack.artifacts.profiles).

Numbers: count, nulls, min, max, mean and variance (merged chunk by chunk), and exact counts
on a power-of-two grid: bin ``i`` is ``[i * 2**exp, (i + 1) * 2**exp)``, where ``exp`` is the
smallest exponent at which the column fills at most ``MAX_BINS`` non-empty bins, and never
finer than float64 resolves at the column's largest magnitude. That grid depends on the set of
values only (not on their order or on chunk boundaries), two grids always nest, and a column
with at most ``MAX_BINS`` distinct values keeps one bin a value (``exact``). Categories: exact
counts of the first ``TRACKED_CATEGORIES`` values. Temporal columns: min and max.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_BINS = 1024  # non-empty histogram bins kept per numeric column
MAX_CATEGORIES = 1000  # categories stored per column; the rest are counted as "other"
TEXT_CATEGORIES = 20  # stored for a column with more distinct values than half its rows
TRACKED_CATEGORIES = 100_000  # distinct categories counted exactly while streaming
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


# -- numbers ------------------------------------------------------------------------------
class NumericSketch:
    """Running statistics and the power-of-two histogram of one numeric column."""

    def __init__(self) -> None:
        self.count = 0
        self.nulls = 0
        self.infinite = 0
        self.min = math.inf
        self.max = -math.inf
        self.mean = 0.0
        self.m2 = 0.0
        self.exp: int | None = None
        self.floor_exp: int | None = None  # finest exponent float64 resolves at max |x|
        self.keys: Any = None
        self.counts: Any = None

    def update(self, values: Any, nulls: int = 0) -> None:
        """Add a float64 NumPy array (NaN counts as null, infinities are counted apart)."""
        import numpy as np

        finite = np.isfinite(values)
        n_finite = int(finite.sum())
        if n_finite < len(values):
            nan = int(np.isnan(values).sum())
            self.nulls += nan
            self.infinite += len(values) - n_finite - nan
            values = values[finite]
        self.nulls += nulls
        if not n_finite:
            return
        lo, hi = float(values.min()), float(values.max())
        self.min, self.max = min(self.min, lo), max(self.max, hi)
        mean = float(values.mean())
        centered = values - mean
        m2 = float(np.dot(centered, centered))
        del centered
        total = self.count + n_finite
        delta = mean - self.mean
        self.mean += delta * n_finite / total
        self.m2 += m2 + delta * delta * self.count * n_finite / total
        self.count = total
        self._bin(values, lo, hi)

    def _bin(self, values: Any, lo: float, hi: float) -> None:
        import numpy as np

        floor_exp = finest_exponent(max(abs(lo), abs(hi)))
        if self.floor_exp is None or floor_exp > self.floor_exp:
            self.floor_exp = floor_exp
        if self.exp is None:
            self.exp = _first_exponent(values[:65536], lo, hi, self.floor_exp)
        if self.exp < self.floor_exp:
            self._coarsen(self.floor_exp - self.exp)
        scaled = np.ldexp(values, -self.exp)  # exact: a power of two
        np.floor(scaled, out=scaled)
        keys, counts = _count(scaled.astype(np.int64))
        del scaled
        if self.keys is not None:
            keys, counts = _merge(self.keys, self.counts, keys, counts)
        self.keys, self.counts = keys, counts
        while len(self.keys) > MAX_BINS:
            self._coarsen(1)

    def _coarsen(self, shift: int) -> None:
        assert self.exp is not None
        self.exp += shift
        if self.keys is not None:
            self.keys, self.counts = _reduce(floor_shift(self.keys, shift), self.counts)

    def to_dict(self) -> dict[str, Any]:
        """The profile entry of the column (numbers rounded to what float64 holds)."""
        doc: dict[str, Any] = {"count": self.count, "nulls": self.nulls}
        if self.infinite:
            doc["infinite"] = self.infinite
        if not self.count:
            return doc
        hist = Histogram(int(self.exp or 0), self.keys.tolist(), self.counts.tolist(),
                         self.exp == self.floor_exp)
        doc.update({"min": self.min, "max": self.max, "mean": self.mean,
                    "std": math.sqrt(self.m2 / self.count),
                    "distinct": len(hist.keys) if hist.exact else None,
                    "quantiles": {str(q): hist.quantile(q, self.min, self.max) for q in QUANTILES},
                    "histogram": hist.to_dict()})
        return doc


def finest_exponent(magnitude: float) -> int:
    """The finest grid exponent float64 resolves at ``magnitude`` (the largest |value|): 52 bits
    below its leading bit, and never below the subnormals' 2**-1074. Zero asks for nothing, so
    a chunk of zeros never coarsens the grid of the values around it."""
    if magnitude == 0:
        return -1074
    return max(math.frexp(magnitude)[1] - 53, -1074)


def floor_shift(keys: Any, shift: int) -> Any:
    """``floor(keys / 2**shift)`` of int64 keys, for any shift (NumPy's >> stops at 63)."""
    import numpy as np

    if shift <= 0:
        return keys
    if shift >= 63:
        return np.where(keys < 0, -1, 0).astype(np.int64)
    return keys >> shift


def _first_exponent(sample: Any, lo: float, hi: float, floor_exp: int) -> int:
    """The smallest exponent >= floor_exp at which ``sample`` fills at most MAX_BINS bins."""
    import numpy as np

    ordered = np.sort(sample)

    def fits(exp: int) -> bool:
        bins = np.floor(np.ldexp(ordered, -exp))
        return 1 + int(np.count_nonzero(np.diff(bins))) <= MAX_BINS

    span = max(hi - lo, math.ldexp(1.0, floor_exp))
    high = max(floor_exp, math.frexp(span / MAX_BINS)[1] + 1)
    while not fits(high):  # the span bound holds for the whole chunk, not only the sample
        high += 1
    low = floor_exp
    if fits(low):
        return low
    while high - low > 1:  # fits(high) and not fits(low): bins only merge as exp grows
        mid = (low + high) // 2
        if fits(mid):
            high = mid
        else:
            low = mid
    return high


def _count(keys: Any) -> tuple[Any, Any]:
    import numpy as np

    lo, hi = int(keys.min()), int(keys.max())
    if hi - lo <= max(4 * len(keys), 1 << 16):
        keys -= lo
        counts = np.bincount(keys)
        found = np.flatnonzero(counts)
        return found.astype(np.int64) + lo, counts[found].astype(np.int64)
    uniq, counts = np.unique(keys, return_counts=True)
    return uniq, counts.astype(np.int64)


def _merge(keys_a: Any, counts_a: Any, keys_b: Any, counts_b: Any) -> tuple[Any, Any]:
    import numpy as np

    keys = np.concatenate([keys_a, keys_b])
    order = np.argsort(keys, kind="stable")
    return _reduce(keys[order], np.concatenate([counts_a, counts_b])[order])


def _reduce(sorted_keys: Any, counts: Any) -> tuple[Any, Any]:
    """Sum the counts of equal keys (keys sorted)."""
    import numpy as np

    if len(sorted_keys) < 2:
        return sorted_keys, counts
    starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
    return sorted_keys[starts], np.add.reduceat(counts, starts)


@dataclass
class Histogram:
    """Counts on the grid ``[i * 2**exp, (i + 1) * 2**exp)`` for the keys ``i`` listed."""

    exp: int
    keys: list[int]
    counts: list[int]
    exact: bool = False  # one distinct value a bin: the bin's lower edge is the value

    @property
    def width(self) -> float:
        return math.ldexp(1.0, self.exp)

    def to_dict(self) -> dict[str, Any]:
        """``{exp, exact, bins: [[first key, [counts...]], ...]}``: runs of nearby bins."""
        runs: list[list[Any]] = []
        last = None
        for key, count in zip(self.keys, self.counts):
            if last is not None and key - last <= 8:
                runs[-1][1].extend([0] * (key - last - 1) + [count])
            else:
                runs.append([key, [count]])
            last = key
        return {"exp": self.exp, "exact": self.exact, "bins": runs}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Histogram:
        keys: list[int] = []
        counts: list[int] = []
        for first, run in doc.get("bins", []):
            for i, count in enumerate(run):
                if count:
                    keys.append(int(first) + i)
                    counts.append(int(count))
        return cls(int(doc["exp"]), keys, counts, bool(doc.get("exact")))

    def quantile(self, q: float, lo: float, hi: float) -> float:
        """The q-quantile: NumPy's linear interpolation when exact, else within a bin."""
        n = sum(self.counts)
        if self.exact:
            pos = (n - 1) * q
            below = math.floor(pos)
            a, b = self._order_stat(below), self._order_stat(min(below + 1, n - 1))
            return a + (b - a) * (pos - below)
        target, seen = q * n, 0
        for key, count in zip(self.keys, self.counts):
            if seen + count >= target:
                left = math.ldexp(float(key), self.exp)
                value = left + (target - seen) / count * self.width
                return min(max(value, lo), hi)
            seen += count
        return hi

    def _order_stat(self, rank: int) -> float:
        seen = 0
        for key, count in zip(self.keys, self.counts):
            seen += count
            if seen > rank:
                return math.ldexp(float(key), self.exp)
        return math.ldexp(float(self.keys[-1]), self.exp)


# -- categories and other columns ----------------------------------------------------------
class CategorySketch:
    """Counts of a string or boolean column's values (exact for the first TRACKED_CATEGORIES)."""

    def __init__(self) -> None:
        self.count = 0
        self.nulls = 0
        self.seen: dict[str, int] = {}
        self.untracked = 0

    def update(self, array: Any) -> None:
        """Add a pyarrow array."""
        import pyarrow.compute as pc

        self.nulls += array.null_count
        array = array.drop_null()
        self.count += len(array)
        if not len(array):
            return
        counted = pc.value_counts(array)
        values = counted.field("values").to_pylist()
        counts = counted.field("counts").to_pylist()
        seen = self.seen
        for value, count in zip(values, counts):
            key = _category_key(value)
            if key in seen:
                seen[key] += count
            elif len(seen) < TRACKED_CATEGORIES:
                seen[key] = count
            else:
                self.untracked += count

    def to_dict(self) -> dict[str, Any]:
        ranked = sorted(self.seen.items(), key=lambda kv: (-kv[1], kv[0]))
        text_like = self.untracked or len(self.seen) > max(MAX_CATEGORIES, self.count // 2)
        top = ranked[:TEXT_CATEGORIES if text_like else MAX_CATEGORIES]
        return {"count": self.count, "nulls": self.nulls,
                "distinct": len(self.seen) if not self.untracked else None,
                "top": [[k, c] for k, c in top],
                "other": self.count - sum(c for _k, c in top)}


def _category_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


class RangeSketch:
    """Count, nulls, min and max of a temporal column (ISO 8601 text)."""

    def __init__(self) -> None:
        self.count = 0
        self.nulls = 0
        self.min: Any = None
        self.max: Any = None

    def update(self, array: Any) -> None:
        import pyarrow.compute as pc

        self.nulls += array.null_count
        self.count += len(array) - array.null_count
        if len(array) == array.null_count:
            return
        bounds = pc.min_max(array).as_py()
        lo, hi = bounds["min"], bounds["max"]
        self.min = lo if self.min is None or lo < self.min else self.min
        self.max = hi if self.max is None or hi > self.max else self.max

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"count": self.count, "nulls": self.nulls}
        if self.min is not None:
            doc.update({"min": _iso(self.min), "max": _iso(self.max)})
        return doc


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


class CountSketch:
    """Count and nulls only (lists, structs, binary)."""

    def __init__(self) -> None:
        self.count = 0
        self.nulls = 0

    def update(self, array: Any) -> None:
        self.nulls += array.null_count
        self.count += len(array) - array.null_count

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "nulls": self.nulls}
