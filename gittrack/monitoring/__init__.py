"""Production monitoring: data drift from profiles, and monitoring runs (docs/monitoring.md).

``gittrack.monitor(...)`` (gittrack.monitoring.runs) records a monitoring run;
gittrack.monitoring.drift compares two profiles; gittrack.monitoring.sources turns what a user
names (a run, ``models:/NAME/STAGE``, a file, a directory of request logs, a profile) into one.
"""

from __future__ import annotations

from typing import Any


def monitor(*args: Any, **kwargs: Any) -> Any:
    """Record a monitoring run (see :func:`gittrack.monitoring.runs.monitor`)."""
    from gittrack.monitoring.runs import monitor as run  # lazy: pandas and the models load there

    return run(*args, **kwargs)
