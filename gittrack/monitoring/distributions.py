"""Two numeric columns' histograms on shared bin edges, and the distances drift tests need.

Profiles keep each numeric column as exact counts on a power-of-two grid
(gittrack.artifacts.sketches.Histogram); two grids nest, so both histograms are moved to the
coarser one without any loss. Within a bin the mass is taken as uniform, so each cumulative
distribution is piecewise linear between bin edges, and the Wasserstein distance (the area
between them) and the Kolmogorov-Smirnov statistic (their largest gap) are computed exactly
for those functions. For a column held exactly (one value a bin) both are the raw data's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gittrack.artifacts.sketches import Histogram, floor_shift


@dataclass
class Shared:
    """Reference and current counts on one grid: bin ``keys[i]`` is
    ``[keys[i] * 2**exp, (keys[i] + 1) * 2**exp)``."""

    exp: int
    keys: Any  # int64, sorted, every bin non-empty in at least one side
    ref: Any  # float64 counts
    cur: Any
    exact: bool  # both sides hold one value a bin

    @property
    def width(self) -> float:
        return math.ldexp(1.0, self.exp)

    def values(self) -> Any:
        """The lower edge of every bin (the value itself when exact)."""
        import numpy as np

        return np.ldexp(self.keys.astype(np.float64), self.exp)


def share(ref: Histogram, cur: Histogram) -> Shared:
    """Both histograms on the coarser of their two grids."""
    import numpy as np

    exp = max(ref.exp, cur.exp)
    rk, rc = _coarsened(ref, exp)
    ck, cc = _coarsened(cur, exp)
    keys = np.union1d(rk, ck)
    a = np.zeros(len(keys))
    b = np.zeros(len(keys))
    a[np.searchsorted(keys, rk)] = rc
    b[np.searchsorted(keys, ck)] = cc
    exact = ref.exact and cur.exact and len(rk) == len(ref.keys) and len(ck) == len(cur.keys)
    return Shared(exp, keys, a, b, exact)


def _coarsened(hist: Histogram, exp: int) -> tuple[Any, Any]:
    import numpy as np

    keys = floor_shift(np.asarray(hist.keys, dtype=np.int64), exp - hist.exp)
    counts = np.asarray(hist.counts, dtype=np.float64)
    if len(keys) < 2:
        return keys, counts
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.add.reduceat(counts, starts)


def _gaps(shared: Shared) -> tuple[Any, Any]:
    """Every bin edge (in bin units) and the difference of the two CDFs there."""
    import numpy as np

    points = np.union1d(shared.keys, shared.keys + 1)
    below = np.searchsorted(shared.keys, points, side="left")  # bins entirely left of a point
    fa = np.concatenate([[0.0], np.cumsum(shared.ref)])[below] / shared.ref.sum()
    fb = np.concatenate([[0.0], np.cumsum(shared.cur)])[below] / shared.cur.sum()
    return points, fa - fb


def wasserstein(shared: Shared) -> float:
    """The first Wasserstein distance: the area between the two CDFs."""
    import numpy as np

    points, d = _gaps(shared)
    if len(points) < 2:
        return 0.0
    length = np.diff(points).astype(np.float64) * shared.width
    d0, d1 = d[:-1], d[1:]
    a0, a1 = np.abs(d0), np.abs(d1)
    same = d0 * d1 >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(a0 + a1 > 0, (d0 * d0 + d1 * d1) / (2 * (a0 + a1)), 0.0)
    area = np.where(same, (a0 + a1) / 2, crossing) * length
    return float(area.sum())


class _Steps:
    """One side's CDF: a step function on the values when exact, else linear within bins."""

    def __init__(self, hist: Histogram, exp: int) -> None:
        import numpy as np

        self.keys, counts = _coarsened(hist, exp)
        self.exp = exp
        self.exact = hist.exact
        self.cum = np.concatenate([[0.0], np.cumsum(counts)])
        self.left = np.ldexp(self.keys.astype(np.float64), exp)

    def points(self) -> Any:
        import numpy as np

        if self.exact:
            return self.left
        return np.union1d(self.left, np.ldexp((self.keys + 1).astype(np.float64), self.exp))

    def at(self, x: Any, before: bool) -> Any:
        """The share of values at or below ``x`` (strictly below with ``before``)."""
        import numpy as np

        if self.exact:
            idx = np.searchsorted(self.left, x, side="left" if before else "right")
            return self.cum[idx] / self.cum[-1]
        u = np.ldexp(x, -self.exp)
        p = np.floor(u)
        idx = np.searchsorted(self.keys, p.astype(np.int64), side="left")
        clipped = np.minimum(idx, len(self.keys) - 1)
        inside = self.keys[clipped] == p.astype(np.int64)
        here = np.where(inside, self.cum[clipped + 1] - self.cum[clipped], 0.0)
        return (self.cum[idx] + here * (u - p)) / self.cum[-1]


def _sides(ref: Histogram, cur: Histogram) -> tuple[_Steps, _Steps]:
    # Two exact sides share the coarser grid, so equal values stay equal (ties kept).
    exact = ref.exact and cur.exact
    exp = max(ref.exp, cur.exp)
    return _Steps(ref, exp if exact else ref.exp), _Steps(cur, exp if exact else cur.exp)


def ks_statistic(ref: Histogram, cur: Histogram) -> float:
    """The largest gap between the two CDFs (the raw data's when both sides are exact)."""
    import numpy as np

    a, b = _sides(ref, cur)
    points = np.union1d(a.points(), b.points())
    after = np.abs(a.at(points, False) - b.at(points, False))
    before = np.abs(a.at(points, True) - b.at(points, True))
    return float(max(after.max(), before.max()))


def samples(ref: Histogram, cur: Histogram) -> tuple[Any, Any]:
    """Values with each histogram's counts: the values themselves when exact, else spread
    evenly inside each bin (for tests that need a sample, on small data only)."""
    a, b = _sides(ref, cur)
    return _sample(a), _sample(b)


def _sample(side: _Steps) -> Any:
    import numpy as np

    counts = np.diff(side.cum).astype(np.int64)
    left = np.repeat(side.left, counts)
    if side.exact:
        return left
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    within = np.arange(int(counts.sum())) - starts
    return left + (within + 0.5) / np.repeat(counts, counts) * math.ldexp(1.0, side.exp)


def cdf_at(shared: Shared, side: str, x: Any) -> Any:
    """Counts at or below each ``x`` (uniform mass within a bin), -inf and inf allowed."""
    import numpy as np

    counts = shared.ref if side == "ref" else shared.cur
    cum = np.concatenate([[0.0], np.cumsum(counts)])
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    u = np.where(finite, np.ldexp(np.where(finite, x, 0.0), -shared.exp), 0.0)
    p = np.floor(u)
    frac = u - p
    idx = np.searchsorted(shared.keys, p.astype(np.int64), side="left")
    inside = (idx < len(shared.keys)) & (shared.keys[np.minimum(idx, len(shared.keys) - 1)]
                                         == p.astype(np.int64))
    here = np.where(inside, counts[np.minimum(idx, len(counts) - 1)], 0.0)
    out = cum[idx] + here * frac
    out = np.where(finite, out, np.where(x > 0, cum[-1], 0.0))
    return out


def rebin(shared: Shared, side: str, edges: Any) -> Any:
    """Counts between consecutive ``edges``; the outer edges take everything beyond them."""
    import numpy as np

    e = np.asarray(edges, dtype=np.float64).copy()
    e[0], e[-1] = -np.inf, np.inf
    return np.diff(cdf_at(shared, side, e))
