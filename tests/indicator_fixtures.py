"""Shared helpers for the indicator, scoring and watchlist tests.

`HandEstate` is a small fictional estate whose reserves, neighbour lists, known cases and
missing returns are chosen here, so expected values can be worked out by hand in the tests
(from these inputs, never from the pipeline's output). Everything else (council tax receipts,
Data Explorer metrics, county reserves) comes from `pipelines.synthetic` and is read back from
the written source files by the tests themselves.

`Run` wraps one data directory + DuckDB warehouse + Parquet output directory and materialises
the code location's assets through `dagster.materialize`, as a user's run would.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import statistics
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import dagster as dg
import duckdb
import polars as pl
import yaml

from pipelines.definitions import ingest_assets, quarterly_assets
from pipelines.resources import ParquetOutputs, SourceFiles, Warehouse
from pipelines.synthetic import (
    RS_YEARS,
    Council,
    Estate,
    write_capital_returns,
    write_estate,
    write_live_tables,
    write_prudential,
)

REPO = Path(__file__).resolve().parents[1]
SEED = 3

# The quarter most tests look at: partition key, label and as-of date.
Q_KEY = "2019-01-01"
Q_LABEL = "2019Q1"
Q_AS_OF = date(2019, 3, 31)

# ---------------------------------------------------------------------------------------------
# The hand estate
# ---------------------------------------------------------------------------------------------


def _council(prefix: str, number: int, authority_type: str, index: int) -> Council:
    return Council(
        gss_code=f"{prefix}{900000 + number:06d}",
        register_code="QH"
        + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[index // 26]
        + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[index % 26],
        name=f"Handton {index + 1}",
        authority_type=authority_type,
        region="South East",
        population=100_000 + 1_000 * index,
        ecode=f"E8{index:05d}",
    )


DISTRICTS = [_council("E07", n, "NMD", n - 1) for n in range(1, 9)]
COUNTIES = [_council("E10", n, "CTY", 9 + n) for n in range(1, 7)]
D = [c.gss_code for c in DISTRICTS]  # D[0] is "D1", the council worked through by hand
C = [c.gss_code for c in COUNTIES]
# A district in the register with no return of any kind (no reserves, no council tax).
NO_RETURNS = _council("E07", 9, "NMD", 8)

# District reserves (£000), chosen: per council, NRE for 2015-16, 2016-17, 2017-18; unallocated
# and earmarked reserves at 1 April 2015 then at each 31 March 2016, 2017, 2018. A year's start
# balance is the previous year's end. D1 runs its reserves down; the others hold steady.
DISTRICT_RESERVES: dict[str, dict[str, list[float]]] = {
    D[0]: {
        "nre": [10000, 10100, 10200],
        "ua": [1000, 800, 600, 300],
        "em": [2500, 2400, 2000, 1500],
    },
    D[1]: {
        "nre": [12000, 12100, 12200],
        "ua": [1300, 1320, 1350, 1400],
        "em": [3000, 3100, 3150, 3200],
    },
    D[2]: {"nre": [9000, 9100, 9200], "ua": [1000, 980, 1010, 990], "em": [2000, 2050, 2000, 2100]},
    D[3]: {
        "nre": [15000, 15100, 15200],
        "ua": [1500, 1600, 1550, 1700],
        "em": [4000, 3900, 3950, 4100],
    },
    D[4]: {
        "nre": [11000, 11100, 11200],
        "ua": [1200, 1150, 1250, 1300],
        "em": [2600, 2700, 2650, 2800],
    },
    D[5]: {"nre": [8000, 8100, 8200], "ua": [900, 950, 880, 920], "em": [1800, 1850, 1900, 1750]},
    D[6]: {
        "nre": [13000, 13100, 13200],
        "ua": [1400, 1390, 1420, 1380],
        "em": [3500, 3400, 3450, 3600],
    },
    D[7]: {
        "nre": [10500, 10600, 10700],
        "ua": [1100, 1000, 950, 900],
        "em": [2500, 2450, 2400, 2300],
    },
}

# Published nearest-neighbour lists (each includes the council itself, as the Data Explorer's
# do). D1's list leaves out D8, so its neighbour peer group (D2..D7) differs from its council
# type group (D2..D8). D8's list has only two neighbours with data (and the no-returns
# district), so it falls back to its council type.
NEIGHBOURS: dict[str, list[str]] = {
    D[0]: D[:7],
    **{code: list(D) for code in D[1:7]},
    D[7]: [D[7], D[5], D[6], NO_RETURNS.gss_code],
    **{code: list(C) for code in C},
}

# Known cases: a section 114 notice for county C6, an intervention from February 2020 for C5.
SECTION114 = {C[5]: date(2018, 6, 15)}
INTERVENTION = (C[4], "statutory intervention (fictional)", "2020-02 onward", date(2020, 2, 1))


def rs_values(reserves: dict[str, dict[str, list[float]]] = DISTRICT_RESERVES) -> dict:
    """The chosen district reserves in `write_estate`'s override shape."""
    values: dict[str, dict[str, dict[str, float]]] = {}
    for code, r in reserves.items():
        values[code] = {
            year: {
                "nre": r["nre"][y],
                "unallocated_start": r["ua"][y],
                "unallocated_end": r["ua"][y + 1],
                "earmarked_start": r["em"][y],
                "earmarked_end": r["em"][y + 1],
            }
            for y, year in enumerate(RS_YEARS)
        }
    return values


def hand_estate() -> Estate:
    return Estate(councils=[*DISTRICTS, *COUNTIES], distressed=set(), section114=dict(SECTION114))


def append_csv_rows(path: Path, rows: list[list[Any]]) -> None:
    with path.open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


def register_without_returns(data_dir: Path, council: Council) -> None:
    """Put `council` in the register and its lookups only: it has no return in any source."""
    codes = data_dir / "sources" / "mysociety_la_codes"
    with (codes / "uk_local_authorities_current.csv").open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    row = dict.fromkeys(header, "")
    row.update(
        {
            "local-authority-code": council.register_code,
            "official-name": council.official_name,
            "nice-name": council.name,
            "gss-code": council.gss_code,
            "nation": "England",
            "region": council.region,
            "local-authority-type": council.authority_type,
            "local-authority-type-name": "Non-metropolitan district",
            "alt-names": council.name,
            "notes": "fictional council for testing",
            "current-authority": "True",
            "ecode": council.ecode,
            "pop-2020": f"{council.population}.0",
        }
    )
    append_csv_rows(codes / "uk_local_authorities_current.csv", [[row[h] for h in header]])
    append_csv_rows(
        codes / "lookup_gss_to_registry.csv", [[council.gss_code, council.register_code]]
    )
    append_csv_rows(
        codes / "lookup_name_to_registry.csv",
        [[council.name, council.register_code], [council.official_name, council.register_code]],
    )


def write_interventions(data_dir: Path, rows: list[tuple[str, str, str]]) -> None:
    path = data_dir / "sources" / "registers" / "interventions_seen.csv"
    header = [
        "gss_code",
        "authority",
        "intervention",
        "date_or_period",
        "evidence_seen",
        "source",
        "source_quality",
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for code, intervention, period in rows:
            writer.writerow(
                [
                    code,
                    "fictional",
                    intervention,
                    period,
                    "fictional",
                    "https://example.org/i",
                    "fictional",
                ]
            )


AUDIT_HEADER = [
    "council_code",
    "council_name",
    "financial_year",
    "finding_type",
    "opinion",
    "disclaimer_reason",
    "vfm_criterion",
    "recommendation_tier",
    "finding_date",
    "published_date",
    "auditor",
    "summary",
    "source_url",
]


def write_audit_findings(data_dir: Path, rows: list[dict[str, str]]) -> None:
    path = data_dir / "sources" / "registers" / "audit_findings.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(AUDIT_HEADER)
        for row in rows:
            writer.writerow([row.get(h, "") for h in AUDIT_HEADER])


def write_hand_estate(data_dir: Path, reserves: dict | None = None) -> None:
    """The hand estate's source files, in the real formats, under `data_dir`."""
    write_estate(
        data_dir,
        hand_estate(),
        seed=SEED,
        reserves=rs_values(reserves or DISTRICT_RESERVES),
        neighbours=NEIGHBOURS,
    )
    register_without_returns(data_dir, NO_RETURNS)
    write_interventions(data_dir, [INTERVENTION[:3]])
    # The hand estate's expected scores are worked out from reserves, council tax and social
    # care alone: its debt files hold no council, so every debt indicator is "no data".
    no_councils = Estate(councils=[])
    write_live_tables(data_dir / "sources", no_councils)
    write_prudential(data_dir / "sources", no_councils)
    write_capital_returns(data_dir / "sources", no_councils)


# ---------------------------------------------------------------------------------------------
# Running the pipeline
# ---------------------------------------------------------------------------------------------


@dataclass
class Run:
    """A data directory, a DuckDB warehouse and a Parquet output directory."""

    root: Path
    data_dir: Path

    @property
    def database(self) -> Path:
        return self.root / "w.duckdb"

    @property
    def out(self) -> Path:
        return self.root / "out"

    def resources(self) -> dict[str, Any]:
        return {
            "warehouse": Warehouse(database=str(self.database)),
            "source_files": SourceFiles(data_dir=str(self.data_dir)),
            "parquet_outputs": ParquetOutputs(output_dir=str(self.out)),
        }

    def ingest(self, selection: Any = None) -> dg.ExecuteInProcessResult:
        return dg.materialize(ingest_assets, resources=self.resources(), selection=selection)

    def quarter(self, partition_key: str = Q_KEY) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            quarterly_assets, resources=self.resources(), partition_key=partition_key
        )

    def quarters(self, first: str, last: str) -> dg.ExecuteInProcessResult:
        """One single-run backfill of the quarterly assets from `first` to `last` (keys)."""
        return dg.materialize(
            quarterly_assets,
            resources=self.resources(),
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        )

    def copy(self, root: Path, copy_data: bool = False) -> Run:
        """A private copy of the warehouse and outputs (and the data directory if asked)."""
        root.mkdir(parents=True, exist_ok=True)
        data_dir = self.data_dir
        if copy_data:
            data_dir = root / "data"
            shutil.copytree(self.data_dir, data_dir)
        clone = Run(root=root, data_dir=data_dir)
        shutil.copy2(self.database, clone.database)
        wal = self.database.with_name(self.database.name + ".wal")
        if wal.exists():
            shutil.copy2(wal, clone.database.with_name(clone.database.name + ".wal"))
        if self.out.exists():
            shutil.copytree(self.out, clone.out)
        return clone

    # ---- reading (the warehouse is opened read only, after materialize has returned) --------

    def frame(self, sql: str, params: Any = None) -> pl.DataFrame:
        with duckdb.connect(str(self.database), read_only=True) as connection:
            return connection.sql(sql, params=params).pl()

    def execute(self, sql: str, params: Any = None) -> None:
        """Change the warehouse directly (for what-if tests on a private copy)."""
        with duckdb.connect(str(self.database)) as connection:
            connection.execute(sql, params)

    def scores(self, quarter: str = Q_LABEL) -> pl.DataFrame:
        return self.frame("SELECT * FROM scores.indicator_scores WHERE quarter = ?", [quarter])

    def values(self, quarter: str = Q_LABEL) -> pl.DataFrame:
        return self.frame("SELECT * FROM indicators.indicator_values WHERE quarter = ?", [quarter])

    def partition(self, dataset: str, quarter: str = Q_LABEL) -> pl.DataFrame:
        return pl.read_parquet(self.out / dataset / f"quarter={quarter}" / "part-0.parquet")

    def watchlist(self, quarter: str = Q_LABEL) -> pl.DataFrame:
        return self.partition("watchlist", quarter)

    def flags(self, quarter: str = Q_LABEL) -> pl.DataFrame:
        return self.partition("flags", quarter)

    def score_of(self, council: str, quarter: str = Q_LABEL) -> float:
        rows = self.watchlist(quarter).filter(pl.col("council_code") == council)
        assert rows.height == 1, rows
        return float(rows.item(0, "risk_score"))


def hand_run(root: Path, reserves: dict | None = None) -> Run:
    """The hand estate written under `root` and its sources ingested (no quarter yet)."""
    run = Run(root=root, data_dir=root / "data")
    write_hand_estate(run.data_dir, reserves)
    run.ingest()
    return run


def row(frame: pl.DataFrame, **where: Any) -> dict[str, Any]:
    """The single row of `frame` matching every column == value in `where`."""
    chosen = frame
    for column, value in where.items():
        chosen = chosen.filter(pl.col(column) == value)
    assert chosen.height == 1, f"{where}: {chosen.height} rows"
    return chosen.row(0, named=True)


# ---------------------------------------------------------------------------------------------
# Hand calculations (from the chosen inputs and the written source files, never the pipeline)
# ---------------------------------------------------------------------------------------------

CATALOGUE_YAML = REPO / "sql" / "indicators" / "catalogue.yaml"
CT_XLSX = "sources/ct_receipts/CT_Receipts_Live_Table_Q4_2022-23.xlsx"
ASC_CSV = "sources/oflog_asc/ASC_data.csv"
RESERVES_INDICATORS = [
    "unallocated_reserves_pct_nre",
    "earmarked_reserves_pct_nre",
    "unallocated_reserves_change_1y",
    "unallocated_reserves_change_2y",
    "earmarked_reserves_change_1y",
    "earmarked_reserves_change_2y",
    "years_of_reserves_left",
    "usable_reserves_pct_nre",
    "usable_reserves_change_1y_pts_nre",
]


def catalogue_document(path: Path = CATALOGUE_YAML) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def catalogue_entries(path: Path = CATALOGUE_YAML) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in catalogue_document(path)["indicators"]}


def hand_reserves(code: str, y: int, reserves: dict | None = None) -> dict[str, float | None]:
    """The seven reserves indicators of a hand district for RS year index y (2 = 2017-18),
    worked out from the chosen inputs; None where the base year is missing."""
    r = (reserves or DISTRICT_RESERVES)[code]
    ua, em, nre = r["ua"], r["em"], r["nre"]
    usable_end = ua[y + 1] + em[y + 1]
    usable_start = ua[y] + em[y]
    drawn = usable_start - usable_end
    return {
        "unallocated_reserves_pct_nre": 100 * ua[y + 1] / nre[y],
        "earmarked_reserves_pct_nre": 100 * em[y + 1] / nre[y],
        "unallocated_reserves_change_1y": 100 * (ua[y + 1] - ua[y]) / ua[y] if y >= 1 else None,
        "unallocated_reserves_change_2y": (
            100 * (ua[y + 1] - ua[y - 1]) / ua[y - 1] if y >= 2 else None
        ),
        "earmarked_reserves_change_1y": 100 * (em[y + 1] - em[y]) / em[y] if y >= 1 else None,
        "earmarked_reserves_change_2y": (
            100 * (em[y + 1] - em[y - 1]) / em[y - 1] if y >= 2 else None
        ),
        "years_of_reserves_left": min(99.0, usable_end / drawn) if drawn > 0 else 99.0,
        # The hand estate has no schools or public health reserves: total usable reserves
        # are unallocated + earmarked; the year before ended with this year's start balance.
        "usable_reserves_pct_nre": 100 * usable_end / nre[y],
        "usable_reserves_change_1y_pts_nre": (
            100 * (usable_end - usable_start) / nre[y] if y >= 1 else None
        ),
    }


def scored_kinds_applicable(council_type: str) -> int:
    """How many peer and absolute indicators of the catalogue apply to a council type (the
    denominator of coverage)."""
    return sum(
        1
        for entry in catalogue_entries().values()
        if council_type in entry.get("applies_to", []) and entry["method"] in ("peer", "absolute")
    )


def ct_quarters() -> list[tuple[str, date, date]]:
    """(column header, quarter end, public date = end + 80 days) of every workbook quarter."""
    out = []
    for year in range(2010, 2023):
        for label, last_month, offset, q in (
            ("April to June", 6, 0, 1),
            ("July to September", 9, 0, 2),
            ("October to December", 12, 0, 3),
            ("January to March", 3, 1, 4),
        ):
            calendar_year = year + offset
            end = (
                date(calendar_year, 12, 31)
                if last_month == 12
                else date(calendar_year, last_month + 1, 1) - timedelta(days=1)
            )
            out.append((f"{label} {calendar_year} (Q{q})", end, end + timedelta(days=80)))
    return sorted(out, key=lambda item: item[1])


def ct_windows(as_of: date) -> tuple[list[tuple[str, date, date]], list[tuple[str, date, date]]]:
    """The four quarters before the latest four public by `as_of`, and the latest four."""
    public = [q for q in ct_quarters() if q[2] <= as_of]
    return public[-8:-4], public[-4:]


def read_ct_workbook(data_dir: Path) -> pl.DataFrame:
    return pl.read_excel(data_dir / CT_XLSX, sheet_name="Table_5", read_options={"header_row": 5})


def ct_growth(data_dir: Path, as_of: date) -> dict[str, float]:
    """Council tax receipts growth (%) per council in the workbook at `as_of`."""
    previous_four, last_four = ct_windows(as_of)
    growth = {}
    for cells in read_ct_workbook(data_dir).iter_rows(named=True):
        code = cells["ONS Code"]
        if not code.startswith(("E06", "E07", "E08", "E09")):
            continue
        last = sum(cells[h] for h, _, _ in last_four)
        before = sum(cells[h] for h, _, _ in previous_four)
        growth[code] = 100 * (last - before) / before
    return growth


def read_asc(data_dir: Path, metric: str) -> dict[tuple[str, str], float]:
    """{(council, financial year): value} of one Data Explorer metric, from the CSV."""
    with (data_dir / ASC_CSV).open(newline="", encoding="utf-8") as handle:
        return {
            (r["Local authority code"], r["Financial year"]): float(r["Value"])
            for r in csv.DictReader(handle)
            if r["Code"] == metric
        }


PEER_SCALE_FLOOR = 0.5  # settings.scoring.peer_scale_floor_share_of_sd


def hand_scale(peers: list[float]) -> float | None:
    """1.4826 x MAD, never below half the peers' standard deviation; the standard deviation
    alone when the MAD is 0; None when that is 0 too."""
    median = statistics.median(peers)
    mad = statistics.median([abs(p - median) for p in peers])
    sd = statistics.stdev(peers) if len(peers) > 1 else 0.0
    if mad > 0:
        return max(1.4826 * mad, PEER_SCALE_FLOOR * sd)
    return sd or None


BELOW_LINE_REACH = 1.0  # settings.scoring.below_line_reach_thresholds


def hand_severity(distance_past: float, threshold: float, reach: float = 0.0) -> float:
    """0.5 at the threshold, 1 at twice its distance, falling to 0 below the line: at
    `reach` + 1 thresholds' distance on the good side of it (a peer value `reach` thresholds
    better than its peers' median; an absolute value twice the threshold's size, reach 0)."""
    size = abs(threshold)
    if distance_past >= 0:
        return min(1.0, 0.5 + 0.5 * distance_past / size)
    return max(0.0, 0.5 * (distance_past + (1 + reach) * size) / ((1 + reach) * size))


def judge_peer(
    value: float,
    peers: list[float],
    polarity: str,
    threshold: float,
    weight: float,
    type_peers: list[float] | None = None,
    national: list[float] | None = None,
    min_peers: int = 5,
) -> dict[str, Any]:
    """The catalogue's peer method, by hand: robust z against the peer median in scale units;
    with `type_peers` (all other councils of the type), the worse of the two comparisons
    counts and `use_type` says it was the type's. With `national` (every other council with a
    value, any type) the severity is at least the share of them the value is worse than."""
    worse = 1.0 if polarity == "higher_is_worse" else -1.0
    national_percentile = None
    if national is not None and len(national) >= min_peers:
        worse_than = sum(1 for p in national if (value - p) * worse > 0)
        ties = sum(1 for p in national if p == value)
        national_percentile = 100 * (worse_than + 0.5 * ties) / len(national)

    def compare(group: list[float]) -> dict[str, Any]:
        median = statistics.median(group)
        z = (value - median) * worse / hand_scale(group)
        worse_than = sum(1 for p in group if (value - p) * worse > 0)
        ties = sum(1 for p in group if p == value)
        return {
            "peer_group_size": len(group),
            "peer_median": median,
            "robust_z": z,
            "percentile": 100 * (worse_than + 0.5 * ties) / len(group),
        }

    chosen = compare(peers)
    use_type = False
    if type_peers is not None and len(type_peers) >= 5:
        by_type = compare(type_peers)
        if by_type["robust_z"] > chosen["robust_z"] + 1e-9:
            chosen, use_type = by_type, True
    z = chosen["robust_z"]
    severity = hand_severity(z - threshold, threshold, BELOW_LINE_REACH)
    if national_percentile is not None:
        severity = max(severity, national_percentile / 100)
    return {
        **chosen,
        **({"national_percentile": national_percentile} if national is not None else {}),
        "use_type": use_type,
        "flagged": z >= threshold,
        "severity": severity,
        "contribution": weight * severity,
    }


def scored_values(scores: pl.DataFrame, indicator: str) -> dict[str, float]:
    """Every council's scored value of `indicator` in `scores` (one quarter), whatever its
    type: the group a peer value's national percentile is read against."""
    scored = scores.filter((pl.col("indicator_id") == indicator) & (pl.col("state") == "scored"))
    return dict(zip(scored["council_code"].to_list(), scored["value"].to_list(), strict=True))


def judge_absolute(value: float, polarity: str, threshold: float, weight: float) -> dict[str, Any]:
    worse = 1.0 if polarity == "higher_is_worse" else -1.0
    flagged = (value - threshold) * worse >= 0
    severity = hand_severity((value - threshold) * worse, threshold)
    return {"flagged": flagged, "severity": severity, "contribution": weight * severity}


def expected_band(score: float, n_flags: int, coverage: float, document: dict) -> str:
    settings = document["settings"]
    if n_flags == 0 and coverage < settings["insufficient_data_below_coverage"]:
        return "insufficient data"
    if n_flags == 0:  # below-the-line contributions rank a council but never band it
        return "no flags"
    for band in sorted(settings["bands"], key=lambda b: -b["min_score"]):
        if score >= band["min_score"]:
            return band["band"]
    raise AssertionError(f"no band for score {score}")


def assert_watchlist_explained(
    watchlist: pl.DataFrame, flags: pl.DataFrame, document: dict | None = None
) -> int:
    """Every watchlist row's score, baseline, flag count, coverage and band follow from its
    rows in the flags table (and the catalogue's settings). Frames may hold several quarters
    (a `quarter` column) or one partition file. Returns the rows checked."""
    document = document or catalogue_document()
    baseline_ids = [e["id"] for e in document["indicators"] if e.get("baseline")]
    keys = ["quarter", "council_code"] if "quarter" in watchlist.columns else ["council_code"]
    judged = pl.col("method").is_in(["peer", "absolute"])
    per_council = flags.group_by(keys).agg(
        pl.col("contribution").sum().alias("sum_contributions"),
        pl.col("contribution")
        .filter(pl.col("indicator_id").is_in(baseline_ids))
        .sum()
        .alias("sum_baseline"),
        pl.col("flagged").sum().alias("flag_rows"),
        judged.sum().alias("judged_rows"),
        (judged & (pl.col("state") == "scored")).sum().alias("scored_rows"),
        (pl.col("flagged") & (pl.col("contribution") <= 0)).sum().alias("flagged_without"),
        # Below the flag line a value still counts, weight x severity, with severity under the
        # 0.5 a flag starts at (peer, absolute) or under the threshold strength (event).
        (
            ~pl.col("flagged")
            & (
                ((pl.col("contribution") - pl.col("weight") * pl.col("severity")).abs() > 1e-9)
                # Unflagged: below 0.5, unless a peer value's national percentile lifts it.
                | (
                    judged
                    & (pl.col("severity") >= 0.5)
                    & (
                        (pl.col("method") != "peer")
                        | ((pl.col("severity") - pl.col("national_percentile") / 100).abs() > 1e-9)
                    ).fill_null(True)
                )
                | ((pl.col("method") == "event") & (pl.col("severity") >= pl.col("threshold")))
                | ((pl.col("method") == "context") & (pl.col("contribution") != 0))
            )
        )
        .sum()
        .alias("unflagged_with"),
    )
    joined = watchlist.join(per_council, on=keys, how="full", coalesce=True)
    assert joined.height == watchlist.height == per_council.height, "councils differ"
    for w in joined.iter_rows(named=True):
        where = [w[k] for k in keys]
        assert math.isclose(w["risk_score"], w["sum_contributions"], abs_tol=1e-9), (where, w)
        assert math.isclose(w["baseline_score"], w["sum_baseline"], abs_tol=1e-9), (where, w)
        assert w["n_flags"] == w["flag_rows"], where
        assert w["flagged_without"] == 0 and w["unflagged_with"] == 0, where
        assert w["n_indicators_applicable"] == w["judged_rows"], where
        assert w["n_indicators_scored"] == w["scored_rows"], where
        coverage = w["scored_rows"] / w["judged_rows"] if w["judged_rows"] else 0.0
        assert math.isclose(w["coverage"], coverage, abs_tol=1e-12), where
        band = expected_band(w["risk_score"], w["n_flags"], coverage, document)
        assert w["risk_band"] == band, (where, w)
    return watchlist.height


def xlsx_rows(path: Path, sheet: str) -> dict[int, dict[int, str | float]]:
    """{spreadsheet row: {column number from 1: value}} of one sheet, read straight from the
    workbook's XML (zipfile + ElementTree), independently of the pipeline's reader."""
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel_ns = "{http://schemas.openxmlformats.org/package/2006/relationships}"
    rel_id = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    with zipfile.ZipFile(path) as archive:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): r.get("Target") for r in rels.iter(f"{rel_ns}Relationship")}
        wanted = next(s for s in workbook.iter(f"{main}sheet") if s.get("name") == sheet)
        target = str(targets[wanted.get(rel_id)]).lstrip("/")
        target = target if target.startswith("xl/") else f"xl/{target}"
        shared: list[str] = []
        if "xl/sharedStrings.xml" in archive.namelist():
            strings = ElementTree.fromstring(archive.read("xl/sharedStrings.xml"))
            shared = ["".join(t.text or "" for t in si.iter(f"{main}t")) for si in strings]
        root = ElementTree.fromstring(archive.read(target))
    rows: dict[int, dict[int, str | float]] = {}
    for cell in root.iter(f"{main}c"):
        reference = str(cell.get("r"))
        letters = re.sub(r"\d", "", reference)
        column = 0
        for char in letters:
            column = column * 26 + ord(char) - 64
        number = int(reference[len(letters) :])
        kind, value = cell.get("t"), cell.find(f"{main}v")
        if kind == "inlineStr":
            content: str | float = "".join(t.text or "" for t in cell.iter(f"{main}t"))
        elif value is None or value.text is None:
            continue
        elif kind == "s":
            content = shared[int(value.text)]
        elif kind in ("str", "e", "b"):
            content = value.text
        else:
            content = float(value.text)
        rows.setdefault(number, {})[column] = content
    return rows


def with_national_percentile(flags: pl.DataFrame, document: dict) -> pl.DataFrame:
    """`flags` with `expected_national_percentile` worked out from the flags themselves: per
    as-of date and indicator, among every council with a usable value (scored, or judged but
    with too few peers or no spread), the share of the others each is worse than, ties half;
    none with fewer others than the indicator's min_peers."""
    min_peers = {e["id"]: e.get("min_peers", 5) for e in document["indicators"]}
    usable = flags.filter(
        pl.col("method").is_in(["peer", "context"])
        & pl.col("state").is_in(["scored", "too few peers", "no spread among peers"])
        & pl.col("value").is_not_null()
    )
    group = ["as_of_date", "indicator_id"]
    ranked = usable.select(
        "as_of_date",
        "council_code",
        "indicator_id",
        (pl.len().over(group) - 1).alias("others"),
        (pl.col("value").rank("min").over(group) - 1).alias("below"),
        (pl.col("value").rank("min", descending=True).over(group) - 1).alias("above"),
        pl.col("polarity"),
    ).with_columns(
        pl.when(pl.col("others") >= pl.col("indicator_id").replace_strict(min_peers))
        .then(
            100.0
            * (
                pl.when(pl.col("polarity") == "higher_is_worse")
                .then(pl.col("below"))
                .otherwise(pl.col("above"))
                + 0.5 * (pl.col("others") - pl.col("below") - pl.col("above"))
            )
            / pl.col("others")
        )
        .alias("expected_national_percentile")
    )
    return flags.join(
        ranked.select(*group, "council_code", "expected_national_percentile"),
        on=[*group, "council_code"],
        how="left",
    )


def assert_flags_follow_their_method(flags: pl.DataFrame, document: dict | None = None) -> int:
    """Every scored row of the flags table is judged as its catalogue method says: peer rows by
    robust z against the threshold (with enough peers), absolute rows by the value against the
    threshold, event rows by their strength; severity and contribution by the documented
    formulas. Returns the scored rows checked."""
    document = document or catalogue_document()
    entries = {e["id"]: e for e in document["indicators"]}
    # Fitted weights (settings.scoring.weights: fitted) replace the catalogue's where enough
    # failures had been observed to fit them; the row then carries its fitted weight.
    fitted = (document["settings"].get("scoring") or {}).get("weights") == "fitted"
    problems = []
    scored = with_national_percentile(flags, document).filter(pl.col("state") == "scored")
    for r in scored.iter_rows(named=True):
        entry = entries[r["indicator_id"]]
        threshold, weight = float(entry.get("threshold", 0)), float(entry.get("weight", 0))
        if fitted and entry["method"] != "context":
            assert r["weight"] >= 0, r
            weight = r["weight"]
        sign = 1.0 if entry.get("polarity", "higher_is_worse") == "higher_is_worse" else -1.0
        assert r["value"] is not None and math.isfinite(r["value"]), r
        if entry["method"] in ("peer", "context"):
            assert r["peer_group_size"] >= entry.get("min_peers", 5), r
            assert r["robust_z"] is not None and math.isfinite(r["robust_z"]), r
            assert 0 <= r["percentile"] <= 100, r
        # Severity is continuous: it counts below the flag line too (0.5 at a peer or absolute
        # threshold, down to 0), so flagged and unflagged rows both contribute weight x it.
        if entry["method"] in ("peer", "context"):
            national = r["expected_national_percentile"]
            if national is None or r["national_percentile"] is None:
                assert national is None and r["national_percentile"] is None, r
            else:
                assert math.isclose(r["national_percentile"], national, abs_tol=1e-9), r
        if entry["method"] == "peer":
            flagged = r["robust_z"] >= threshold
            severity = hand_severity(r["robust_z"] - threshold, threshold, BELOW_LINE_REACH)
            # Never below the share of all other councils with data the value is worse than.
            severity = max(severity, (r["expected_national_percentile"] or 0.0) / 100)
        elif entry["method"] == "absolute":
            flagged = (r["value"] - threshold) * sign >= 0
            if threshold:
                severity = hand_severity((r["value"] - threshold) * sign, threshold)
            else:
                severity = 1.0 if flagged else 0.0
        elif entry["method"] == "event":
            flagged = r["value"] >= threshold
            severity = max(0.0, min(1.0, r["value"]))
        else:
            flagged, severity = False, 0.0
        expected = (flagged, severity, weight * severity)
        got = (r["flagged"], r["severity"], r["contribution"])
        if got[0] != expected[0] or not all(
            math.isclose(a, b, abs_tol=1e-9) for a, b in zip(got[1:], expected[1:], strict=True)
        ):
            problems.append((r["council_code"], r["indicator_id"], got, expected))
    assert not problems, problems[:10]
    unscored = flags.filter(pl.col("state") != "scored")
    assert not unscored.get_column("flagged").any()
    assert (unscored.get_column("contribution") == 0).all()
    return scored.height
