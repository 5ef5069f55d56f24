"""Synthetic monthly production hours of a plant's cost centers, made here (no download).

Each cost center has its own level, a slow trend, a yearly season, hours driven by staff and
orders, and noise. From ``DRIFT_MONTH`` to ``DRIFT_END`` (April and May 2025) a line changeover
raises the hours of every center by 18% of its level, a change no earlier month shows: the
drift the story follows. In June the plant is back to normal, so a model that learned the
changeover months as the new normal over-forecasts June.

``write_snapshot(month, "data")`` writes ``data/production_hours_<YYYY-MM>.csv`` holding every
row known at the end of that story month (the history plus the story months so far), so each
month's training data is a new data version.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

CENTERS = ("assembly", "machining", "paint", "packaging", "quality", "welding")
HISTORY_MONTHS = 24          # months before the story starts
STORY_START = pd.Period("2025-01", freq="M")
DRIFT_MONTH = 4              # story month (1-based) where the drift starts
DRIFT_END = 5                # the last drifted story month
DRIFTED = CENTERS            # the changeover touches every center
FEATURES = ["center_code", "month_of_year", "t", "staff", "orders"]
TARGET = "hours"


def story_period(month: int) -> pd.Period:
    """The calendar month of story month ``month`` (1 = January 2025)."""
    return STORY_START + (month - 1)


def generate(story_months: int, seed: int = 42) -> pd.DataFrame:
    """Every row from the first history month to the end of story month ``story_months``."""
    rng = np.random.default_rng(seed)
    levels = dict(zip(CENTERS, rng.uniform(900, 1800, len(CENTERS))))
    rows = []
    for t in range(HISTORY_MONTHS + story_months):
        period = STORY_START + (t - HISTORY_MONTHS)
        story_month = t - HISTORY_MONTHS + 1
        for code, center in enumerate(CENTERS):
            staff = int(rng.integers(15, 45))
            orders = int(rng.integers(40, 160))
            season = 0.08 * levels[center] * math.sin(2 * math.pi * (period.month - 1) / 12)
            hours = levels[center] + 3.0 * t + season + 9.0 * staff + 2.5 * orders
            if DRIFT_MONTH <= story_month <= DRIFT_END and center in DRIFTED:
                hours += 0.18 * levels[center]
            hours += rng.normal(0, 25)
            rows.append({"month": str(period), "cost_center": center, "center_code": code,
                         "month_of_year": period.month, "t": t, "staff": staff,
                         "orders": orders, "hours": round(hours, 1)})
    return pd.DataFrame(rows)


def write_snapshot(month: int, directory: str | Path) -> Path:
    """Write the data known at the end of story month ``month``; returns the CSV's path."""
    path = Path(directory) / f"production_hours_{story_period(month)}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    generate(month).to_csv(path, index=False)
    return path


def split_newest(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on every month but the newest; test on the newest (the month just closed)."""
    newest = frame["month"].max()
    return frame[frame["month"] < newest], frame[frame["month"] == newest]
