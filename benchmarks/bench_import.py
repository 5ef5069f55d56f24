"""Start-up cost: `import gittrack`, the API's first use and `gittrack --help`, in fresh processes.

Run: python benchmarks/bench_import.py [--repeat 21] [--rev REV ...]

Each figure is the wall time of a whole `python -c ...` process, as a user's script or a
shell pays it, minus nothing: the bare interpreter (`python -c pass`) is reported beside it
as the floor. With ``--rev``, the same commands also run against other git revisions of this
repository, each checked out into a temporary worktree and put first on PYTHONPATH, so a
change's before and after are measured in one run on the same machine. Bytecode is compiled
first, as `pip install` does.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "import gittrack": [sys.executable, "-c", "import gittrack"],
    "import gittrack; gittrack.start_run (api loaded)": [
        sys.executable, "-c", "import gittrack; gittrack.start_run"],
    "gittrack --help": [sys.executable, "-m", "gittrack", "--help"],
}


def timed(cmd: list[str], source: Path, repeat: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(source)}
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        out.append(time.perf_counter() - start)
    return out


def measure(label: str, source: Path, repeat: int) -> None:
    compileall.compile_dir(str(source / "gittrack"), quiet=1)
    print(f"\n{label} ({source}; fresh processes, median of {repeat})")
    for name, cmd in COMMANDS.items():
        times = timed(cmd, source, repeat)
        print(f"  {name:50s} median {statistics.median(times) * 1000:6.1f} ms   "
              f"min {min(times) * 1000:6.1f} ms   max {max(times) * 1000:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--rev", action="append", default=[], help="another git revision to measure")
    args = parser.parse_args()
    for rev in args.rev:
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "tree"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), rev],
                           check=True)
            try:
                measure(f"revision {rev}", tree, args.repeat)
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                               check=True)
    measure("this checkout", ROOT, args.repeat)


if __name__ == "__main__":
    main()
