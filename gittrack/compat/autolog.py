"""``gittrack.autolog()``: record scikit-learn and XGBoost training with no logging calls.

``fit`` is patched on every class under ``sklearn.*`` and ``xgboost.*`` that derives from
scikit-learn's BaseEstimator and defines ``fit`` itself (RandomForestRegressor inherits it
from BaseForest, so BaseForest is patched): the classes defined so far, found through
``__subclasses__()``, and those defined later, through a hook on BaseEstimator's
``__init_subclass__``, so nothing is imported up front (``all_estimators()`` costs seconds).
``xgboost.train`` is patched too. On the outermost fit (Pipeline and GridSearchCV call their
steps' fit inside theirs; a process-wide depth counter logs only the outermost), the active
run, or a run started for the fit and ended after it (as MLflow does), records params,
training metrics, the data's hash and shape, and the model. What is recorded, field by
field against MLflow, is in docs/autolog.md. Logging problems never break the user's fit:
they go to the ``gittrack`` logger as warnings.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import math
import threading
import types
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from gittrack import api
from gittrack.artifacts import datasets
from gittrack.core.errors import GittrackError, InvalidInputError, ModelError
from gittrack.core.records import plain
from gittrack.tracking.stack import status_for

log = logging.getLogger("gittrack")

MODEL_PATH = "model"
MAX_PARAM_TEXT = 500
EXAMPLE_ROWS = 5
PATCHED_PACKAGES = ("sklearn", "xgboost")

MAX_TUNING_RUNS = 5  # child runs of a search, as MLflow's max_tuning_runs

_config: dict[str, Any] = {"log_models": True, "log_datasets": True,
                           "max_tuning_runs": MAX_TUNING_RUNS}
_patched: dict[tuple[Any, str], Any] = {}  # (class or module, attribute) -> original
_hooks: dict[type, Any] = {}  # base class -> its own __init_subclass__ (None: inherited)
_lock = threading.Lock()
_depth = 0


def autolog(disable: bool = False, log_models: bool = True, log_datasets: bool = True,
            max_tuning_runs: int | None = MAX_TUNING_RUNS) -> None:
    """Record every scikit-learn and XGBoost fit: params, training metrics, data, model.

    A fit logs into the active run, or into a run started for it and ended after it; a
    hyperparameter search also gets a nested child run for each of its best
    ``max_tuning_runs`` candidates (None: every candidate, 0: none), as in MLflow.
    ``disable=True`` removes the patches. See docs/autolog.md for what is recorded.

    >>> gittrack.autolog()
    >>> RandomForestRegressor(n_estimators=50).fit(X, y)   # one run, nothing else to call
    """
    if max_tuning_runs is not None and (isinstance(max_tuning_runs, bool)
                                        or not isinstance(max_tuning_runs, int)
                                        or max_tuning_runs < 0):

        raise InvalidInputError(f"max_tuning_runs must be None or a whole number >= 0; got "
                                f"{max_tuning_runs!r}.")
    with _lock:
        if disable:
            _unpatch_all()
            return
        _config.update(log_models=log_models, log_datasets=log_datasets,
                       max_tuning_runs=max_tuning_runs)
        _patch_sklearn()
        _patch_xgboost()


def is_enabled() -> bool:
    """Whether autolog's patches are in place."""
    return bool(_patched or _hooks)


# ---------------------------------------------------------------- patching


def _patch_sklearn() -> None:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return
    for cls in _subclasses(BaseEstimator):
        _patch_class(cls)
    _hook_subclassing(BaseEstimator)


def _patch_xgboost() -> None:
    try:
        import xgboost  # its sklearn classes are patched as they are defined (the hook)
    except ImportError:
        return
    if (xgboost, "train") not in _patched:
        _patched[(xgboost, "train")] = xgboost.train
        xgboost.train = _wrap(xgboost.train, _log_xgboost_train, _collect_evals)


def _subclasses(base: type) -> list[type]:
    found: list[type] = []
    todo: list[type] = [base]
    while todo:
        subs: list[type] = todo.pop().__subclasses__()
        for sub in subs:
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


def _patch_class(cls: type) -> None:
    module = getattr(cls, "__module__", "") or ""
    if module.split(".")[0] not in PATCHED_PACKAGES or (cls, "fit") in _patched:
        return
    original = cls.__dict__.get("fit")
    if not isinstance(original, types.FunctionType):
        return
    _patched[(cls, "fit")] = original
    cls.fit = _wrap(original, _log_estimator_fit)  # type: ignore[attr-defined]


def _hook_subclassing(base: type) -> None:
    """Patch the classes defined after autolog() as they are defined."""
    if base in _hooks:
        return
    own = base.__dict__.get("__init_subclass__")
    _hooks[base] = own

    def init_subclass(cls: type, **kwargs: Any) -> None:
        if own is not None:
            own.__get__(None, cls)(**kwargs)
        else:
            super(base, cls).__init_subclass__(**kwargs)  # type: ignore[arg-type]
        _patch_class(cls)

    base.__init_subclass__ = classmethod(init_subclass)  # type: ignore[assignment,arg-type]


def _unpatch_all() -> None:
    for (owner, name), original in _patched.items():
        setattr(owner, name, original)
    _patched.clear()
    for base, own in _hooks.items():
        if own is None:
            del base.__init_subclass__
        else:
            base.__init_subclass__ = own  # type: ignore[method-assign]
    _hooks.clear()


def _wrap(original: Callable[..., Any], record: Callable[..., None],
          prepare: Callable[[dict[str, Any]], None] | None = None) -> Callable[..., Any]:
    """``original`` that, when it is the outermost patched call, logs with ``record``
    (``prepare`` may first add keyword arguments, such as a dict for eval results)."""

    @functools.wraps(original)
    def patched(*args: Any, **kwargs: Any) -> Any:
        global _depth
        with _lock:
            _depth += 1
            outermost = _depth == 1
        try:
            if not outermost:
                return original(*args, **kwargs)
            if prepare is not None:
                prepare(kwargs)
            return _in_run(original, record, args, kwargs)
        finally:
            with _lock:
                _depth -= 1

    patched.__gittrack_original__ = original  # type: ignore[attr-defined]
    return patched


def _in_run(original: Callable[..., Any], record: Callable[..., None],
            args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call ``original`` inside the active run (or one started for it), then record it."""

    run = api.active_run()
    own = run is None
    if run is None:
        try:
            run = api.start_run()
        except GittrackError as exc:
            log.warning("autolog could not start a run (%s); fitting without recording.", exc)
            return original(*args, **kwargs)
    try:
        result = original(*args, **kwargs)
    except BaseException as exc:
        if own:
            api.end_run_object(run, status_for(exc))
        raise
    try:
        record(run, original, args, kwargs, result)
    finally:
        if own:
            api.end_run_object(run, "finished")
    return result


def _attempt(what: str, action: Callable[[], Any]) -> None:
    # The user's fit must never fail because of tracking (MLflow's autolog promises the same).
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            action()
    except Exception as exc:  # noqa: BLE001 - reported, never raised into the user's fit
        log.warning("autolog could not record the %s: %s", what, exc)


# ---------------------------------------------------------------- scikit-learn estimators


def _log_estimator_fit(run: Any, original: Callable[..., Any], args: tuple[Any, ...],
                       kwargs: dict[str, Any], _result: Any) -> None:
    est = args[0]
    x, y, weight = fit_data(original, args, kwargs)
    cls = type(est)
    _attempt("params", lambda: run.log_params(estimator_params(est)))
    _attempt("tags", lambda: run.set_tags({"estimator_name": cls.__name__,
                                           "estimator_class": f"{cls.__module__}.{cls.__qualname__}"}))
    _attempt("training metrics", lambda: run.log_metrics(training_metrics(est, x, y, weight)))
    _attempt("estimator.html", lambda: run.log_text(_html(est), "estimator.html"))
    _attempt("training plots", lambda: _log_plots(run, est, x, y, weight))
    _attempt("eval metrics", lambda: _log_xgboost_evals(run, getattr(est, "evals_result_", None)))
    if hasattr(est, "best_params_"):
        _attempt("search results", lambda: _log_search(run, est))
    if _config["log_datasets"]:
        _attempt("training data", lambda: log_data(run, x, y))
    if hasattr(est, "get_booster"):
        _attempt("feature importance", lambda: _log_importance(run, est.get_booster()))
    if _config["log_models"]:
        _attempt("model", lambda: log_fitted_model(run, est, example_rows(x)))


def _html(est: Any) -> str:
    from sklearn.utils import estimator_html_repr

    return str(estimator_html_repr(est))


def fit_data(original: Callable[..., Any], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """``(X, y, sample_weight)`` of a ``fit(self, X, y, ...)`` call."""
    try:
        bound = inspect.signature(original).bind_partial(*args, **kwargs).arguments
    except (TypeError, ValueError):
        bound = {}
    x = bound.get("X", args[1] if len(args) > 1 else None)
    y = bound.get("y", args[2] if len(args) > 2 else None)
    return x, y, kwargs.get("sample_weight", bound.get("sample_weight"))


def estimator_params(est: Any) -> dict[str, Any]:
    """``get_params()`` as loggable values (objects as their text, shortened): deep, so a
    Pipeline logs its steps' params as ``lr__alpha``, except for a hyperparameter search,
    whose own params are logged (MLflow's rule)."""
    deep = not is_search(est)
    return {str(k): param_value(v) for k, v in est.get_params(deep=deep).items()}


def is_search(est: Any) -> bool:
    """GridSearchCV, RandomizedSearchCV and the other searches over an estimator's params."""
    return hasattr(est, "estimator") and any(
        hasattr(est, a) for a in ("param_grid", "param_distributions"))


def _log_plots(run: Any, est: Any, x: Any, y: Any, weight: Any) -> None:
    """A classifier's confusion matrix (and ROC / precision-recall curves when binary)."""
    from sklearn import base, metrics

    if x is None or y is None or not base.is_classifier(est):
        return
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plots = [("training_confusion_matrix.png", metrics.ConfusionMatrixDisplay)]
    if len(getattr(est, "classes_", ())) == 2:
        plots += [("training_roc_curve.png", metrics.RocCurveDisplay),
                  ("training_precision_recall_curve.png", metrics.PrecisionRecallDisplay)]
    for name, display in plots:
        shown = display.from_estimator(est, x, y, sample_weight=weight)
        run.log_figure(shown.figure_, name)
        plt.close(shown.figure_)


def param_value(value: Any) -> Any:

    scalar = (bool, int, float, str)
    if value is None or isinstance(value, scalar):
        return value
    if not callable(value) and not hasattr(value, "get_params"):
        simple = plain(value)
        if simple is None or isinstance(simple, scalar):
            return simple
        if isinstance(simple, list) and len(simple) <= 100 \
                and all(v is None or isinstance(v, scalar) for v in simple):
            return simple
    text = str(value)
    return text if len(text) <= MAX_PARAM_TEXT else text[:MAX_PARAM_TEXT - 3] + "..."


def training_metrics(est: Any, x: Any, y: Any, weight: Any) -> dict[str, float]:
    """MLflow's training metrics: regressors' errors and R2, classifiers' scores and log loss."""
    from sklearn import base

    if y is None or x is None:
        return {}
    if base.is_classifier(est):
        metrics = _classifier_metrics(est, x, y, weight)
    elif base.is_regressor(est):
        metrics = _regressor_metrics(est, x, y, weight)
    else:
        return {}
    score = _metric(lambda: _score(est, x, y, weight))
    if score is not None:
        metrics["training_score"] = score
    return metrics


def _score(est: Any, x: Any, y: Any, weight: Any) -> float:
    if weight is not None and "sample_weight" in inspect.signature(est.score).parameters:
        return float(est.score(x, y, sample_weight=weight))
    return float(est.score(x, y))


def _metric(compute: Callable[[], Any]) -> float | None:
    try:
        value = float(compute())
    except Exception:  # noqa: BLE001 - a metric that does not apply to this data is skipped
        return None
    return value


def _regressor_metrics(est: Any, x: Any, y: Any, weight: Any) -> dict[str, float]:
    from sklearn import metrics as m

    predicted = est.predict(x)
    found = {
        "training_mean_squared_error": _metric(lambda: m.mean_squared_error(y, predicted, sample_weight=weight)),
        "training_mean_absolute_error": _metric(lambda: m.mean_absolute_error(y, predicted, sample_weight=weight)),
        "training_r2_score": _metric(lambda: m.r2_score(y, predicted, sample_weight=weight)),
    }
    mse = found["training_mean_squared_error"]
    found["training_root_mean_squared_error"] = math.sqrt(mse) if mse is not None else None
    return {k: v for k, v in found.items() if v is not None}


def _classifier_metrics(est: Any, x: Any, y: Any, weight: Any) -> dict[str, float]:
    from sklearn import metrics as m

    predicted = est.predict(x)
    avg = {"average": "weighted", "sample_weight": weight, "zero_division": 0}
    found = {
        "training_accuracy_score": _metric(lambda: m.accuracy_score(y, predicted, sample_weight=weight)),
        "training_precision_score": _metric(lambda: m.precision_score(y, predicted, **avg)),
        "training_recall_score": _metric(lambda: m.recall_score(y, predicted, **avg)),
        "training_f1_score": _metric(lambda: m.f1_score(y, predicted, **avg)),
    }
    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(x)
        labels = getattr(est, "classes_", None)
        found["training_log_loss"] = _metric(
            lambda: m.log_loss(y, proba, sample_weight=weight, labels=labels))
        found["training_roc_auc"] = _metric(lambda: m.roc_auc_score(
            y, proba[:, 1] if proba.shape[1] == 2 else proba, sample_weight=weight,
            multi_class="ovr", labels=labels if proba.shape[1] > 2 else None))
    return {k: v for k, v in found.items() if v is not None}


def _log_search(run: Any, est: Any) -> None:
    """GridSearchCV and friends: the best params and score, and the cv_results_ table."""
    import pandas as pd

    run.log_params({f"best_{k}": param_value(v) for k, v in est.best_params_.items()})
    if hasattr(est, "best_score_"):
        run.log_metric("best_cv_score", float(est.best_score_))
    results = pd.DataFrame(est.cv_results_)
    results["params"] = results["params"].map(lambda p: json.dumps(p, default=str, sort_keys=True))
    run.log_table(results, "cv_results.csv")
    if _config["max_tuning_runs"] != 0:
        _attempt("candidate runs", lambda: _log_candidates(run, est, _config["max_tuning_runs"]))


def _log_candidates(run: Any, est: Any, limit: int | None) -> None:
    """One child run per best candidate: its params, and its ``mean_*``, ``std_*`` and
    ``rank_*`` results (MLflow's choice of cv_results_ columns)."""
    results = est.cv_results_
    rank_key = "rank_test_score" if "rank_test_score" in results else next(
        (k for k in sorted(results) if k.startswith("rank_test_")), None)
    count = len(results["params"])
    order = sorted(range(count), key=lambda i: (results[rank_key][i], i)) if rank_key \
        else list(range(count))
    base = getattr(est, "estimator", est)
    cls = type(base)
    for i in order[:limit]:
        metrics = {}
        for key, values in results.items():
            if key.startswith(("mean_", "std_", "rank_")):
                value = _metric(functools.partial(values.__getitem__, i))
                if value is not None:
                    metrics[key] = value
        with api.start_run(run_name=f"{run.name}-candidate-{i}", experiment=run.experiment,
                           nested=True) as child:
            child.log_params(_candidate_params(base, results["params"][i]))
            child.log_metrics(metrics)
            child.set_tags({"estimator_name": cls.__name__,
                            "estimator_class": f"{cls.__module__}.{cls.__qualname__}"})


def _candidate_params(base: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The base estimator's params with the candidate's set, as MLflow logs a child run."""
    try:
        from sklearn.base import clone

        return estimator_params(clone(base).set_params(**params))
    except Exception:  # noqa: BLE001 - an estimator clone refuses: the candidate's own params
        return {str(k): param_value(v) for k, v in params.items()}


# ---------------------------------------------------------------- data, model


def log_data(run: Any, x: Any, y: Any) -> None:
    """Record the training features and targets as inputs ``training_data`` and ``training_target``."""
    for name, data in (("training_data", x), ("training_target", y)):
        if data is not None:
            run.record_now(["i", name, datasets.entry(describe_data(data), None, "training")])


def describe_data(data: Any) -> dict[str, Any]:
    """Hash and shape of a DataFrame, Series, NumPy array, sparse matrix or xgboost DMatrix.

    DataFrames hash as log_input hashes them; arrays as md5 of their dtype, shape and
    C-ordered bytes (object arrays through pandas); sparse matrices through their CSR arrays.
    """
    import pandas as pd

    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        return {**datasets.describe_frame(data), "shape": [int(n) for n in data.shape]}
    if type(data).__name__ == "DMatrix":
        return _describe_dmatrix(data)
    if hasattr(data, "tocsr"):
        return _describe_sparse(data.tocsr())
    import numpy as np

    array = np.asarray(data)
    if array.dtype == object:
        frame = pd.DataFrame(array.reshape(len(array), -1))
        frame.columns = [str(c) for c in frame.columns]
        return {**datasets.describe_frame(frame), "kind": "ndarray", "shape": list(array.shape)}
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(json.dumps([array.dtype.str, list(array.shape)]).encode("utf-8"))
    digest.update(np.ascontiguousarray(array).tobytes())
    return _array_entry(digest.hexdigest(), int(array.nbytes), list(array.shape), "ndarray",
                        str(array.dtype))


def _array_entry(md5: str, size: int, shape: list[int], kind: str, dtype: str) -> dict[str, Any]:
    return {"md5": md5, "size": size, "rows": int(shape[0]) if shape else None, "columns": None,
            "schema": None, "kind": kind, "shape": [int(n) for n in shape], "dtype": dtype}


def _describe_sparse(csr: Any) -> dict[str, Any]:
    import numpy as np

    digest = hashlib.md5(usedforsecurity=False)
    digest.update(json.dumps(["csr", csr.dtype.str, list(csr.shape)]).encode("utf-8"))
    size = 0
    for part in (csr.data, csr.indices, csr.indptr):
        raw = np.ascontiguousarray(part).tobytes()
        digest.update(raw)
        size += len(raw)
    return _array_entry(digest.hexdigest(), size, list(csr.shape), "sparse", str(csr.dtype))


def _describe_dmatrix(matrix: Any) -> dict[str, Any]:
    import numpy as np

    entry = _describe_sparse(matrix.get_data())
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(entry["md5"].encode("ascii"))
    digest.update(np.ascontiguousarray(matrix.get_label()).tobytes())
    return {**entry, "md5": digest.hexdigest(), "kind": "dmatrix",
            "columns": list(matrix.feature_names) if matrix.feature_names else None}


def example_rows(x: Any) -> Any:
    """The first rows of the training data, as the model's input example (None if unusable)."""
    if x is None or hasattr(x, "tocsr") or type(x).__name__ == "DMatrix":
        return None
    if hasattr(x, "iloc"):
        return x.iloc[:EXAMPLE_ROWS]
    import numpy as np

    array = np.asarray(x)
    return array[:EXAMPLE_ROWS] if array.ndim == 2 and array.dtype != object else None


def log_fitted_model(run: Any, model: Any, example: Any) -> None:
    """log_model with the example (so the signature is inferred); without it if predict fails."""

    if example is not None and callable(getattr(model, "predict", None)):
        try:
            run.log_model(model, MODEL_PATH, input_example=example)
            return
        except ModelError as exc:
            log.warning("autolog logs the model without a signature: %s", exc)
    run.log_model(model, MODEL_PATH)


# ---------------------------------------------------------------- xgboost


def _log_xgboost_train(run: Any, original: Callable[..., Any], args: tuple[Any, ...],
                       kwargs: dict[str, Any], booster: Any) -> None:
    try:
        bound = inspect.signature(original).bind(*args, **kwargs)
        bound.apply_defaults()
        given = bound.arguments
    except TypeError:
        given = {}
    params = given.get("params") or {}
    params = dict(params.items() if isinstance(params, Mapping) else params)
    params["num_boost_round"] = given.get("num_boost_round")
    _attempt("params", lambda: run.log_params({str(k): param_value(v) for k, v in params.items()}))
    _attempt("eval metrics", lambda: _log_xgboost_evals(run, given.get("evals_result")))
    for attr in ("best_iteration", "best_score"):
        if booster is not None and attr in booster.attributes():
            _attempt(attr, functools.partial(run.log_metric, attr, float(booster.attributes()[attr])))
    dtrain = given.get("dtrain")
    if _config["log_datasets"] and dtrain is not None:
        _attempt("training data", lambda: log_data(run, dtrain, None))
    _attempt("feature importance", lambda: _log_importance(run, booster))
    if _config["log_models"] and booster is not None:
        _attempt("model", lambda: log_fitted_model(run, booster, _dmatrix_example(dtrain)))


def _collect_evals(kwargs: dict[str, Any]) -> None:
    if kwargs.get("evals_result") is None:  # keyword-only since xgboost 2
        kwargs["evals_result"] = {}


def _log_xgboost_evals(run: Any, results: Mapping[str, Mapping[str, list[float]]] | None) -> None:
    """Per-iteration eval metrics as ``<data>-<metric>`` with the iteration as step."""
    for data_name, metrics in (results or {}).items():
        for metric, values in metrics.items():
            for step, value in enumerate(values):
                run.log_metric(f"{data_name}-{metric}", float(value), step=step)


def _log_importance(run: Any, booster: Any) -> None:
    if booster is not None:
        scores = booster.get_score(importance_type="weight")
        run.log_dict({str(k): float(v) for k, v in scores.items()}, "feature_importance_weight.json")


def _dmatrix_example(dtrain: Any) -> Any:
    if dtrain is None:
        return None
    import pandas as pd

    rows = dtrain.get_data()[:EXAMPLE_ROWS].toarray()
    return pd.DataFrame(rows, columns=dtrain.feature_names) if dtrain.feature_names else rows
