"""The forecasting story, end to end, in the git repository around the current directory.

A plant's planning team forecasts monthly production hours per cost center. Month by month
they train a linear baseline, a random forest and XGBoost; compare the runs; mark the baseline;
register the best model and promote it to prod; watch its error grow once the data drifts
(a line changeover in April and May); retrain on the drifted data; and, when the retrained
version does worse than the old one once the plant is back to normal in June, roll prod back.

    cd my-repo && python /path/to/examples/forecasting/story.py

Training and monitoring run in this process (gittrack's Python API); the comparison and
registry steps call the gittrack CLI, printed as the commands a user would type.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import DRIFT_MONTH, story_period, write_snapshot  # noqa: E402
from monitor import MONITOR_EXPERIMENT, monitor, score  # noqa: E402
from train import EXPERIMENT, MODELS, train  # noqa: E402

import gittrack  # noqa: E402
from gittrack.core import gitio, project  # noqa: E402

MODEL = "forecaster"
DATA_DIR = Path("data")
LAST_MONTH = 6


def gittrack_cli(*args: str) -> str:
    """Run `gittrack ARGS`, print the command and what it printed; return its stdout."""
    print(f"\n$ gittrack {shlex.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "gittrack", *args], capture_output=True, text=True)
    print((proc.stdout + proc.stderr).rstrip(), flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"gittrack {args[0]} failed with exit code {proc.returncode}")
    return proc.stdout


def say(text: str) -> None:
    print(f"\n## {text}", flush=True)


def train_month(month: int) -> dict[str, tuple[str, float]]:
    """Train every model on the data known at the end of ``month``: {kind: (run id, rmse)}."""
    data = write_snapshot(month, DATA_DIR)
    results = {}
    for kind in MODELS:
        run_id, scores = train(kind, data, month)
        results[kind] = (run_id, scores["rmse"])
        print(f"{story_period(month)}  {kind:8s} rmse={scores['rmse']:7.1f} "
              f"mae={scores['mae']:7.1f}  run {run_id}", flush=True)
    return results


def best(results: dict[str, tuple[str, float]]) -> str:
    return min(results.values(), key=lambda r: r[1])[0]


def main() -> None:
    if not gitio.is_repository("."):
        project.init(Path("."))
    exclude = Path(gitio.Repo(".").git_dir) / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    if "/data/" not in exclude.read_text() if exclude.exists() else True:
        with open(exclude, "a") as fh:  # the generated data is versioned by hash, not committed
            fh.write("\n/data/\n")

    say("1. Train month by month: January to March 2025")
    months = {m: train_month(m) for m in (1, 2, 3)}

    say("2. Compare the runs, and the first month with the last")
    gittrack_cli("log", EXPERIMENT, "--columns",
                 "name,params.model,params.test_month,metrics.rmse,metrics.mae")
    gittrack_cli("diff", months[1]["forest"][0], months[3]["forest"][0])

    say("3. The January linear model is the baseline every run is compared with")
    gittrack_cli("baseline", "set", months[1]["linear"][0])

    say("4. Register March's best model and promote it to prod")
    gittrack_cli("register", MODEL, best(months[3]), "-m", "best of March 2025")
    gittrack_cli("promote", MODEL, "v1", "prod")
    monitor(snapshot(3), 3)

    say(f"5. {story_period(DRIFT_MONTH)}: a line changeover; the data drifts, prod's error jumps")
    months[4] = train_month(4)
    monitor(snapshot(4), 4)

    say("6. May: retrain on data that includes April, promote the best as v2")
    months[5] = train_month(5)
    gittrack_cli("register", MODEL, best(months[5]), "-m", "retrained with April's data")
    gittrack_cli("promote", MODEL, "v2", "prod")
    monitor(snapshot(5), 5)

    say("7. June: the changeover is over; both versions scored on June")
    months[6] = train_month(LAST_MONTH)
    monitor(snapshot(LAST_MONTH), LAST_MONTH)
    gittrack_cli("log", MONITOR_EXPERIMENT, "--columns",
                 "name,params.version,metrics.rmse,metrics.mae", "--sort", "params.month")
    june = {v: score(f"models:/{MODEL}/{v}", snapshot(LAST_MONTH))["rmse"] for v in (1, 2)}
    for version, rmse in june.items():
        print(f"v{version} on {story_period(LAST_MONTH)}: rmse={rmse:.1f}")

    if june[2] <= june[1]:
        print("\nv2 is at least as good as v1 on June: prod stays on v2.")
        return
    say("8. v2 learned the changeover as the new normal and over-forecasts June: roll back to v1")
    gittrack_cli("rollback", MODEL, "prod", "-m",
                 f"v2 over-forecasts {story_period(LAST_MONTH)} (rmse {june[2]:.0f} vs v1 {june[1]:.0f})")
    gittrack_cli("models", "history", MODEL)
    gittrack_cli("models", "resolve", f"{MODEL}/prod")
    gittrack_cli("log", EXPERIMENT, "-n", "6", "--columns",
                 "name,params.model,metrics.rmse,metrics.mae")
    prod = gittrack.resolve_model_uri(f"models:/{MODEL}/prod").version.version
    print(f"\nprod is v{prod} again.")


def snapshot(month: int) -> Path:
    return DATA_DIR / f"production_hours_{story_period(month)}.csv"


if __name__ == "__main__":
    main()
