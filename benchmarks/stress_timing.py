"""Run the timing-sensitive tests N times in a row while other processes keep every core busy.

    python benchmarks/stress_timing.py [--times 10] [--hogs 2]

The tests whose outcome could depend on scheduling: kill -9 and SIGTERM of a logging process
(tests/test_tracking.py), `gittrack push` killed mid-transfer and rerun (tests/test_remote.py,
tests/test_push_reliability.py), writers racing `git gc` (tests/test_maintenance_race.py),
a running run's new points drawn by the UI without a reload (tests/test_ui_browser.py), and
every Hypothesis property (selected with pytest's `-m hypothesis`, the marker Hypothesis'
plugin puts on each `@given` test). They assert ordering and content, never wall-clock time;
this script shows it by running them ``--times`` times with ``--hogs`` busy loops (default: one
per core) competing for the CPU. Each round is one fresh pytest process. Exit 0 when every
round passed; the summary line is `N passed, N failed` over the rounds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/test_tracking.py::test_sigkill_loses_only_what_was_not_yet_flushed",
    "tests/test_tracking.py::test_sigterm_ends_the_run_killed",
    "tests/test_remote.py::test_push_killed_mid_transfer_and_rerun_leaves_the_remote_complete",
    "tests/test_push_reliability.py::test_thirty_killed_pushes_then_one_plain_push_complete_the_remote",
    "tests/test_maintenance_race.py::test_writers_and_git_maintenance_lose_nothing",
    "tests/test_ui_browser.py::test_running_run_shows_new_points_without_reload",
]
# The files that hold properties (collecting only them keeps a round short).
PROPERTIES = ["-m", "hypothesis", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")
                                          if "@given" in p.read_text())]
HOG = "while True: pass"


def pytest_round(args: list[str], log: Path) -> tuple[bool, str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    last = log.read_text().rstrip().splitlines()[-1]
    return proc.returncode == 0, last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=10)
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--log", type=Path, default=Path("/tmp/gittrack-stress-timing.log"))
    parser.add_argument("--skip-properties", action="store_true")
    args = parser.parse_args(argv)
    args.log.write_text("")
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(args.hogs)]
    passed = failed = 0
    try:
        for i in range(1, args.times + 1):
            started = time.perf_counter()
            results = [pytest_round(TESTS, args.log)]
            if not args.skip_properties:
                results.append(pytest_round(PROPERTIES, args.log))
            ok = all(r[0] for r in results)
            passed, failed = passed + ok, failed + (not ok)
            print(f"round {i}/{args.times}: {'ok' if ok else 'FAILED'} in "
                  f"{time.perf_counter() - started:.0f} s ({'; '.join(r[1] for r in results)})",
                  flush=True)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    print(f"{passed} passed, {failed} failed (rounds, under {args.hogs} busy loops; log: {args.log})")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
