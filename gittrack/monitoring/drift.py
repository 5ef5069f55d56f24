"""Data drift between two profiles, column by column, with the tests Evidently would choose.

Per column (Evidently 0.7's defaults, gittrack.monitoring docs in docs/monitoring.md):

- reference with at most ``small_sample_rows`` (1,000) values: numerical columns with more
  than 5 distinct values (reference and current together) get the two-sample
  Kolmogorov-Smirnov test; categorical ones (and numerical with at most 5 values) the
  chi-squared test, or the two-proportion z-test when there are only 2 values; drift when the
  p-value is below 0.05 (KS: at or below).
- larger references: the Wasserstein distance normalised by the reference's standard deviation
  for numerical columns, the Jensen-Shannon distance (natural log) of the category shares for
  categorical ones; drift at 0.1 or more.
- PSI is reported for every column (Evidently's binning: Sturges bins over both sides for
  numerical columns with more than 20 reference values, else one bin a value).

Integer columns with at most 10 distinct reference values count as categorical, string
columns with more distinct values than half their rows as text (not tested), as Evidently
infers them. The dataset drifts when the share of drifted columns reaches ``drift_share``.
Everything works from profiles, so no raw row is read twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from gittrack.artifacts.profiles import Profile
from gittrack.artifacts.sketches import Histogram
from gittrack.core import project
from gittrack.core.errors import InvalidInputError
from gittrack.core.gitio import Repo
from gittrack.monitoring import distributions as dist

TESTS = ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi")
P_VALUE_TESTS = ("ks", "chisquare", "z")
DEFAULT_THRESHOLDS = {"ks": 0.05, "chisquare": 0.05, "z": 0.05, "wasserstein": 0.1,
                      "jensenshannon": 0.1, "psi": 0.1}
CATEGORICAL_INT_LIMIT = 10  # Evidently: integer columns with <= 10 values are categorical
KS_EXACT_LIMIT = 10_000  # scipy's ks_2samp is exact up to this many values a side
DISPLAY_BINS = 30
DISPLAY_CATEGORIES = 20
OTHER = "(other)"


@dataclass
class DriftSettings:
    """What ``drift:`` in .gittrack/config.yaml may set (every key optional)."""

    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    drift_share: float = 0.5
    small_sample_rows: int = 1000
    columns: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    tests: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> DriftSettings:
        """Settings from the ``drift`` mapping of the project config."""
        if config is not None and not isinstance(config, Mapping):
            raise InvalidInputError("drift in .gittrack/config.yaml must be a mapping of "
                                    "settings (see docs/monitoring.md).")
        doc = dict(config or {})
        unknown = sorted(set(doc) - {f for f in cls.__dataclass_fields__})
        if unknown:
            raise InvalidInputError(
                f"Unknown drift setting '{unknown[0]}' in .gittrack/config.yaml; use "
                f"{', '.join(cls.__dataclass_fields__)}.")
        settings = cls()
        thresholds = doc.get("thresholds") or {}
        if not isinstance(thresholds, Mapping) or any(k not in TESTS for k in thresholds):
            raise InvalidInputError(f"drift.thresholds in .gittrack/config.yaml maps test names "
                                    f"({', '.join(TESTS)}) to numbers.")
        settings.thresholds.update({k: _number(f"drift.thresholds.{k}", v)
                                    for k, v in thresholds.items()})
        if "drift_share" in doc:
            settings.drift_share = _number("drift.drift_share", doc["drift_share"])
        if "small_sample_rows" in doc:
            settings.small_sample_rows = int(_number("drift.small_sample_rows",
                                                     doc["small_sample_rows"]))
        settings.columns = _names("drift.columns", doc["columns"]) if doc.get("columns") else None
        settings.ignore = _names("drift.ignore", doc.get("ignore") or [])
        tests = doc.get("tests") or {}
        if not isinstance(tests, Mapping) or any(v not in TESTS for v in tests.values()):
            raise InvalidInputError(f"drift.tests in .gittrack/config.yaml maps column names to "
                                    f"one of {', '.join(TESTS)}.")
        settings.tests = {str(k): str(v) for k, v in tests.items()}
        return settings


def settings_for(repo: Repo | None) -> DriftSettings:
    """The ``drift`` settings of a repository's .gittrack/config.yaml (defaults without one)."""
    return DriftSettings.from_config(project.config(repo).get("drift") if repo else None)


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInputError(f"{key} in .gittrack/config.yaml must be a number; got {value!r}.")
    return float(value)


def _names(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(f"{key} in .gittrack/config.yaml must be a list of column names.")
    return list(value)


@dataclass
class ColumnDrift:
    """One column's verdict. ``score`` is the test's p-value or distance."""

    column: str
    kind: str  # numerical | categorical | text | datetime | other
    test: str | None
    score: float | None
    threshold: float | None
    drifted: bool
    psi: float | None = None
    reference_rows: int = 0
    current_rows: int = 0
    new_categories: list[str] = field(default_factory=list)
    note: str | None = None
    display: dict[str, Any] | None = None

    @property
    def tested(self) -> bool:
        return self.test is not None


@dataclass
class DriftReport:
    """Every column's verdict and the dataset's."""

    columns: list[ColumnDrift]
    drift_share: float
    reference: dict[str, Any] = field(default_factory=dict)
    current: dict[str, Any] = field(default_factory=dict)

    @property
    def tested(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.tested]

    @property
    def drifted(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.drifted]

    @property
    def share(self) -> float:
        return len(self.drifted) / len(self.tested) if self.tested else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.tested) and self.share >= self.drift_share

    def column(self, name: str) -> ColumnDrift:
        return next(c for c in self.columns if c.column == name)

    def to_dict(self, display: bool = True) -> dict[str, Any]:
        """Plain data (``gittrack drift --json``, the ``drift.json`` of a monitoring run)."""
        columns = []
        for c in self.columns:
            doc = asdict(c)
            if not display:
                doc.pop("display")
            columns.append(doc)
        return {"gittrack_drift": 1, "reference": self.reference, "current": self.current,
                "dataset_drift": self.dataset_drift, "share": self.share,
                "drift_share": self.drift_share, "drifted": [c.column for c in self.drifted],
                "tested": len(self.tested), "columns": columns}


def compare(reference: Profile, current: Profile, settings: DriftSettings | None = None
            ) -> DriftReport:
    """The drift of ``current`` from ``reference``, column by column."""
    settings = settings or DriftSettings()
    names = settings.columns if settings.columns is not None else reference.names
    missing = [n for n in names if reference.column(n) is None]
    if missing:
        raise InvalidInputError(f"The reference has no column '{missing[0]}' (drift.columns in "
                                ".gittrack/config.yaml); it has {', '.join(reference.names)}.")
    try:
        results = [_column(reference.column(n) or {}, current.column(n), settings)
                   for n in names if n not in settings.ignore]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # a profile from a pulled run is as its author wrote it, so its sketches may be anything
        raise InvalidInputError(f"A data profile is damaged ({type(exc).__name__}: {exc}); "
                                "profile the data again with `gittrack profile`.") from None
    return DriftReport(results, settings.drift_share)


def _column(ref: Mapping[str, Any], cur: Mapping[str, Any] | None,
            settings: DriftSettings) -> ColumnDrift:
    name = str(ref["name"])
    kind = _kind(ref)
    base = ColumnDrift(name, kind, None, None, None, False,
                       reference_rows=int(ref.get("count") or 0),
                       current_rows=int(cur.get("count") or 0) if cur else 0)
    if cur is None:
        base.note = "not in the current data"
        return base
    if kind in ("text", "datetime", "other"):
        base.note = {"text": "text column (more distinct values than half its rows): not tested",
                     "datetime": "date/time column: not tested",
                     "other": "column type not tested"}[kind]
        return base
    if _kind_family(cur) != _kind_family(ref):
        base.note = f"type changed ({ref.get('dtype')} -> {cur.get('dtype')}): not tested"
        return base
    if not base.reference_rows or not base.current_rows:
        base.note = "no values on one side: not tested"
        return base
    _need_scipy()
    if kind == "numerical":
        return _numerical(base, ref, cur, settings)
    if ref.get("kind") == "numeric":  # an integer column with few values
        shared = dist.share(Histogram.from_dict(ref["histogram"]),
                            Histogram.from_dict(cur["histogram"]))
        if not shared.exact:
            base.kind, base.note = "numerical", "many distinct values in the current data"
            return _numerical(base, ref, cur, settings)
        return _categorical(base, _numeric_categories(shared, "ref"),
                            _numeric_categories(shared, "cur"), settings)
    return _categorical(base, _categories(ref), _categories(cur), settings)


def _kind(column: Mapping[str, Any]) -> str:
    kind = column.get("kind")
    if kind == "numeric":
        dtype = str(column.get("dtype", ""))
        distinct = column.get("distinct")
        if dtype.startswith(("int", "uint")) and distinct is not None \
                and distinct <= CATEGORICAL_INT_LIMIT:
            return "categorical"
        return "numerical"
    if kind == "categorical":
        if column.get("dtype") == "bool":
            return "categorical"
        distinct = column.get("distinct")
        count = int(column.get("count") or 0)
        if distinct is None or distinct > 0.5 * count:
            return "text"
        return "categorical"
    return str(kind or "other")


def _kind_family(column: Mapping[str, Any]) -> str:
    return str(column.get("kind"))


def _need_scipy() -> None:
    try:
        import scipy  # noqa: F401
    except ImportError as exc:
        raise InvalidInputError("Drift tests need scipy; install it with "
                                "`pip install 'gittrack[monitoring]'`.") from exc


# -- numerical ----------------------------------------------------------------------------
def _numerical(base: ColumnDrift, ref: Mapping[str, Any], cur: Mapping[str, Any],
               settings: DriftSettings) -> ColumnDrift:
    shared = dist.share(Histogram.from_dict(ref["histogram"]), Histogram.from_dict(cur["histogram"]))
    n_values = len(shared.keys) if shared.exact else None  # None: more than MAX_BINS
    few = n_values is not None and n_values <= 5
    if base.reference_rows <= settings.small_sample_rows:
        auto = ("chisquare" if (n_values or 0) > 2 else "z") if few else "ks"
    else:
        auto = "jensenshannon" if few else "wasserstein"
    test = settings.tests.get(base.column) or auto
    # Evidently bins by value when the reference has at most 20 values, else Sturges bins
    by_value = shared.exact and int(ref.get("distinct") or 0) <= 20
    r, c = (_shares(_numeric_categories(shared, "ref"), _numeric_categories(shared, "cur"))
            if by_value else _binned(shared, ref, cur))
    base.psi = _psi(r, c)
    if test in ("chisquare", "z") and not shared.exact:
        base.note = f"{test} needs a column with few values; used ks"
        test = "ks"
    if test in ("chisquare", "z"):
        cats_r, cats_c = _numeric_categories(shared, "ref"), _numeric_categories(shared, "cur")
        keys = _ordered_keys(cats_r, cats_c)
        score = (_chisquare if test == "chisquare" else _z_test)(cats_r, cats_c, keys)
    elif test == "jensenshannon":
        from scipy.spatial import distance

        score = float(distance.jensenshannon(r, c))
    elif test == "ks":
        score = _ks(ref, cur)
    elif test == "wasserstein":
        score = dist.wasserstein(shared) / max(float(ref.get("std") or 0.0), 0.001)
    else:
        score = base.psi
    return _verdict(base, test, score, settings, _numeric_display(shared, ref, cur))


def _ks(ref: Mapping[str, Any], cur: Mapping[str, Any]) -> float:
    from scipy import stats

    a, b = Histogram.from_dict(ref["histogram"]), Histogram.from_dict(cur["histogram"])
    n_ref, n_cur = int(ref["count"]), int(cur["count"])
    if max(n_ref, n_cur) <= KS_EXACT_LIMIT:  # scipy's exact p-value, as Evidently gets it
        return float(stats.ks_2samp(*dist.samples(a, b))[1])
    d = dist.ks_statistic(a, b)
    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    return float(min(max(stats.kstwo.sf(d, round(m * n / (m + n))), 0.0), 1.0))


def _numeric_categories(shared: dist.Shared, side: str) -> dict[str, float]:
    counts = shared.ref if side == "ref" else shared.cur
    return {_fmt(v): float(c) for v, c in zip(shared.values(), counts) if c}


def _sturges_edges(shared: dist.Shared, ref: Mapping[str, Any], cur: Mapping[str, Any]) -> Any:
    import numpy as np

    lo = min(float(ref["min"]), float(cur["min"]))
    hi = max(float(ref["max"]), float(cur["max"]))
    n = int(ref["count"]) + int(cur["count"])
    bins = max(1, math.ceil(math.log2(n) + 1)) if hi > lo else 1
    return np.linspace(lo, hi, bins + 1)


def _binned(shared: dist.Shared, ref: Mapping[str, Any], cur: Mapping[str, Any]
            ) -> tuple[Any, Any]:
    edges = _sturges_edges(shared, ref, cur)
    r = dist.rebin(shared, "ref", edges)
    c = dist.rebin(shared, "cur", edges)
    return r / r.sum(), c / c.sum()


def _numeric_display(shared: dist.Shared, ref: Mapping[str, Any], cur: Mapping[str, Any]
                     ) -> dict[str, Any]:
    import numpy as np

    if shared.exact and len(shared.keys) <= DISPLAY_BINS:
        labels = [_fmt(v) for v in shared.values()]
        return {"type": "categories", "labels": labels,
                "reference": _fractions(shared.ref), "current": _fractions(shared.cur)}
    lo = min(float(ref["min"]), float(cur["min"]))
    hi = max(float(ref["max"]), float(cur["max"]))
    edges = np.linspace(lo, hi if hi > lo else lo + 1, DISPLAY_BINS + 1)
    return {"type": "histogram", "edges": [float(e) for e in edges],
            "reference": _fractions(dist.rebin(shared, "ref", edges)),
            "current": _fractions(dist.rebin(shared, "cur", edges))}


# -- categorical --------------------------------------------------------------------------
def _categories(column: Mapping[str, Any]) -> dict[str, float]:
    counts = {str(k): float(c) for k, c in column.get("top") or []}
    if column.get("other"):
        counts[OTHER] = float(column["other"])
    return counts


def _categorical(base: ColumnDrift, ref: Mapping[str, float], cur: Mapping[str, float],
                 settings: DriftSettings) -> ColumnDrift:
    keys = _ordered_keys(ref, cur)
    small = base.reference_rows <= settings.small_sample_rows
    test = settings.tests.get(base.column) or (
        ("chisquare" if len(keys) > 2 else "z") if small else "jensenshannon")
    if OTHER not in ref:
        base.new_categories = [k for k in keys if k not in ref and k != OTHER][:20]
    r, c = _shares(ref, cur, keys)
    if base.psi is None:
        base.psi = _psi(r, c)
    if test == "chisquare":
        score = _chisquare(ref, cur, keys)
    elif test == "z":
        score = _z_test(ref, cur, keys)
    elif test == "jensenshannon":
        from scipy.spatial import distance

        score = float(distance.jensenshannon(r, c))
    elif test == "psi":
        score = base.psi
    else:
        base.note = f"{test} needs a numerical column; used jensenshannon"
        test = "jensenshannon"
        from scipy.spatial import distance

        score = float(distance.jensenshannon(r, c))
    display = _category_display(ref, cur, keys)
    return _verdict(base, test, score, settings, display)


def _ordered_keys(ref: Mapping[str, float], cur: Mapping[str, float]) -> list[str]:
    keys = set(ref) | set(cur)
    return sorted(keys, key=_sort_key)


def _sort_key(key: str) -> tuple[int, float, str]:
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


def _shares(ref: Mapping[str, float], cur: Mapping[str, float],
            keys: Sequence[str] | None = None) -> tuple[Any, Any]:
    import numpy as np

    keys = keys if keys is not None else _ordered_keys(ref, cur)
    r = np.array([ref.get(k, 0.0) for k in keys])
    c = np.array([cur.get(k, 0.0) for k in keys])
    return r / r.sum(), c / c.sum()


def _chisquare(ref: Mapping[str, float], cur: Mapping[str, float], keys: Sequence[str]) -> float:
    import numpy as np
    from scipy import stats

    n_ref, n_cur = sum(ref.values()), sum(cur.values())
    expected = np.array([ref.get(k, 0.0) * n_cur / n_ref for k in keys])
    observed = np.array([cur.get(k, 0.0) for k in keys])
    if (expected == 0).any() and (observed[expected == 0] > 0).any():
        return 0.0  # a category the reference never had: the statistic is infinite
    keep = expected > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        p = stats.chisquare(observed[keep], expected[keep])[1]
    return float(p) if math.isfinite(p) else 1.0


def _z_test(ref: Mapping[str, float], cur: Mapping[str, float], keys: Sequence[str]) -> float:
    from scipy.stats import norm

    if len(keys) <= 1:
        return 1.0
    first = keys[0]
    n1, n2 = sum(ref.values()), sum(cur.values())
    p1 = (n1 - ref.get(first, 0.0)) / n1
    p2 = (n2 - cur.get(first, 0.0)) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 1.0
    return float(2 * (1 - norm.cdf(abs((p1 - p2) / spread))))


def _psi(r: Any, c: Any) -> float:
    import numpy as np

    r, c = _filled(r), _filled(c)
    return float(np.sum((r - c) * np.log(r / c)))


def _filled(shares: Any) -> Any:
    """Evidently's fill of empty bins: a small share, so the logarithm stays finite."""
    import numpy as np

    out = np.array(shares, dtype=np.float64)
    nonzero = out[out != 0]
    if not len(nonzero):
        return out
    smallest = float(nonzero.min())
    out[out == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return out


def _category_display(ref: Mapping[str, float], cur: Mapping[str, float],
                      keys: Sequence[str]) -> dict[str, Any]:
    n_ref, n_cur = sum(ref.values()) or 1.0, sum(cur.values()) or 1.0
    ranked = sorted(keys, key=lambda k: -(ref.get(k, 0.0) / n_ref + cur.get(k, 0.0) / n_cur))
    shown = list(keys) if len(keys) <= DISPLAY_CATEGORIES else ranked[:DISPLAY_CATEGORIES]
    if len(ranked) > DISPLAY_CATEGORIES:
        rest = ranked[DISPLAY_CATEGORIES:]
        extra_r = sum(ref.get(k, 0.0) for k in rest)
        extra_c = sum(cur.get(k, 0.0) for k in rest)
        ref = {**{k: ref.get(k, 0.0) for k in shown}, "(rest)": extra_r}
        cur = {**{k: cur.get(k, 0.0) for k in shown}, "(rest)": extra_c}
        shown = [*shown, "(rest)"]
    return {"type": "categories", "labels": shown,
            "reference": [ref.get(k, 0.0) / n_ref for k in shown],
            "current": [cur.get(k, 0.0) / n_cur for k in shown]}


# -- verdicts -----------------------------------------------------------------------------
def _verdict(base: ColumnDrift, test: str, score: float, settings: DriftSettings,
             display: dict[str, Any] | None) -> ColumnDrift:
    threshold = settings.thresholds[test]
    if test == "ks":
        drifted = score <= threshold
    elif test in P_VALUE_TESTS:
        drifted = score < threshold
    else:
        drifted = score >= threshold
    base.test, base.score, base.threshold, base.drifted = test, float(score), threshold, drifted
    base.display = display
    return base


def _fractions(counts: Any) -> list[float]:
    total = float(sum(counts)) or 1.0
    return [float(c) / total for c in counts]


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))
