"""Quarterly partitions: one watchlist per calendar quarter, rebuilt point in time.

A partition key is the first day of the quarter (`2018-01-01` is 2018 Q1); the watchlist for it
uses only what was public by the quarter's last day, its as-of date. A quarter's partition
exists once the quarter has ended.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

FIRST_QUARTER = "2016-01-01"

quarterly_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *",
    start=FIRST_QUARTER,
    fmt="%Y-%m-%d",
    timezone="Europe/London",
)


def quarter_start(partition_key: str) -> date:
    return date.fromisoformat(partition_key)


def quarter_label(partition_key: str) -> str:
    """`2018-01-01` -> `2018Q1`, the name the Parquet folders use."""
    start = quarter_start(partition_key)
    if start.day != 1 or start.month not in (1, 4, 7, 10):
        raise ValueError(f"{partition_key!r} is not the first day of a calendar quarter")
    return f"{start.year}Q{(start.month - 1) // 3 + 1}"


def as_of_date(partition_key: str) -> date:
    """The quarter's last day: the watchlist may use only what was public by then."""
    start = quarter_start(partition_key)
    next_month = start.month + 3
    next_start = date(start.year + (next_month > 12), (next_month - 1) % 12 + 1, 1)
    return next_start - timedelta(days=1)


def partition_key_for(label: str) -> str:
    """`2018Q1` -> `2018-01-01`."""
    year, quarter = label.upper().split("Q")
    return date(int(year), 3 * int(quarter) - 2, 1).isoformat()


def last_complete_quarter(today: date) -> str:
    """The partition key of the latest quarter that had ended by `today`."""
    current_start_month = 3 * ((today.month - 1) // 3) + 1
    year, month = today.year, current_start_month - 3
    if month < 1:
        year, month = year - 1, month + 12
    return date(year, month, 1).isoformat()
