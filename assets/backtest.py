"""Backtest: would past watchlists have pointed at councils that later failed?

For every quarter's point-in-time watchlist, councils not already known at its as-of date are
labelled by whether a failure event (section 114 notice, intervention, exceptional financial
support...) followed within the horizon. The score, the reserves-only baseline and a random
ranking are compared by precision and recall at k, ROC AUC, lift over the base rate, and the
lead time from a council's first elevated flag to its event.

The events are read only here, after the watchlists are built: they cannot feed any score.
"""

import math
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from pipelines.resources import ParquetOutputs, Warehouse
from pipelines.sql import load_sql, query_frame

KS = (10, 20, 30)
RANKINGS = {"risk_score": "main score", "baseline_score": "reserves-only baseline"}
ELEVATED_BANDS = ("elevated", "high")


@dataclass(frozen=True)
class BacktestResult:
    per_quarter: pl.DataFrame
    overall: pl.DataFrame
    lead_times: pl.DataFrame
    lift_curve: pl.DataFrame


def read_events(path: Path) -> pl.DataFrame:
    """An events file: CSV with council_code, event_date (YYYY-MM-DD) and event_type."""
    frame = pl.read_csv(path, infer_schema=False)
    missing = {"council_code", "event_date", "event_type"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: events file lacks column(s) {sorted(missing)}")
    parsed = frame.select(
        pl.col("council_code").str.strip_chars(),
        pl.col("event_date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False),
        pl.col("event_type").str.strip_chars(),
    )
    bad = parsed.with_row_index("line", offset=2).filter(pl.col("event_date").is_null())
    if bad.height:
        raise ValueError(f"{path}: line(s) {bad.get_column('line').to_list()} have no valid date")
    return parsed


def label(watchlist: pl.DataFrame, events: pl.DataFrame, horizon_days: int) -> pl.DataFrame:
    """Eligible (not already known) council-quarters, each with `failed`: an event followed
    within the horizon after the as-of date, and the first such event's date."""
    eligible = watchlist.filter(~pl.col("known_case"))
    following = (
        eligible.select("quarter", "council_code", "as_of_date")
        .join(events, on="council_code", how="inner")
        .filter(
            (pl.col("event_date") > pl.col("as_of_date"))
            & (pl.col("event_date") <= pl.col("as_of_date") + pl.duration(days=horizon_days))
        )
        .group_by("quarter", "council_code")
        .agg(pl.col("event_date").min().alias("event_date"))
    )
    return eligible.join(following, on=["quarter", "council_code"], how="left").with_columns(
        pl.col("event_date").is_not_null().alias("failed")
    )


def roc_auc(scores: list[float], labels: list[bool]) -> float | None:
    """Probability that a failed council outranks one that did not (ties count half)."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not positives or not negatives:
        return None
    frame = pl.DataFrame({"score": scores, "y": labels}).with_columns(
        pl.col("score").rank("average").alias("r")
    )
    rank_sum = frame.filter(pl.col("y")).get_column("r").sum()
    n_pos, n_neg = len(positives), len(negatives)
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _top_k(group: pl.DataFrame, by: str, k: int) -> pl.DataFrame:
    # Ties at the cut are broken by council code, the same order the watchlist prints.
    return group.sort([by, "council_code"], descending=[True, False]).head(k)


def _quarter_metrics(quarter: str, group: pl.DataFrame) -> list[dict]:
    n = group.height
    positives = int(group.get_column("failed").sum())
    base_rate = positives / n if n else 0.0
    rows = []
    for column, name in [*RANKINGS.items(), ("random", "random ranking (expected)")]:
        row: dict = {
            "quarter": quarter,
            "ranking": name,
            "councils": n,
            "failures": positives,
            "base_rate": base_rate,
        }
        for k in KS:
            kk = min(k, n)
            if column == "random":
                hits = kk * base_rate
            else:
                hits = float(_top_k(group, column, kk).get_column("failed").sum())
            row[f"precision_at_{k}"] = hits / kk if kk else None
            row[f"recall_at_{k}"] = hits / positives if positives else None
            row[f"lift_at_{k}"] = (hits / kk) / base_rate if kk and base_rate else None
        if column == "random":
            row["roc_auc"] = 0.5 if positives and positives < n else None
        else:
            row["roc_auc"] = roc_auc(
                group.get_column(column).to_list(), group.get_column("failed").to_list()
            )
        rows.append(row)
    return rows


def evaluate(
    watchlist: pl.DataFrame,
    events: pl.DataFrame,
    horizon_days: int = 1096,
    complete_until: date | None = None,
) -> BacktestResult:
    """Score every as-of quarter whose horizon is fully observed by `complete_until`."""
    labelled = label(watchlist, events, horizon_days)
    until = complete_until or events.get_column("event_date").max() or date.today()
    observed = labelled.filter(
        pl.col("as_of_date") + pl.duration(days=horizon_days) <= pl.lit(until)
    )
    rows: list[dict] = []
    for (quarter,), group in observed.group_by("quarter", maintain_order=True):
        rows.extend(_quarter_metrics(str(quarter), group))
    per_quarter = pl.DataFrame(rows).sort("quarter", "ranking") if rows else pl.DataFrame()
    overall = (
        per_quarter.filter(pl.col("failures") > 0)
        .group_by("ranking")
        .agg(
            pl.len().alias("quarters_with_failures"),
            pl.col("failures").sum().alias("failure_council_quarters"),
            pl.col("base_rate").mean(),
            *[pl.col(f"{m}_at_{k}").mean() for m in ("precision", "recall", "lift") for k in KS],
            pl.col("roc_auc").mean(),
        )
        .sort("ranking")
        if per_quarter.height
        else pl.DataFrame()
    )
    return BacktestResult(
        per_quarter=per_quarter,
        overall=overall,
        lead_times=lead_times(watchlist, events, horizon_days),
        lift_curve=lift_curve(observed),
    )


def lead_times(watchlist: pl.DataFrame, events: pl.DataFrame, horizon_days: int) -> pl.DataFrame:
    """For each council's first event after the first watchlist: the first as-of date within
    the horizon before it at which the council (not yet known) was banded elevated or high, and
    the days from then to the event. Never flagged: no lead time."""
    if watchlist.is_empty():
        return pl.DataFrame()
    first_as_of = watchlist.get_column("as_of_date").min()
    names = watchlist.group_by("council_code").agg(pl.col("council_name").last())
    first_events = (
        events.filter(pl.col("event_date") > pl.lit(first_as_of))
        .sort("event_date")
        .group_by("council_code")
        .agg(pl.col("event_date").first(), pl.col("event_type").first())
    )
    flagged = watchlist.filter(
        ~pl.col("known_case") & pl.col("risk_band").is_in(list(ELEVATED_BANDS))
    ).select("council_code", "as_of_date", "quarter")
    in_window = (
        first_events.join(flagged, on="council_code", how="inner")
        .filter(
            (pl.col("as_of_date") < pl.col("event_date"))
            & (pl.col("as_of_date") >= pl.col("event_date") - pl.duration(days=horizon_days))
        )
        .group_by("council_code")
        .agg(
            pl.col("as_of_date").min().alias("first_elevated_as_of"),
            pl.col("quarter").sort_by("as_of_date").first().alias("first_elevated_quarter"),
        )
    )
    return (
        first_events.join(names, on="council_code", how="left")
        .join(in_window, on="council_code", how="left")
        .with_columns(
            (pl.col("event_date") - pl.col("first_elevated_as_of"))
            .dt.total_days()
            .alias("lead_time_days")
        )
        .sort("event_date")
    )


def lift_curve(observed: pl.DataFrame) -> pl.DataFrame:
    """Cumulative share of failures found against share of councils reviewed, pooled over the
    observed quarters, for the main score and the baseline (ranked within each quarter)."""
    if observed.is_empty():
        return pl.DataFrame()
    curves = []
    total = max(int(observed.get_column("failed").sum()), 1)
    for column, name in RANKINGS.items():
        ranked = observed.with_columns(
            (
                pl.col(column).rank("ordinal", descending=True).over("quarter")
                / pl.len().over("quarter")
            ).alias("share_reviewed")
        ).sort("share_reviewed")
        curves.append(
            ranked.select(
                pl.lit(name).alias("ranking"),
                "share_reviewed",
                (pl.col("failed").cast(pl.Int64).cum_sum() / total).alias("share_found"),
            )
        )
    return pl.concat(curves)


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown_table(frame: pl.DataFrame, columns: list[str]) -> str:
    if frame.is_empty():
        return "_no quarter with a complete, observed horizon_"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.select(columns).iter_rows():
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def write_lift_chart(curve: pl.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4.5), dpi=110)
    for name, part in curve.group_by("ranking", maintain_order=True):
        axes.plot(part["share_reviewed"], part["share_found"], label=str(name[0]))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random ranking")
    axes.set_xlabel("share of councils reviewed (highest score first)")
    axes.set_ylabel("share of later failures found")
    axes.set_title("Lift: failures found within the horizon")
    axes.legend(loc="lower right")
    figure.tight_layout()
    temp = path.with_suffix(".tmp.png")
    figure.savefig(temp)
    plt.close(figure)
    os.replace(temp, path)
    return path


def write_report(result: BacktestResult, out_dir: Path, horizon_days: int, events: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = (
        write_lift_chart(result.lift_curve, out_dir / "lift.png")
        if not result.lift_curve.is_empty()
        else None
    )
    metric_columns = ["ranking", "quarters_with_failures", "failure_council_quarters", "base_rate"]
    metric_columns += [f"precision_at_{k}" for k in KS] + [f"recall_at_{k}" for k in KS]
    metric_columns += [f"lift_at_{k}" for k in KS] + ["roc_auc"]
    lead = result.lead_times
    text = "\n".join(
        [
            "# Backtest of the watchlist",
            "",
            f"Events: `{events}`. Horizon: an event within {horizon_days} days after the as-of "
            "date. Councils already known at the as-of date are excluded. Failures are rare, "
            "so precision at k (of the k highest-ranked councils, how many failed) matters "
            "more than ROC AUC. The random ranking's figures are its exact expectations.",
            "",
            "## Overall (mean over quarters with at least one later failure)",
            "",
            markdown_table(result.overall, metric_columns),
            "",
            "## Lead time from first elevated band to the event",
            "",
            markdown_table(
                lead,
                [
                    "council_code",
                    "council_name",
                    "event_type",
                    "event_date",
                    "first_elevated_quarter",
                    "lead_time_days",
                ],
            )
            if lead.height
            else "_no events_",
            "",
            "## Lift chart",
            "",
            "![lift chart](lift.png)" if chart else "_no observed quarter_",
            "",
            "## Per quarter",
            "",
            markdown_table(
                result.per_quarter,
                [
                    "quarter",
                    "ranking",
                    "councils",
                    "failures",
                    "precision_at_10",
                    "precision_at_20",
                    "recall_at_20",
                    "roc_auc",
                ],
            ),
            "",
        ]
    )
    report = out_dir / "backtest.md"
    temp = report.with_suffix(".md.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, report)
    html = out_dir / "backtest.html"
    html_temp = html.with_suffix(".html.tmp")
    html_temp.write_text(_html(text), encoding="utf-8")
    os.replace(html_temp, html)
    result.per_quarter.write_csv(out_dir / "per_quarter.csv")
    return report


def _html(markdown: str) -> str:
    """A plain, offline HTML rendering of the report's Markdown (tables, headings, image)."""
    import html as html_lib

    body: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if not table:
            return
        rows = [r for r in table if not set(r.replace("|", "").strip()) <= {"-", ":"}]
        cells = [[html_lib.escape(c.strip()) for c in r.strip("|").split("|")] for r in rows]
        head = "".join(f"<th>{c}</th>" for c in cells[0])
        rest = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in cells[1:])
        body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rest}</tbody></table>")
        table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("## "):
            body.append(f"<h2>{html_lib.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html_lib.escape(line[2:])}</h1>")
        elif line.startswith("!["):
            body.append('<img src="lift.png" alt="Lift chart of failures found">')
        elif line.strip():
            body.append(f"<p>{html_lib.escape(line)}</p>")
    flush()
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Backtest</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )


class BacktestConfig(dg.Config):
    events_path: str = ""  # empty: the shipped known-case registers
    horizon_days: int = 1096  # about three years
    complete_until: str = ""  # empty: the latest event date in the events


@dg.asset(
    key=["backtest", "backtest_report"],
    deps=[dg.AssetKey(["watchlist", "watchlist"])],
    group_name="backtest",
    kinds={"duckdb", "markdown"},
    pool="warehouse",
    description="Backtest of every built quarter's watchlist against failures that followed "
    "(precision/recall at 10, 20, 30, ROC AUC, lift, lead time), beside the reserves-only "
    "baseline and a random ranking. Report and lift chart in <output>/backtest/.",
)
def backtest_report(
    context: dg.AssetExecutionContext,
    config: BacktestConfig,
    warehouse: Warehouse,
    parquet_outputs: ParquetOutputs,
) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as connection:
        watchlist = query_frame(connection, load_sql("backtest/watchlists"))
        if config.events_path:
            events = read_events(Path(config.events_path))
            events_name = config.events_path
        else:
            events = query_frame(connection, load_sql("backtest/known_case_events"))
            events_name = (
                "shipped registers (section 114 notices, interventions, exceptional financial "
                "support, Best Value Notices and inspections)"
            )
    until = date.fromisoformat(config.complete_until) if config.complete_until else None
    result = evaluate(watchlist, events, config.horizon_days, until)
    out_dir = Path(parquet_outputs.output_dir) / "backtest"
    report = write_report(result, out_dir, config.horizon_days, events_name)
    context.log.info(f"backtest report: {report}")
    metadata: dict = {
        "report": dg.MetadataValue.path(str(report)),
        "quarters_evaluated": result.per_quarter.get_column("quarter").n_unique()
        if result.per_quarter.height
        else 0,
        "events": events.height,
        "overall": dg.MetadataValue.md(
            markdown_table(
                result.overall,
                ["ranking", "precision_at_10", "precision_at_20", "recall_at_20", "roc_auc"],
            )
        ),
    }
    main = (
        result.overall.filter(pl.col("ranking") == "main score")
        if result.overall.height
        else result.overall
    )
    if main.height:
        for column in ("precision_at_10", "precision_at_20", "recall_at_20", "roc_auc"):
            value = main.get_column(column).item()
            if value is not None:
                metadata[f"main_{column}"] = float(value)
    return dg.MaterializeResult(metadata=metadata)
