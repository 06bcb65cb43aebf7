"""Which GDELT 1.0 event objects hold a year, and how a year splits into source groups (one Lambda each).

The layout of ``s3://gdelt-open-data/events/`` (AWS's GDELT page: "For years before 2006, records are stored
in yearly files", monthly files from 2006 to March 2013, then "files are created daily"; its examples are
``events/1979.csv``, ``events/201005.csv``, ``events/20130530.export.csv``, lower case as in the bucket):

- 1979-2005: ``<YYYY>.csv``, one object, one group (57 columns);
- 2006-2012: ``<YYYYMM>.csv``, 12 objects, one group per month (57 columns);
- 2013: ``201301.csv``-``201303.csv`` (groups 0-2), then ``2013MMDD.export.csv`` from April 1 (groups 3-11, one per
  month; 58 columns);
- 2014 on: ``<YYYYMMDD>.export.csv``, one per day, one group per month (58 columns).

A group is at most one calendar month of data, so a year is at most 12 Map items and each item's objects fit
one shard invocation's 15 minutes and 3,008 MB (a month of daily exports is about 30 objects of tens of MB).
The newest year accepted is the latest complete year at the execution's start. The public bucket stopped
being updated in 2019 (its open-data registry entry: "Not currently being updated"); a year whose objects are
missing there fails data preparation with ``SourceDataError`` naming the first missing key, and a mirror
bucket with the same layout can be named with ``sourceBucket``/``sourcePrefix``.
"""

from __future__ import annotations

import calendar
import datetime

FIRST_YEAR = 1979
LAST_YEARLY_FILE = 2005
LAST_MONTHLY_FILE = (2013, 3)  # March 2013; daily exports start on 2013-04-01
GROUPS_PER_YEAR = 12  # the most groups any year has: one per month


def latest_complete_year(start_time: str = "", today: datetime.date | None = None) -> int:
    """The year before the execution's start (``$$.Execution.StartTime``, ISO 8601), or before today."""
    if today is None:
        try:
            today = datetime.datetime.fromisoformat(start_time.replace("Z", "+00:00")).date()
        except ValueError:
            today = datetime.datetime.now(datetime.UTC).date()
    return today.year - 1


def layout(year: int) -> str:
    if year <= LAST_YEARLY_FILE:
        return "yearly"
    if year < LAST_MONTHLY_FILE[0]:
        return "monthly"
    if year == LAST_MONTHLY_FILE[0]:
        return "monthly+daily"
    return "daily"


def group_count(year: int) -> int:
    return 1 if year <= LAST_YEARLY_FILE else GROUPS_PER_YEAR


def group_keys(source_prefix: str, year: int, group: int) -> list[str]:
    """The source keys of one group of one year, in date order."""
    if not 0 <= group < group_count(year):
        raise ValueError(f"year {year} has groups 0-{group_count(year) - 1}, not {group}")
    if year <= LAST_YEARLY_FILE:
        return [f"{source_prefix}{year}.csv"]
    month = group + 1
    if (year, month) <= LAST_MONTHLY_FILE:
        return [f"{source_prefix}{year}{month:02d}.csv"]
    days = calendar.monthrange(year, month)[1]
    return [f"{source_prefix}{year}{month:02d}{day:02d}.export.csv" for day in range(1, days + 1)]


def year_keys(source_prefix: str, year: int) -> list[str]:
    return [key for group in range(group_count(year)) for key in group_keys(source_prefix, year, group)]
