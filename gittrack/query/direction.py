"""Whether a metric is better higher or lower: from ``metric_directions`` in the config, else
from its name (``val_loss``, ``rmse``: lower; ``accuracy``, ``r2``: higher), else unknown."""

from __future__ import annotations

import re
from collections.abc import Iterable

from gittrack.core import project
from gittrack.core.gitio import Repo

CONFIG_KEY = "metric_directions"
DIRECTIONS = ("higher", "lower")
# Words of a metric name (split at anything not a letter or digit), checked last word first,
# so "loss_ratio_accuracy" is about accuracy.
_LOWER = {"loss", "error", "err", "mse", "rmse", "mae", "mape", "smape", "rmsle", "msle",
          "logloss", "nll", "perplexity", "ppl", "wer", "cer", "latency", "time", "seconds",
          "duration", "cost", "regret", "brier", "hinge", "deviance", "divergence", "kl"}
_HIGHER = {"acc", "accuracy", "auc", "roc", "f1", "fbeta", "precision", "recall", "r2",
           "score", "map", "ndcg", "bleu", "rouge", "iou", "dice", "jaccard", "sharpe",
           "reward", "return", "throughput", "top1", "top5", "hit", "hits", "mrr", "kappa",
           "specificity", "sensitivity", "tpr", "tnr", "explained", "variance"}


def by_name(metric: str) -> str | None:
    """``higher``, ``lower`` or None, from the words of the metric's name."""
    for word in reversed(re.split(r"[^a-z0-9]+", metric.lower())):
        if word in _LOWER:
            return "lower"
        if word in _HIGHER:
            return "higher"
    return None


def directions(repo: Repo, metrics: Iterable[str]) -> dict[str, str]:
    """``{metric: higher|lower}`` for the metrics whose direction is configured or named."""
    configured = project.config(repo).get(CONFIG_KEY)
    configured = configured if isinstance(configured, dict) else {}
    out = {}
    for metric in metrics:
        chosen = configured.get(metric)
        found = chosen if chosen in DIRECTIONS else by_name(metric)
        if found is not None:
            out[metric] = found
    return out
