"""The forecasting story, end to end, in the git repository around the current directory.

A plant's planning team forecasts the hours each cost center books per shift. They train a
linear baseline, a random forest and XGBoost; compare the runs; mark the baseline; register
January's best model and promote it to prod; and from then on monitor prod every month against
the month's actual hours (`gittrack monitor`). In April a line changeover starts: the data
drifts and prod's error jumps. They retrain on the changeover data in May and promote it;
when the plant is back to normal in June the monitoring run alerts, the retrained version does
worse than the old one, and they roll prod back. July to December are monitored under v1.

    cd my-repo && python /path/to/examples/forecasting/story.py

Training and most monitoring run in this process (gittrack's Python API); the comparison,
registry and the monitoring of the two eventful months call the gittrack CLI, printed as the
commands a user would type.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import DRIFT_MONTH, STORY_MONTHS, TARGET, story_period, write_month, write_snapshot  # noqa: E402
from train import EXPERIMENT, MODELS, score, train  # noqa: E402

import gittrack  # noqa: E402
from gittrack.core import gitio, project  # noqa: E402

MODEL = "forecaster"
DATA_DIR = Path("data")
CHART = Path("monitoring.png")
# Committed with the code: what drift leaves out (time columns always differ from the
# training range, as a month holds one month_of_year; the target's error is measured instead)
# and when a monitoring run alerts.
SETTINGS = """\
drift:
  ignore: [month, month_of_year, t, hours]
monitoring:
  max: {rmse: 120}
"""


def gittrack_cli(*args: str, ok: tuple[int, ...] = (0,)) -> str:
    """Run `gittrack ARGS`, print the command and what it printed; return its stdout."""
    print(f"\n$ gittrack {shlex.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "gittrack", *args], capture_output=True, text=True)
    print((proc.stdout + proc.stderr).rstrip(), flush=True)
    if proc.returncode not in ok:
        raise SystemExit(f"gittrack {args[0]} failed with exit code {proc.returncode}")
    if proc.returncode:
        print(f"(exit code {proc.returncode})", flush=True)
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


def monitor_month(month: int) -> None:
    """Monitor prod on the month that just closed (in this process, one line printed)."""
    batch = write_month(month, DATA_DIR)
    result = gittrack.monitor(f"models:/{MODEL}/prod", str(batch), target=TARGET,
                              name=str(story_period(month)), step=month)
    drifted = ", ".join(c.column for c in result.drift.drifted) or "none"
    print(f"{story_period(month)}  prod v{result.version}  rmse={result.metrics['rmse']:6.1f}  "
          f"drifted: {drifted}" + ("  ALERT" if result.alerts else ""), flush=True)


def monitor_month_cli(month: int) -> str:
    batch = write_month(month, DATA_DIR)
    return gittrack_cli("monitor", f"models:/{MODEL}/prod", "--data", str(batch), "--target",
                        TARGET, "--name", str(story_period(month)), "--step", str(month),
                        ok=(0, 1))


def set_up() -> None:
    if not gitio.is_repository("."):
        project.init(Path("."))
    repo = gitio.Repo(".")
    exclude = Path(repo.git_dir) / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    if "/data/" not in (exclude.read_text() if exclude.exists() else ""):
        with open(exclude, "a") as fh:  # the generated data is versioned by hash, not committed
            fh.write("\n/data/\n/monitoring.png\n")
    project.init(Path("."))
    config = Path(project.CONFIG_PATH)
    if "monitoring:" not in config.read_text():
        with open(config, "a") as fh:
            fh.write(SETTINGS)
        subprocess.run(["git", "add", ".gittrack"], check=True)
        subprocess.run(["git", "commit", "-q", "-m", "gittrack: drift and monitoring settings"],
                       check=True)


def main() -> None:
    set_up()
    say("1. Train month by month, January to March 2025; January's best goes to prod")
    months = {1: train_month(1)}
    gittrack_cli("register", MODEL, best(months[1]), "-m", "best of January 2025")
    gittrack_cli("promote", MODEL, "v1", "prod")
    monitor_month(1)
    for month in (2, 3):
        months[month] = train_month(month)
        monitor_month(month)

    say("2. Compare the runs, and the first month with the last")
    gittrack_cli("log", EXPERIMENT, "--columns",
                 "name,params.model,params.test_month,metrics.rmse,metrics.mae")
    gittrack_cli("diff", months[1]["forest"][0], months[3]["forest"][0])

    say("3. The January linear model is the baseline every run is compared with")
    gittrack_cli("baseline", "set", months[1]["linear"][0])

    say(f"4. {story_period(DRIFT_MONTH)}: a line changeover; the data drifts, prod's error jumps")
    monitor_month_cli(DRIFT_MONTH)
    gittrack_cli("drift", f"models:/{MODEL}/prod", str(DATA_DIR / f"{story_period(4)}.csv"),
                 ok=(0, 1))

    say("5. May: retrain on data that includes April, promote the best as v2")
    months[5] = train_month(5)
    gittrack_cli("register", MODEL, best(months[5]), "-m", "retrained with April's data")
    gittrack_cli("promote", MODEL, "v2", "prod")
    monitor_month(5)

    say("6. June: the changeover is over, and the monitoring run alerts")
    monitor_month_cli(6)
    snapshot = write_snapshot(6, DATA_DIR)
    june = {v: score(f"models:/{MODEL}/{v}", snapshot)["rmse"] for v in (1, 2)}
    for version, rmse in june.items():
        print(f"v{version} on {story_period(6)}: rmse={rmse:.1f}")
    if june[2] <= june[1]:
        print("\nv2 is at least as good as v1 on June: prod stays on v2.")
    else:
        say("7. v2 learned the changeover as the new normal and over-forecasts June: "
            "roll back to v1")
        gittrack_cli("rollback", MODEL, "prod", "-m",
                     f"v2 over-forecasts {story_period(6)} (rmse {june[2]:.0f} vs v1 {june[1]:.0f})")
        gittrack_cli("models", "history", MODEL)

    say("8. July to December: prod monitored every month")
    for month in range(7, STORY_MONTHS + 1):
        monitor_month(month)
    gittrack_cli("log", f"{MODEL}/monitoring", "--columns",
                 "name,params.version,metrics.rmse,metrics.mae,metrics.drift/share", "--sort",
                 "params.batch")
    gittrack_cli("plot", "-e", f"{MODEL}/monitoring", "--metric", "rmse", "--metric",
                 "drift/share", "-o", str(CHART))
    prod = gittrack.resolve_model_uri(f"models:/{MODEL}/prod").version.version
    print(f"\nprod is v{prod} again.")


if __name__ == "__main__":
    main()
