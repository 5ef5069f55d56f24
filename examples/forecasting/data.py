"""Synthetic production hours of a plant's cost centers, made here (no download).

One row is one shift of one cost center: the staff on shift, the orders scheduled, the
product line running and the hours booked. Each center has its own level, a slow trend and a
yearly season; hours follow staff and orders, with noise. From ``DRIFT_MONTH`` to ``DRIFT_END``
(April and May 2025) a line changeover runs: a new product line (``line-B``) takes part of
the shifts, orders rise by a third, and every center books 18% more hours than staff and
orders explain, a change no earlier month shows: the drift the story follows. In June the
plant is back to normal, so a model that learned the changeover months as the new normal
over-forecasts June.

``write_snapshot(month, "data")`` writes ``data/production_hours_<YYYY-MM>.csv`` holding every
shift known at the end of that story month (the training data of that month: a new data
version each month); ``write_month(month, "data")`` writes ``data/<YYYY-MM>.csv``, the shifts
of that month alone, with their actual hours (the batch production is monitored on).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

CENTERS = ("assembly", "machining", "paint", "packaging", "quality", "welding")
SHIFTS_PER_CENTER = 100      # shifts a month per cost center
HISTORY_MONTHS = 18          # months before the story starts
STORY_START = pd.Period("2025-01", freq="M")
STORY_MONTHS = 12
DRIFT_MONTH = 4              # story month (1-based) where the changeover starts
DRIFT_END = 5                # the last changeover month
FEATURES = ["center_code", "month_of_year", "t", "staff", "orders"]
TARGET = "hours"


def story_period(month: int) -> pd.Period:
    """The calendar month of story month ``month`` (1 = January 2025)."""
    return STORY_START + (month - 1)


def _month_rows(t: int, levels: dict[str, float], rng: np.random.Generator) -> pd.DataFrame:
    period = STORY_START + (t - HISTORY_MONTHS)
    story_month = t - HISTORY_MONTHS + 1
    changeover = DRIFT_MONTH <= story_month <= DRIFT_END
    n = SHIFTS_PER_CENTER
    parts = []
    for code, center in enumerate(CENTERS):
        staff = rng.integers(15, 46, n)
        orders = rng.integers(40, 161, n) * (4 / 3 if changeover else 1.0)
        line = rng.choice(["line-A", "line-B"], n, p=[0.6, 0.4]) if changeover \
            else np.full(n, "line-A")
        season = 0.08 * levels[center] * math.sin(2 * math.pi * (period.month - 1) / 12)
        hours = levels[center] + 3.0 * t + season + 9.0 * staff + 2.5 * orders
        if changeover:
            hours = hours + 0.18 * levels[center]
        hours = hours + rng.normal(0, 25, n)
        parts.append(pd.DataFrame({
            "month": str(period), "cost_center": center, "center_code": code,
            "month_of_year": period.month, "t": t, "staff": staff,
            "orders": orders.round(0).astype(int), "product_line": line,
            "hours": hours.round(1)}))
    return pd.concat(parts, ignore_index=True)


def generate(story_months: int, seed: int = 42) -> pd.DataFrame:
    """Every shift from the first history month to the end of story month ``story_months``."""
    rng = np.random.default_rng(seed)
    levels = dict(zip(CENTERS, rng.uniform(900, 1800, len(CENTERS))))
    return pd.concat([_month_rows(t, levels, rng) for t in range(HISTORY_MONTHS + story_months)],
                     ignore_index=True)


def write_snapshot(month: int, directory: str | Path) -> Path:
    """Write the data known at the end of story month ``month``; returns the CSV's path."""
    path = Path(directory) / f"production_hours_{story_period(month)}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    generate(month).to_csv(path, index=False)
    return path


def write_month(month: int, directory: str | Path) -> Path:
    """Write the shifts of story month ``month`` alone; returns the CSV's path."""
    path = Path(directory) / f"{story_period(month)}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = generate(month)
    frame[frame["month"] == str(story_period(month))].to_csv(path, index=False)
    return path


def split_newest(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on every month but the newest; test on the newest (the month just closed)."""
    newest = frame["month"].max()
    return frame[frame["month"] < newest], frame[frame["month"] == newest]
