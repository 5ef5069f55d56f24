"""A new month arrives: train a candidate on it with several seeds, and score prod on the same
hold-out, so that `gittrack promote --if-gate` compares like with like.

    python examples/forecasting/retrain.py --model forest --seeds 3 [--month 4]

1. The data known at the end of the new month is written (``data.write_snapshot``): by default
   the month after the newest ``test_month`` already trained, so each scheduled run takes the
   next one.
2. ``--seeds`` runs of the candidate are trained on every month before it and scored on it, as one
   group (tag ``gittrack.group``; what ``gittrack run --repeat N -- python train.py ...`` does).
3. The current prod version (``models:/forecaster/prod``) is scored on the same month as a run in
   ``forecast_evaluations`` tagged ``gittrack.evaluates: forecaster/vN`` with the same
   ``test_month``: the gate's ``match: [params.test_month]`` then compares the candidate's seeds
   with prod on the new month's hold-out.

The last line printed is the candidate's run id, which examples/ci/scripts/*.sh read. Add the
gate to ``.gittrack/config.yaml`` (examples/ci/README.md)::

    gates:
      forecaster:
        against: models:/forecaster/prod
        rules: ["rmse <= ref * 1.02", "mae <= ref * 1.05"]
        match: [params.test_month]
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

import pandas as pd

import gittrack

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import STORY_START, write_snapshot  # noqa: E402
from train import score  # noqa: E402
from train import EXPERIMENT, MODELS, train  # noqa: E402

MODEL = "forecaster"
EVALUATIONS = "forecast_evaluations"
DATA_DIR = Path("data")


def next_month() -> int:
    """The story month after the newest test_month trained so far (3 when none)."""
    runs = gittrack.query_runs([EXPERIMENT]) if EXPERIMENT in _experiments() else None
    if runs is None or "params.test_month" not in runs or runs["params.test_month"].isna().all():
        return 3
    newest = pd.Period(str(runs["params.test_month"].dropna().max()), freq="M")
    return (newest - STORY_START).n + 2


def _experiments() -> list[str]:
    from gittrack.api import open_store

    return list(open_store().experiments())


def evaluate_prod(data: Path, stage: str = "prod") -> tuple[int, dict[str, float]] | None:
    """Score the stage's current version on the newest month of ``data`` as a run; None when
    the stage has no version yet."""
    try:
        version = gittrack.resolve_model_uri(f"models:/{MODEL}/{stage}").version
    except gittrack.GittrackError:
        return None
    scores = score(f"models:/{MODEL}/{version.version}", data)
    newest = str(pd.read_csv(data, usecols=["month"])["month"].max())
    gittrack.set_experiment(EVALUATIONS)
    with gittrack.start_run(run_name=f"{MODEL}-v{version.version}-on-{newest}",
                            tags={"gittrack.evaluates": f"{MODEL}/v{version.version}"}) as run:
        run.log_params({"model_version": version.version, "stage": stage, "test_month": newest})
        run.log_input(str(data), name="production_hours", context="evaluation")
        run.log_metrics(scores)
    return int(version.version), scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=MODELS, default="forest")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--month", type=int, help="story month (1 = January 2025)")
    args = parser.parse_args()
    month = args.month or next_month()
    data = write_snapshot(month, DATA_DIR)
    print(f"new month: {data.name}", flush=True)
    group = secrets.token_hex(8)
    ids = []
    for seed in range(args.seeds):
        run_id, scores = train(args.model, data, month, seed=seed,
                               tags={"gittrack.group": group, "gittrack.seed": str(seed)})
        ids.append(run_id)
        print(f"candidate {args.model} seed {seed}: rmse={scores['rmse']:.1f} "
              f"mae={scores['mae']:.1f}  run {run_id}", flush=True)
    prod = evaluate_prod(data)
    if prod is None:
        print("prod has no version yet: nothing to score", flush=True)
    else:
        print(f"prod (v{prod[0]}) on the same month: rmse={prod[1]['rmse']:.1f} "
              f"mae={prod[1]['mae']:.1f}", flush=True)
    print(ids[0])


if __name__ == "__main__":
    main()
