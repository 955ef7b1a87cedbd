"""The pipeline's indicators and scoring for one quarter, written straightforwardly in pandas.

    python -m benchmarks.pandas_baseline --data-dir DIR --quarter 2019-01-01 [--out scores.parquet]

A baseline for the benchmarks: the same computation a capable analyst would write in a notebook,
from the same source files, with the same catalogue (sql/indicators/catalogue.yaml), for one
quarter's as-of date:

- reads the council register, the nearest-neighbour lists, the three Revenue Outturn workbooks,
  the council tax receipts workbook and the Data Explorer long CSV (pandas.read_csv with
  `usecols` and categorical dtypes; the workbooks through fastexcel, as pandas has no xlsx
  engine installed here);
- keeps what was public by the as-of date (the catalogue's publication lags) and computes the
  reserves indicators (% of net revenue expenditure, 1 and 2 year change, years left), council
  tax receipts growth and the adult social care metrics;
- judges each value against its peers as METHOD.md says: nearest neighbours with the council
  left out (median, MAD, standard deviation, percentile via a merge and a groupby), council type
  with the council left out (a leave-one-out loop per group with numpy), robust z, flags,
  severity, contribution; then the risk score, band, known cases and rank per council.

It does not compute the indicators of the council-year finance series (total usable reserves
from the finance compilation, the Revenue Outturn and its 2010-15 editions; and debt from the
Borrowing and Investment live tables and the capital outturn: `OUTSIDE_BASELINE`): reading
those formats again in pandas would double the baseline. They are reported "no data" here, and
benchmarks/compare.py compares every other evaluation, and each council's score summed over
those same indicators.

What it leaves out, being a baseline rather than the pipeline: the raw layer and its lineage,
validation and the quarantine (beyond parsing numbers and the metric ranges), point-in-time
rebuilds of many quarters, audit and peer-challenge events (the fictional estates' registers
are empty, so they score 0 in the pipeline too) and the Parquet outputs. It assumes the
fictional estate's tidy codes (no former or renamed councils).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
COUNCIL_TYPES = {
    "CTY": "county",
    "NMD": "district",
    "UA": "unitary",
    "MD": "metropolitan district",
    "LBO": "london borough",
    "CC": "london borough",
}
RS_FILES = {
    "2015-16": ("RS_2015-16_data_by_LA_-_Revision.xlsx", "RS LA Data 2015-16"),
    "2016-17": ("RS_2016-17_data_by_LA.xlsx", "RS LA Data 2016-17"),
    "2017-18": ("RS_2017-18_data_by_LA_PRENOV.xlsx", "RS LA Data 2017-18"),
}
MONTHS = {"April to June": 4, "July to September": 7, "October to December": 10}
# The council-year finance series' indicators (sql/indicators/finance_years.sql, reserves.sql,
# debt.sql, debt_live_table.sql), which this baseline does not compute.
OUTSIDE_BASELINE = frozenset(
    {
        "usable_reserves_pct_nre",
        "usable_reserves_change_1y_pts_nre",
        "external_borrowing_pct_nre",
        "external_borrowing_pct_csp",
        "cfr_pct_nre",
        "borrowing_growth_1y_pts_nre",
        "borrowing_growth_3y_pts_nre",
        "debt_servicing_pct_nre",
        "short_term_borrowing_share",
        "investments_to_borrowing",
        "borrowing_from_other_councils_share",
    }
)


def as_of(partition_key: str) -> date:
    start = date.fromisoformat(partition_key)
    month = start.month + 3
    return date(start.year + (month > 12), (month - 1) % 12 + 1, 1) - timedelta(days=1)


def read_catalogue() -> tuple[pd.DataFrame, dict]:
    document = yaml.safe_load((REPO / "sql" / "indicators" / "catalogue.yaml").read_text())
    catalogue = pd.DataFrame(document["indicators"])
    catalogue["polarity"] = catalogue["polarity"].fillna("higher_is_worse")
    catalogue["peer_basis"] = catalogue["peer_basis"].fillna("council_type")
    catalogue["threshold"] = catalogue["threshold"].fillna(0).astype(float)
    catalogue["weight"] = catalogue["weight"].fillna(0).astype(float)
    catalogue["min_peers"] = catalogue["min_peers"].fillna(5).astype(int)
    catalogue["max_age_days"] = catalogue["max_age_days"].fillna(1100).astype(int)
    catalogue["baseline"] = catalogue["baseline"].eq(True)
    return catalogue, document["settings"]


def read_sources(data_dir: Path) -> dict[str, pd.DataFrame]:
    import fastexcel

    sources = data_dir / "sources"
    register = pd.read_csv(
        sources / "mysociety_la_codes" / "uk_local_authorities_current.csv", dtype=str
    )
    register = register[
        (register["nation"] == "England")
        & register["gss-code"].str.match(r"^E(06|07|08|09|10)\d{6}$", na=False)
        & register["local-authority-type"].isin(list(COUNCIL_TYPES))
    ]
    register = pd.DataFrame(
        {
            "council_code": register["gss-code"],
            "council_name": register["nice-name"],
            "council_type": register["local-authority-type"].map(COUNCIL_TYPES),
            "start_date": pd.to_datetime(register["start-date"]),
            "end_date": pd.to_datetime(register["end-date"]),
        }
    )
    neighbours = json.loads((sources / "oflog_asc" / "NN.json").read_text())
    pairs = pd.DataFrame(
        [(code, n.strip().upper()) for code, listed in neighbours.items() for n in listed],
        columns=["council_code", "neighbour_code"],
    )
    frames = []
    for period, (name, sheet) in RS_FILES.items():
        workbook = fastexcel.read_excel(sources / "bbc_council_reserves" / name)
        table = workbook.load_sheet(sheet, header_row=6, dtypes="string").to_pandas()
        table.columns = [str(c).strip().lower() for c in table.columns]
        table = table[table["e-code"].notna().cumprod().astype(bool)]  # ends at the first blank
        table = table[table["class"].isin(["L", "MD", "UA", "SC", "SD"])]

        def column(text: str, table: pd.DataFrame = table) -> pd.Series:
            match = [c for c in table.columns if c.removeprefix("estimated ") == text]
            return pd.to_numeric(table[match[0]], errors="coerce")

        frames.append(
            pd.DataFrame(
                {
                    "council_code": table["ons code"].str.strip().str.upper(),
                    "period": period,
                    "year_start": int(period[:4]),
                    "nre": column("net revenue expenditure"),
                    "unallocated_start": column("unallocated financial reserves level at 1 april"),
                    "unallocated": column("unallocated financial reserves level at 31 march"),
                    "earmarked_start": column(
                        "other earmarked financial reserves level at 1 april"
                    ),
                    "earmarked": column("other earmarked financial reserves level at 31 march"),
                }
            )
        )
    outturn = pd.concat(frames, ignore_index=True)
    outturn["period_end"] = pd.to_datetime((outturn["year_start"] + 1).astype(str) + "-03-31")
    outturn["published"] = outturn["period_end"] + pd.Timedelta(days=230)

    workbook = fastexcel.read_excel(
        sources / "ct_receipts" / "CT_Receipts_Live_Table_Q4_2022-23.xlsx"
    )
    wide = workbook.load_sheet("Table_5", header_row=5).to_pandas()
    wide = wide[wide["Class"].isin(["L", "MD", "UA", "SC", "SD"])]
    long = wide.melt(
        id_vars=["ONS Code"],
        value_vars=[c for c in wide.columns if "(Q" in str(c)],
        var_name="label",
        value_name="receipts",
    )
    parts = long["label"].str.extract(r"^(.*) (\d{4}) \(Q([1-4])\)$")
    month = parts[0].map(MONTHS).fillna(1).astype(int)
    long["quarter_start"] = pd.to_datetime(dict(year=parts[1].astype(int), month=month, day=1))
    long["quarter_end"] = long["quarter_start"] + pd.DateOffset(months=3) - pd.Timedelta(days=1)
    long["published"] = long["quarter_end"] + pd.Timedelta(days=80)
    long["receipts"] = pd.to_numeric(long["receipts"], errors="coerce")
    receipts = long.rename(columns={"ONS Code": "council_code"})[
        ["council_code", "quarter_start", "quarter_end", "published", "receipts"]
    ]

    explorer = pd.read_csv(
        sources / "oflog_asc" / "ASC_data.csv",
        usecols=["Financial year", "Local authority code", "Code", "Value"],
        dtype={
            "Financial year": "category",
            "Local authority code": "category",
            "Code": "category",
        },
    )
    explorer.columns = ["financial_year", "council_code", "metric_id", "value"]
    explorer["value"] = pd.to_numeric(explorer["value"], errors="coerce")
    return {
        "register": register,
        "pairs": pairs,
        "outturn": outturn,
        "receipts": receipts,
        "explorer": explorer,
    }


def indicator_values(sources: dict[str, pd.DataFrame], catalogue, when: pd.Timestamp):
    """One row per council and indicator with a value (or the reason there is none)."""
    out = []
    # Reserves: the latest year public by the as-of date against the one and two before.
    outturn = sources["outturn"][sources["outturn"]["published"] <= when]
    newest = outturn.groupby("council_code")["year_start"].transform("max")
    latest = outturn[outturn["year_start"] == newest]
    previous = outturn.assign(year_start=outturn["year_start"] + 1)
    before = outturn.assign(year_start=outturn["year_start"] + 2)
    cur = latest.merge(
        previous[["council_code", "year_start", "unallocated", "earmarked", "nre"]],
        on=["council_code", "year_start"],
        how="left",
        suffixes=("", "_1y"),
    ).merge(
        before[["council_code", "year_start", "unallocated", "earmarked"]],
        on=["council_code", "year_start"],
        how="left",
        suffixes=("", "_2y"),
    )
    nre = cur["nre"].where(cur["nre"] != 0)

    def add(indicator, value, ok, previous_value=np.nan):
        frame = pd.DataFrame(
            {
                "council_code": cur["council_code"],
                "indicator_id": indicator,
                "value": np.where(ok, value, np.nan),
                "previous_value": previous_value,
                "value_state": np.where(ok, "reported", "not computable (missing or zero base)"),
                "period_end": cur["period_end"],
            }
        )
        out.append(frame)

    add(
        "unallocated_reserves_pct_nre",
        100 * cur["unallocated"] / nre,
        cur["unallocated"].notna() & (cur["nre"] > 0),
        100 * cur["unallocated_1y"] / cur["nre_1y"].where(cur["nre_1y"] != 0),
    )
    add(
        "earmarked_reserves_pct_nre",
        100 * cur["earmarked"] / nre,
        cur["earmarked"].notna() & (cur["nre"] > 0),
        100 * cur["earmarked_1y"] / cur["nre_1y"].where(cur["nre_1y"] != 0),
    )
    for kind in ("unallocated", "earmarked"):
        for years in ("1y", "2y"):
            base = cur[f"{kind}_{years}"]
            add(
                f"{kind}_reserves_change_{years}",
                100 * (cur[kind] - base) / base.where(base != 0),
                cur[kind].notna() & (base > 0),
            )
    usable = cur["unallocated"].fillna(0) + cur["earmarked"].fillna(0)
    usable_start = cur["unallocated_start"].fillna(0) + cur["earmarked_start"].fillna(0)
    drawn = usable_start - usable
    add(
        "years_of_reserves_left",
        np.where(drawn > 0, np.minimum(99, usable / drawn.where(drawn > 0)), 99),
        cur[["unallocated", "earmarked", "unallocated_start", "earmarked_start"]]
        .notna()
        .all(axis=1),
    )

    # Council tax receipts: the latest four quarters public by then against the four before.
    receipts = sources["receipts"][sources["receipts"]["published"] <= when].copy()
    receipts["recency"] = receipts.groupby("council_code")["quarter_start"].rank(
        ascending=False, method="first"
    )
    receipts = receipts[receipts["recency"] <= 8]
    windows = receipts.groupby("council_code").agg(
        last_four=("receipts", lambda s: s[receipts.loc[s.index, "recency"] <= 4].sum()),
        previous_four=("receipts", lambda s: s[receipts.loc[s.index, "recency"] > 4].sum()),
        with_figures=("receipts", "count"),
        period_end=("quarter_end", "max"),
    )
    ok = (windows["with_figures"] == 8) & (windows["previous_four"] > 0)
    out.append(
        pd.DataFrame(
            {
                "council_code": windows.index,
                "indicator_id": "council_tax_receipts_growth",
                "value": np.where(
                    ok,
                    100
                    * (windows["last_four"] - windows["previous_four"])
                    / windows["previous_four"].where(windows["previous_four"] > 0),
                    np.nan,
                ),
                "previous_value": np.nan,
                "value_state": np.where(
                    ok, "reported", "not computable (fewer than eight quarters)"
                ),
                "period_end": windows["period_end"].values,
            }
        )
    )

    # Data Explorer metrics named in the catalogue: the latest year public by then.
    wanted = catalogue.dropna(subset=["metric_id"])[["id", "metric_id"]]
    ranges = yaml.safe_load((REPO / "pipelines" / "metrics.yaml").read_text())["metrics"]
    explorer = sources["explorer"]
    explorer = explorer[explorer["metric_id"].isin(wanted["metric_id"])].copy()
    explorer["metric_id"] = explorer["metric_id"].astype(str)
    explorer["council_code"] = explorer["council_code"].astype(str)
    year = explorer["financial_year"].astype(str).str[:4].astype(int)
    explorer["year_start"] = year
    explorer["period_end"] = pd.to_datetime((year + 1).astype(str) + "-03-31")
    low = explorer["metric_id"].map(lambda m: ranges.get(m, {}).get("min", -np.inf))
    high = explorer["metric_id"].map(lambda m: ranges.get(m, {}).get("max", np.inf))
    in_range = explorer["value"].isna() | explorer["value"].between(low, high)
    explorer = explorer[in_range & (explorer["period_end"] + pd.Timedelta(days=240) <= when)]
    explorer = explorer.merge(wanted, on="metric_id").rename(columns={"id": "indicator_id"})
    latest = explorer.groupby(["indicator_id", "council_code"])["year_start"].transform("max")
    current = explorer[explorer["year_start"] == latest]
    prior = explorer.assign(year_start=explorer["year_start"] + 1)[
        ["indicator_id", "council_code", "year_start", "value"]
    ]
    current = current.merge(
        prior, on=["indicator_id", "council_code", "year_start"], how="left", suffixes=("", "_1y")
    )
    out.append(
        pd.DataFrame(
            {
                "council_code": current["council_code"],
                "indicator_id": current["indicator_id"],
                "value": current["value"],
                "previous_value": current["value_1y"],
                "value_state": np.where(current["value"].notna(), "reported", "not reported"),
                "period_end": current["period_end"],
            }
        )
    )
    return pd.concat(out, ignore_index=True)


def _loo_type_stats(group: pd.DataFrame) -> pd.DataFrame:
    """Each council against every other council of its type (leave one out), with numpy."""
    values = group["value"].to_numpy()
    sign = group["worse_sign"].to_numpy()
    rows = []
    for i in range(len(values)):
        others = np.delete(values, i)
        median = np.median(others)
        worse = np.sum((values[i] - others) * sign[i] > 0)
        level = np.sum(values[i] == others)
        rows.append(
            (
                len(others),
                median,
                np.median(np.abs(others - median)),
                np.std(others, ddof=1) if len(others) > 1 else np.nan,
                100.0 * (worse + 0.5 * level) / len(others),
            )
        )
    return pd.DataFrame(
        rows,
        index=group.index,
        columns=["size", "median", "mad", "sd", "percentile"],
    )


def score(sources, catalogue, settings, partition_key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    when = pd.Timestamp(as_of(partition_key))
    register = sources["register"]
    universe = register[
        (register["start_date"].isna() | (register["start_date"] <= when))
        & (register["end_date"].isna() | (register["end_date"] >= when))
    ]
    judged_here = catalogue[catalogue["method"].isin(["peer", "absolute", "context"])]
    applicable = universe.merge(judged_here, how="cross")
    applicable = applicable[
        [t in a for t, a in zip(applicable["council_type"], applicable["applies_to"], strict=True)]
    ].rename(columns={"id": "indicator_id"})
    values = indicator_values(sources, catalogue, when)
    frame = applicable.merge(values, on=["council_code", "indicator_id"], how="left")
    frame["worse_sign"] = np.where(frame["polarity"] == "higher_is_worse", 1.0, -1.0)
    age = (when - frame["period_end"]).dt.days
    frame["state"] = np.select(
        [frame["value_state"].isna(), frame["value"].isna(), age > frame["max_age_days"]],
        ["no data", frame["value_state"], "stale"],
        "usable",
    )
    usable = frame[(frame["state"] == "usable") & frame["method"].isin(["peer", "context"])]

    # Nearest neighbours, the council itself left out.
    pairs = sources["pairs"]
    pairs = pairs[
        (pairs["council_code"] != pairs["neighbour_code"])
        & pairs["neighbour_code"].isin(universe["council_code"])
    ].drop_duplicates()
    own = usable[["council_code", "indicator_id", "value", "worse_sign"]]
    peers = own.merge(pairs, on="council_code").merge(
        own[["council_code", "indicator_id", "value"]].rename(
            columns={"council_code": "neighbour_code", "value": "peer_value"}
        ),
        on=["neighbour_code", "indicator_id"],
    )
    peers["worse"] = (peers["value"] - peers["peer_value"]) * peers["worse_sign"] > 0
    peers["level"] = peers["value"] == peers["peer_value"]
    grouped = peers.groupby(["council_code", "indicator_id"])
    nn = grouped.agg(
        nn_size=("peer_value", "count"),
        nn_median=("peer_value", "median"),
        nn_sd=("peer_value", "std"),
        worse=("worse", "sum"),
        level=("level", "sum"),
    )
    nn["nn_mad"] = grouped["peer_value"].apply(lambda s: np.median(np.abs(s - np.median(s))))
    nn["nn_percentile"] = 100.0 * (nn["worse"] + 0.5 * nn["level"]) / nn["nn_size"]
    nn = nn.reset_index()

    # Council type, the council itself left out: the basis, the fallback, or (settings.scoring.
    # compare_with_council_type) the second comparison of every nearest-neighbour value.
    scoring = settings.get("scoring") or {}
    floor = float(scoring.get("peer_scale_floor_share_of_sd", 0.5))
    with_type = bool(scoring.get("compare_with_council_type", True))
    below_line = bool(scoring.get("severity_below_threshold", True))
    reach = float(scoring.get("below_line_reach_thresholds", 1.0))
    national_floor = bool(scoring.get("severity_at_least_national_percentile", True))
    frame = frame.merge(nn, on=["council_code", "indicator_id"], how="left")
    # Every other council with a usable value, any type: the share it is worse than.
    national = usable[["council_code", "indicator_id", "value", "worse_sign"]].copy()
    by_indicator = national.groupby("indicator_id")["value"]
    others = by_indicator.transform("count") - 1
    below = by_indicator.rank(method="min") - 1
    above = by_indicator.rank(method="min", ascending=False) - 1
    worse = np.where(national["worse_sign"] > 0, below, above)
    with np.errstate(invalid="ignore", divide="ignore"):
        national["national_percentile"] = np.where(
            others > 0, 100.0 * (worse + 0.5 * (others - below - above)) / others, np.nan
        )
    national["national_size"] = others
    frame = frame.merge(
        national[["council_code", "indicator_id", "national_percentile", "national_size"]],
        on=["council_code", "indicator_id"],
        how="left",
    )
    needs_type = frame[
        (frame["state"] == "usable")
        & frame["method"].isin(["peer", "context"])
        & (
            with_type
            | (frame["peer_basis"] == "council_type")
            | ~(frame["nn_size"].fillna(0) >= frame["min_peers"])
        )
    ][["indicator_id", "council_type"]].drop_duplicates()
    groups = usable.merge(needs_type, on=["indicator_id", "council_type"])
    if len(groups):
        loo = groups.groupby(["indicator_id", "council_type"], group_keys=False)[
            ["value", "worse_sign"]
        ].apply(_loo_type_stats)
        typed = groups[["council_code", "indicator_id"]].join(loo)
        typed = typed[typed["size"] > 0].add_prefix("type_")
        typed = typed.rename(
            columns={"type_council_code": "council_code", "type_indicator_id": "indicator_id"}
        )
        frame = frame.merge(typed, on=["council_code", "indicator_id"], how="left")
    else:
        for c in ("size", "median", "mad", "sd", "percentile"):
            frame[f"type_{c}"] = np.nan

    def scale_of(mad: pd.Series, sd: pd.Series) -> np.ndarray:
        # 1.4826 x MAD, never below `floor` x SD; the SD alone when the MAD is 0.
        return np.where(
            mad > 0,
            np.maximum(1.4826 * mad, floor * sd.fillna(0)),
            np.where(sd > 0, sd, np.nan),
        )

    judged = frame["method"].isin(["peer", "context"]) & (frame["state"] == "usable")
    nn_ok = (frame["peer_basis"] == "nearest_neighbours") & (frame["nn_size"] >= frame["min_peers"])
    type_ok = frame["type_size"] >= frame["min_peers"]
    nn_z = (
        (frame["value"] - frame["nn_median"])
        * frame["worse_sign"]
        / scale_of(frame["nn_mad"], frame["nn_sd"])
    )
    type_z = (
        (frame["value"] - frame["type_median"])
        * frame["worse_sign"]
        / scale_of(frame["type_mad"], frame["type_sd"])
    )
    type_worse = with_type & type_ok & type_z.notna() & (nn_z.isna() | (type_z > nn_z + 1e-9))
    use_type = np.where(nn_ok, type_worse, type_ok)
    use_nn = nn_ok & ~use_type
    frame["peer_basis_used"] = np.where(judged & (use_nn | use_type), "yes", None)
    for stat in ("size", "median", "mad", "sd", "percentile"):
        frame[f"peer_{stat}"] = np.where(use_type, frame[f"type_{stat}"], frame[f"nn_{stat}"])
    scale = scale_of(frame["peer_mad"], frame["peer_sd"])
    frame["peer_scale"] = np.where(frame["peer_basis_used"].notna(), scale, np.nan)
    frame["robust_z"] = (
        (frame["value"] - frame["peer_median"]) * frame["worse_sign"] / frame["peer_scale"]
    )
    frame["state"] = np.select(
        [
            frame["state"] != "usable",
            judged & frame["peer_basis_used"].isna(),
            judged & frame["peer_scale"].isna(),
        ],
        [frame["state"], "too few peers", "no spread among peers"],
        "scored",
    )
    scored = frame["state"] == "scored"
    threshold, sign = frame["threshold"], frame["worse_sign"]
    frame["flagged"] = scored & np.where(
        frame["method"] == "peer",
        frame["robust_z"] >= threshold,
        (frame["method"] == "absolute") & ((frame["value"] - threshold) * sign >= 0),
    )
    # Continuous: 0.5 at the threshold, 1 at twice its distance, down to 0 below the line
    # (a peer value `reach` thresholds on the good side of its peers' median).
    severity = np.clip(
        np.where(
            frame["method"] == "peer",
            np.where(
                frame["robust_z"] >= threshold,
                0.5 + 0.5 * (frame["robust_z"] - threshold) / threshold,
                0.5 * (frame["robust_z"] + reach * threshold) / ((1 + reach) * threshold),
            ),
            0.5 + 0.5 * (frame["value"] - threshold) * sign / threshold.abs().replace(0, np.nan),
        ),
        0.0,
        1.0,
    )
    frame["national_percentile"] = frame["national_percentile"].where(
        (frame["state"] == "scored") & (frame["national_size"] >= frame["min_peers"])
    )
    if national_floor:  # the percentile is already missing where too few councils have data
        floor_share = np.nan_to_num(frame["national_percentile"] / 100)
        severity = np.where(frame["method"] == "peer", np.fmax(severity, floor_share), severity)
    counted = scored & frame["method"].isin(["peer", "absolute"])
    frame["severity"] = np.where(
        frame["flagged"],
        np.nan_to_num(severity, nan=1.0),
        np.where(counted & below_line, np.nan_to_num(severity, nan=0.0), 0.0),
    )
    frame["contribution"] = frame["weight"] * frame["severity"]

    # The watchlist: score, band, known cases, rank.
    frame["applicable"] = frame["method"].isin(["peer", "absolute"])
    frame["scored_applicable"] = frame["applicable"] & scored
    per = frame.groupby("council_code").agg(
        risk_score=("contribution", "sum"),
        n_flags=("flagged", "sum"),
        applicable=("applicable", "sum"),
        scored=("scored_applicable", "sum"),
    )
    per["coverage"] = np.where(per["applicable"] > 0, per["scored"] / per["applicable"], 0.0)
    bands = sorted(settings["bands"], key=lambda b: -b["min_score"])

    def band(row) -> str:
        if row["n_flags"] == 0 and row["coverage"] < settings["insufficient_data_below_coverage"]:
            return "insufficient data"
        if row["n_flags"] == 0:  # below-the-line contributions never band a council
            return "no flags"
        return next(b["band"] for b in bands if row["risk_score"] >= b["min_score"])

    per["risk_band"] = per.apply(band, axis=1)
    notices = pd.read_csv(
        sources["data_dir"] / "sources" / "registers" / "section114_notices.csv", dtype=str
    )
    notice_date = pd.to_datetime(notices["notice_date"])
    years = settings["known_case_years_after_section114"]
    known = notices[(notice_date <= when) & (notice_date > when - pd.DateOffset(years=years))]
    per["known_case"] = per.index.isin(known["gss_code"])
    per["rank"] = (
        per[~per["known_case"]]["risk_score"].rank(ascending=False, method="min").astype("Int64")
    )
    return frame, per.reset_index()


def run(data_dir: Path, partition_key: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    started = time.perf_counter()
    sources = read_sources(data_dir)
    sources["data_dir"] = data_dir  # type: ignore[assignment]
    read = time.perf_counter() - started
    catalogue, settings = read_catalogue()
    frame, watchlist = score(sources, catalogue, settings, partition_key)
    total = time.perf_counter() - started
    return frame, watchlist, {"read_seconds": round(read, 3), "total_seconds": round(total, 3)}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.core import peak_rss_mib

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--quarter", default="2019-01-01", help="partition key")
    parser.add_argument("--out", type=Path, help="write scores and watchlist Parquet here")
    args = parser.parse_args(argv)
    frame, watchlist, timing = run(args.data_dir, args.quarter)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        columns = [
            "council_code",
            "indicator_id",
            "method",
            "state",
            "value",
            "previous_value",
            "peer_size",
            "peer_median",
            "robust_z",
            "peer_percentile",
            "national_percentile",
            "flagged",
            "severity",
            "contribution",
        ]
        frame[columns].to_parquet(args.out / "scores.parquet")
        watchlist.to_parquet(args.out / "watchlist.parquet")
    print(json.dumps({**timing, "peak_rss_mib": round(peak_rss_mib(), 1), "rows": len(frame)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
