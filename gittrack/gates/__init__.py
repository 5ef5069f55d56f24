"""CI gates: compare a candidate run (or group of seeds) with prod, a baseline or a run, by
rules committed in ``.gittrack/config.yaml``, noise-aware; report for a pull request; promote
only what passes (docs/gates.md).

Modules: rules (the rule grammar), stats (the bootstrap comparison), spec (the configured
gate), groups (which runs stand for each side), gate (the evaluation), report (table, JSON,
Markdown, chart), promotion (``promote --if-gate``).
"""

from __future__ import annotations

GROUP_TAG = "gittrack.group"  # `gittrack run --repeat N` tags its N runs with one value
SEED_TAG = "gittrack.seed"  # and each with its seed, 0..N-1
EVALUATES_TAG = "gittrack.evaluates"  # a run that scored a registry version: "MODEL/vN"
