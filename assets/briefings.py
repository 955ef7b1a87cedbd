"""Watchlist -> briefing packs: one self-contained HTML page per council, to prepare an
Early Warning Conversation, and an index page of each quarter's watchlist.

    <output_dir>/briefings/quarter=2019Q1/index.html        the quarter's watchlist, in rank order
    <output_dir>/briefings/quarter=2019Q1/E06000034.html    one pack per council

A pack says why the council is on the list (each flag in plain words, with its value, peer
median, threshold, source and period, and a table of the same evidence), shows each flagged
indicator's trend against its peers (a chart), lists its data gaps and its known-case status, and
carries the fixed notice that it is evidence for a conversation, not a judgement. It also lists
the analysts' soft-intelligence notes on the council that are marked shareable and dated by the
quarter's as-of date (source `analyst_notes`); a note not marked shareable never leaves the
warehouse: it is not selected, so no page can show it.

Pages open offline: styles are inline, charts are SVG drawn by matplotlib and embedded as `data:`
images, and each page's Content-Security-Policy forbids loading anything from anywhere else.
Templates (Jinja2, autoescaped) and the stylesheet live in `assets/templates/`.

A run covering a range of quarters (a backfill runs as one step) writes the index page of every
quarter in the range but packs only for its latest quarter: packs for 43 past quarters would cost
minutes and be read by no one. `write_briefing` writes the pack of any council for any built
quarter on demand (`early-warning brief --quarter 2019Q1 --council E06000034`). Rebuilding a
quarter removes its earlier packs, which may no longer match the rebuilt watchlist.
"""

import base64
import io
import math
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import duckdb
import jinja2
import matplotlib
import polars as pl
from matplotlib.figure import Figure
from pydantic import Field

from assets.point_in_time import quarters_of
from pipelines.catalogue import load_catalogue
from pipelines.indicator_catalogue import IndicatorCatalogue, load_indicator_catalogue
from pipelines.partitions import quarterly_partitions
from pipelines.resources import ParquetOutputs, Warehouse
from pipelines.sql import load_sql, query_frame

BRIEFINGS_KEY = dg.AssetKey(["watchlist", "briefing_packs"])
WATCHLIST_KEY = dg.AssetKey(["watchlist", "watchlist"])
NOTES_KEY = dg.AssetKey(["validated", "analyst_notes"])
TEMPLATES_DIR = Path(__file__).with_name("templates")
DATASET = "briefings"
NEUTRAL_NOTICE = (
    "This pack is evidence to prepare a conversation. "
    "It is not a judgement about the council or about intervention."
)
BANDS = ["high", "elevated", "watch", "no flags", "insufficient data"]
BAND_COLOURS = {
    "high": "#8b1a1a",
    "elevated": "#b04a00",
    "watch": "#7a5d00",
    "no flags": "#2e6b30",
    "insufficient data": "#555555",
}
COUNCIL_VALUE_COLOUR = "#1d4e89"
PEER_COLOUR = "#5f5f5f"
FLAG_LINE_COLOUR = "#b3261e"
QUARTER_PATTERN = re.compile(r"^\d{4}Q[1-4]$")
COUNCIL_PATTERN = re.compile(r"^E\d{8}$")
CATALOGUE_RELATION = "briefing_indicator_catalogue"

# Why an indicator was not scored, in plain words ({min_peers}, {max_age_days} from the catalogue).
STATE_WORDS = {
    "no data": "No data: nothing was found for this council in the source.",
    "stale": "Out of date: the latest figure is older than the indicator allows "
    "({max_age_days} days at the as-of date), so it was not scored.",
    "too few peers": "Too few peers: fewer than {min_peers} comparable councils had data, so "
    "the value could not be compared with theirs.",
    "no spread among peers": "No spread among peers: the comparable councils all had the same "
    "value, so a difference from them cannot be measured.",
    "no finding recorded": "No finding recorded: the register holds nothing for this council. "
    "The register may be incomplete, so this is not evidence that there is nothing to find.",
    "not reported": "Not reported: the source shows no figure for this council.",
    "not computable (spending not positive or under £1m)": "Not computable: the council's net "
    "revenue expenditure that year was negative, nil or under £1m (a council whose commercial "
    "income nets off its spending), so a ratio to it would mean nothing.",
    "not computable (borrowing under 10% of spending)": "Not computable: the council's "
    "borrowing is under a tenth of its net revenue expenditure, too little for its mix of "
    "short- and long-term loans to matter.",
}
PEER_GROUP_WORDS = {
    "county": "county councils",
    "district": "district councils",
    "unitary": "unitary councils",
    "metropolitan district": "metropolitan districts",
    "london borough": "London boroughs",
}


class BriefingError(ValueError):
    """A pack was asked for something the warehouse does not hold."""


class BriefingConfig(dg.Config):
    top_n: int = Field(
        default=10,
        ge=0,
        description="Write packs for this many councils from the top of the latest quarter's "
        "watchlist (councils not already known, with at least one flag, in rank order).",
    )


@dataclass(frozen=True)
class QuarterBriefings:
    quarter: str
    index_path: Path
    packs: list[Path]
    councils: list[str]


# --------------------------------------------------------------------------------------------
# Words and numbers
# --------------------------------------------------------------------------------------------


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def format_value(value: float | None, unit: str | None) -> str:
    """A value as a reader expects it in its unit: 6.2%, +3.1%, 1.5 years, 0.85."""
    if not _finite(value):
        return "no value"
    assert value is not None
    unit = (unit or "").lower()
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "percent change":
        return f"{value:+.1f}%"
    if unit.startswith("years (99"):
        return "not drawing on reserves" if value >= 99 else f"{value:.1f} years"
    if unit.startswith("years"):
        return f"{value:.1f} years"
    if unit.startswith("months"):
        return f"{value:.1f} months"
    if unit.startswith("rate per"):
        return f"{value:,.0f} {unit.removeprefix('rate ')}"
    return f"{value:.2f}"


def _number(value: float | None) -> str:
    return f"{value:g}" if _finite(value) else ""


def source_title(source_id: str) -> str:
    """The source's catalogue title, shortened to its name: 'Revenue Outturn summary'."""
    spec = _source_specs().get(source_id)
    if spec is None:
        return source_id
    return re.split(r" \(| - |, £", spec.title, maxsplit=1)[0]


@cache
def _source_specs() -> dict[str, Any]:
    return dict(load_catalogue())


def _source_of_path(source_path: str | None) -> str | None:
    """The catalogue source that lists this file, if any."""
    if not source_path:
        return None
    for source_id, spec in _source_specs().items():
        if any(f.path == source_path for f in spec.files):
            return source_id
    return None


def source_words(row: dict[str, Any]) -> str:
    """'Revenue Outturn summary, row 9 of RS_2017-18_data_by_LA_PRENOV.xlsx'. An indicator
    read from the council-year finance series names the source of the file its row came from,
    which may not be the catalogue's first source for it."""
    words = source_title(_source_of_path(row.get("source_path")) or row["source"])
    if row.get("source_path"):
        name = Path(row["source_path"]).name
        if row.get("source_row_number") is not None:
            return f"{words}, row {row['source_row_number']} of {name}"
        return f"{words}, {name}"
    return words


def citation_link(url: str | None) -> str | None:
    """The page a register row cites, if it is a plain http(s) address: anything else (a
    javascript: or data: address, a relative path, text) is never made a link."""
    if not url or any(c.isspace() for c in url.strip()):
        return None
    parsed = urlsplit(url.strip())
    if parsed.scheme.lower() not in ("http", "https") or not parsed.netloc:
        return None
    return url.strip()


def _period_words(period: str | None) -> str:
    if not period:
        return ""
    return f" in {period}" if re.fullmatch(r"\d{4}(-\d{2})?", period) else f" for {period}"


def peer_words(row: dict[str, Any]) -> str:
    """Who the council was compared with: 'its 7 nearest neighbours', '12 other districts'."""
    size = row.get("peer_group_size") or 0
    basis = row.get("peer_basis") or ""
    if basis == "nearest neighbours":
        return f"its {size} nearest neighbours"
    group = PEER_GROUP_WORDS.get(row.get("council_type") or "", "councils of the same type")
    words = f"{size} other {group}"
    if "too few neighbours" in basis:
        words += " (too few of its nearest neighbours had data)"
    return words


def explain_flag(row: dict[str, Any]) -> str:
    """One flag in a plain sentence, with its value, comparison, threshold, source and period."""
    name = row["indicator_name"]
    unit = row["unit"]
    value = format_value(row["value"], unit)
    period = _period_words(row.get("period"))
    source = source_words(row)
    threshold = row["threshold"]
    if row["method"] == "peer":
        z = row["robust_z"]
        past = "past" if z > threshold else "at"
        national = row.get("national_percentile")
        nationally = (
            f"; it is worse than {national:.0f}% of all councils with data"
            if national is not None
            else ""
        )
        return (
            f"{name} was {value}{period}; the median of {peer_words(row)} was "
            f"{format_value(row['peer_median'], unit)}; that is {z:.1f} median absolute "
            f"deviations worse, {past} the {threshold:g} threshold{nationally} "
            f"(source: {source})."
        )
    if row["method"] == "absolute":
        side = "at or below" if row["polarity"] == "higher_is_better" else "at or above"
        return (
            f"{name} was {value}{period}, {side} the threshold of "
            f"{format_value(threshold, unit)} (source: {source})."
        )
    if row["indicator_id"] == "children_services_inadequate" and row.get("period_end"):
        # One judgement, not a sum of findings: say which report and when.
        return (
            f"{name}: Ofsted's latest judgement by {row['as_of_date']:%d %B %Y}, published on "
            f"{row['period_end']:%d %B %Y}, was inadequate overall; it counts "
            f"{row['value']:.2f} now (1 when published, half as much after "
            f"{row['half_life_years']:g} years), at or above the threshold of {threshold:g} "
            f"(source: {source})."
        )
    decay = ""
    if (unit or "").startswith("decayed") and row.get("half_life_years"):
        decay = (
            f" (a finding counts 1 when new and half as much after "
            f"{row['half_life_years']:g} years)"
        )
    return (
        f"{name}: the recorded findings add up to {row['value']:.2f}{decay} at "
        f"{row['as_of_date']:%d %B %Y}, at or above the threshold of {threshold:g} "
        f"(source: {source})."
    )


def gap_words(state: str, row: dict[str, Any]) -> str:
    template = STATE_WORDS.get(state)
    if template is None:
        return f"{state[:1].upper()}{state[1:]}: as the source records it, so it was not scored."
    return template.format(min_peers=row.get("min_peers"), max_age_days=row.get("max_age_days"))


# --------------------------------------------------------------------------------------------
# Charts: matplotlib (object API, no pyplot state) drawn to SVG and embedded as data: images
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    uri: str
    alt: str
    width: int
    height: int


def _svg_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    # A fixed hash salt and no date make the SVG the same bytes for the same data.
    with matplotlib.rc_context({"svg.hashsalt": "early-warning", "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _plain(text: str) -> str:
    """Text for a matplotlib label: a `$` would otherwise start mathematical notation."""
    return text.replace("$", r"\$")


def _nan(value: Any) -> float:
    return float(value) if _finite(value) else math.nan


def chart_against(flag: dict[str, Any]) -> str:
    if flag["method"] == "peer":
        return "against the median of its peers and the flag line"
    return f"against the threshold of {format_value(flag['threshold'], flag['unit'])}"


def threshold_words(row: dict[str, Any]) -> str:
    if row["method"] == "peer":
        return f"{row['threshold']:g} MADs"
    if row["method"] == "absolute":
        return format_value(row["threshold"], row["unit"])
    return _number(row["threshold"])


def trend_chart(history: list[dict[str, Any]], flag: dict[str, Any], council_name: str) -> Chart:
    """The council's value at each quarter's as-of date up to this one, its peer median and
    the flag line (peer: the value `threshold` MADs worse; absolute and event: the threshold)."""
    unit = flag["unit"]
    sentinel = (unit or "").startswith("years (99")
    dates = [h["as_of_date"] for h in history]
    values = [_nan(h["value"]) for h in history]
    if sentinel:  # 99 years means "not drawing on reserves": left out, it would flatten the rest
        values = [math.nan if v >= 99 else v for v in values]
    medians = [_nan(h["peer_median"]) for h in history]
    lines = [_nan(h["flag_line"]) for h in history]
    width, height = 7.0, 3.2
    # Fixed margins (no layout engine): drawing once is about twice as fast.
    figure = Figure(figsize=(width, height), dpi=96)
    figure.subplots_adjust(left=0.1, right=0.98, top=0.95, bottom=0.25)
    axes = figure.add_subplot()
    axes.plot(
        dates,
        values,
        marker="o",
        color=COUNCIL_VALUE_COLOUR,
        linewidth=2,
        label=_plain(council_name),
    )
    if any(not math.isnan(m) for m in medians):
        axes.plot(
            dates, medians, marker="s", linestyle="--", color=PEER_COLOUR, label="Peer median"
        )
    if any(not math.isnan(x) for x in lines):
        label = (
            f"Flag line ({flag['threshold']:g} MADs worse than the peer median)"
            if flag["method"] == "peer"
            else f"Threshold ({format_value(flag['threshold'], unit)})"
        )
        axes.plot(
            dates,
            lines,
            linestyle=":",
            marker="_",
            markersize=14,
            markeredgewidth=2,
            color=FLAG_LINE_COLOUR,
            linewidth=2,
            label=label,
        )
    axes.plot(
        dates[-1:], values[-1:], marker="o", markersize=10, color=COUNCIL_VALUE_COLOUR, zorder=3
    )
    pad = timedelta(days=45)
    axes.set_xlim(dates[0] - pad, dates[-1] + pad)
    step = max(1, math.ceil(len(dates) / 10))
    axes.set_xticks(dates[::step], [h["quarter"] for h in history][::step])
    axes.set_ylabel(_plain(unit or ""), fontsize=9)
    axes.tick_params(labelsize=8)
    axes.grid(axis="y", color="#dddddd", linewidth=0.8)
    axes.spines[["top", "right"]].set_visible(False)
    figure.legend(loc="lower center", ncols=3, fontsize=8, frameon=False)
    uri = _svg_uri(figure)
    first, last = history[0], history[-1]
    alt = (
        f"Line chart of {flag['indicator_name']} for {council_name} at each quarter from "
        f"{first['quarter']} to {last['quarter']}, {chart_against(flag)}. In {last['quarter']} "
        f"the value was {format_value(last['value'], unit)}"
        + (
            f" and the peer median {format_value(last['peer_median'], unit)}."
            if _finite(last["peer_median"])
            else "."
        )
    )
    return Chart(uri=uri, alt=alt, width=round(width * 96), height=round(height * 96))


def band_chart(rows: list[dict[str, Any]], quarter: str) -> Chart:
    """How many councils are in each band this quarter (a bar per band)."""
    counts = {band: 0 for band in BANDS}
    for row in rows:
        counts[row["risk_band"]] = counts.get(row["risk_band"], 0) + 1
    bands = [b for b in counts if counts[b] or b in BANDS]
    width, height = 7.0, 2.4
    figure = Figure(figsize=(width, height), dpi=96)
    figure.subplots_adjust(left=0.2, right=0.95, top=0.95, bottom=0.2)
    axes = figure.add_subplot()
    positions = list(range(len(bands)))[::-1]
    axes.barh(
        positions,
        [counts[b] for b in bands],
        color=[BAND_COLOURS.get(b, "#555555") for b in bands],
    )
    axes.set_yticks(positions, bands)
    for y, band in zip(positions, bands, strict=True):
        axes.text(counts[band], y, f" {counts[band]}", va="center", fontsize=9)
    axes.set_xlabel("councils", fontsize=9)
    axes.tick_params(labelsize=9)
    axes.spines[["top", "right"]].set_visible(False)
    uri = _svg_uri(figure)
    alt = f"Bar chart of councils by band in {quarter}: " + ", ".join(
        f"{band} {counts[band]}" for band in bands
    )
    return Chart(uri=uri, alt=alt + ".", width=round(width * 96), height=round(height * 96))


# --------------------------------------------------------------------------------------------
# Reading the warehouse
# --------------------------------------------------------------------------------------------


@contextmanager
def _catalogue_registered(
    connection: duckdb.DuckDBPyConnection, catalogue: IndicatorCatalogue
) -> Iterator[None]:
    connection.register(CATALOGUE_RELATION, catalogue.indicators.to_arrow())
    try:
        yield
    finally:
        connection.unregister(CATALOGUE_RELATION)


def _check_quarter(quarter: str) -> str:
    quarter = quarter.strip().upper()
    if not QUARTER_PATTERN.match(quarter):
        raise BriefingError(f"{quarter!r} is not a quarter such as 2019Q1")
    return quarter


def load_watchlist(connection: duckdb.DuckDBPyConnection, quarter: str) -> pl.DataFrame:
    try:
        rows = query_frame(connection, load_sql("briefings/watchlist"), {"quarter": quarter})
    except duckdb.CatalogException as error:
        raise BriefingError("the warehouse holds no watchlist yet: build it first") from error
    if rows.is_empty():
        raise BriefingError(f"the warehouse holds no watchlist for {quarter}: build it first")
    return rows


def _evidence(
    connection: duckdb.DuckDBPyConnection, quarter: str, councils: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    try:
        connection.execute(load_sql("watchlist/citations"))
    except duckdb.CatalogException:
        # A warehouse built before the registers carried citations: no links, same evidence.
        connection.execute(load_sql("briefings/no_citations"))
    frame = query_frame(
        connection, load_sql("briefings/evidence"), {"quarter": quarter, "councils": councils}
    )
    by_council: dict[str, list[dict[str, Any]]] = {code: [] for code in councils}
    for row in frame.iter_rows(named=True):
        by_council[row["council_code"]].append(row)
    return by_council


def _shareable_notes(
    connection: duckdb.DuckDBPyConnection, as_of_date: Any, councils: Sequence[str]
) -> dict[str, list[dict[str, Any]]] | None:
    """Each council's shareable notes dated by the as-of date, newest first; None when the
    warehouse holds no notes register (built before it existed)."""
    try:
        frame = query_frame(
            connection,
            load_sql("briefings/notes"),
            {"as_of_date": as_of_date, "councils": list(councils)},
        )
    except duckdb.CatalogException:
        return None
    by_council: dict[str, list[dict[str, Any]]] = {code: [] for code in councils}
    for row in frame.iter_rows(named=True):
        by_council[row["council_code"]].append(row)
    return by_council


def _trends(
    connection: duckdb.DuckDBPyConnection, quarter: str, councils: Sequence[str]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    frame = query_frame(
        connection, load_sql("briefings/trends"), {"quarter": quarter, "councils": councils}
    )
    by_indicator: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in frame.iter_rows(named=True):
        by_indicator.setdefault((row["council_code"], row["indicator_id"]), []).append(row)
    return by_indicator


# --------------------------------------------------------------------------------------------
# Rendering (Jinja2, autoescaped)
# --------------------------------------------------------------------------------------------


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["value"] = format_value
    environment.filters["number"] = _number
    environment.filters["percent"] = lambda v: f"{v:.0%}" if _finite(v) else ""
    environment.filters["score"] = lambda v: f"{v:.2f}" if _finite(v) else ""
    environment.filters["long_date"] = lambda d: f"{d:%d %B %Y}".lstrip("0") if d else ""
    return environment


def pack_name(council_code: str) -> str:
    if not COUNCIL_PATTERN.match(council_code):
        raise BriefingError(f"{council_code!r} is not an English council's GSS code")
    return f"{council_code}.html"


def _page_context(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "quarter": row["quarter"],
        "as_of_date": row["as_of_date"],
        "notice": NEUTRAL_NOTICE,
        "provenance": {
            "run_id": row["run_id"],
            "inputs_sha256": row["inputs_sha256"],
            "pipeline_version": row["pipeline_version"],
        },
    }


def render_index(watchlist: pl.DataFrame, packs: set[str]) -> str:
    """The quarter's watchlist: councils not already known in rank order, then known cases."""
    rows = watchlist.to_dicts()
    for row in rows:
        row["pack"] = pack_name(row["council_code"]) if row["council_code"] in packs else None
    ranked = [r for r in rows if not r["known_case"]]
    known = [r for r in rows if r["known_case"]]
    return (
        _environment()
        .get_template("index.html.j2")
        .render(
            **_page_context(rows[0]),
            ranked=ranked,
            known=known,
            band_chart=band_chart(rows, rows[0]["quarter"]),
            n_packs=len(packs),
        )
    )


def band_meaning(backtest_dir: Path, band: str) -> str | None:
    """What the band has meant in the latest backtest (its band calibration, longest horizon):
    how many councils so banded, not already known, later failed. None without a backtest."""
    path = backtest_dir / "band_calibration.csv"
    if not path.is_file():
        return None
    table = pl.read_csv(path)
    rows = table.filter(
        (pl.col("risk_band") == band) & (pl.col("horizon_days") == table["horizon_days"].max())
    )
    if rows.is_empty():
        return None
    r = rows.row(0, named=True)
    years = round(r["horizon_days"] / 365.25)
    interval = (
        f" (95% interval {r['share_failed_low']:.1%} to {r['share_failed_high']:.1%})"
        if r.get("share_failed_low") is not None
        else ""
    )
    return (
        f"In the backtest, {r['failed_councils']} of the {r['councils']} councils banded {band} "
        f"while not already known had a failure event within {years} years; "
        f"{r['share_failed']:.1%} of those council-quarters{interval}. Few events: indicative."
    )


def render_pack(
    council: dict[str, Any],
    evidence: list[dict[str, Any]],
    trends: dict[tuple[str, str], list[dict[str, Any]]],
    n_ranked: int,
    n_known: int,
    known_case_years: int,
    notes: list[dict[str, Any]] | None = None,
    band_meaning: str | None = None,
) -> str:
    """One council's pack. `notes`: its shareable notes (None: no notes register loaded)."""
    flags = [r for r in evidence if r["flagged"]]
    for flag in flags:
        flag["sentence"] = explain_flag(flag)
        flag["source_words"] = source_words(flag)
        flag["source_link"] = citation_link(flag.get("source_url"))
        flag["peer_words"] = peer_words(flag) if flag["method"] == "peer" else ""
        flag["threshold_words"] = threshold_words(flag)
        flag["against"] = chart_against(flag)
        history = trends.get((council["council_code"], flag["indicator_id"]), [])
        flag["history"] = history
        flag["chart"] = trend_chart(history, flag, council["council_name"]) if history else None
    gaps: dict[str, list[dict[str, Any]]] = {}
    for row in evidence:
        if row["state"] != "scored":
            gaps.setdefault(row["state"], []).append(row)
    gap_groups = [
        {"state": state, "words": gap_words(state, rows[0]), "rows": rows}
        for state, rows in sorted(gaps.items(), key=lambda item: (-len(item[1]), item[0]))
    ]
    others = [r for r in evidence if r["state"] == "scored" and not r["flagged"]]
    for row in others:
        row["source_words"] = source_words(row)
        row["source_link"] = citation_link(row.get("source_url"))
    return (
        _environment()
        .get_template("pack.html.j2")
        .render(
            **_page_context(council),
            council=council,
            flags=flags,
            gap_groups=gap_groups,
            others=others,
            n_ranked=n_ranked,
            n_known=n_known,
            known_case_years=known_case_years,
            notes=notes,
            band_meaning=band_meaning,
        )
    )


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def quarter_dir(output_dir: str | Path, quarter: str) -> Path:
    return Path(output_dir) / DATASET / f"quarter={_check_quarter(quarter)}"


def write_atomic(path: Path, text: str) -> Path:
    """Write `text` to a temporary file beside `path`, then rename it into place: a reader (or
    a run killed half way) only ever sees the previous complete page or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def _write_packs(
    connection: duckdb.DuckDBPyConnection,
    folder: Path,
    watchlist: pl.DataFrame,
    councils: Sequence[str],
    catalogue: IndicatorCatalogue,
) -> list[Path]:
    if not councils:
        return []
    quarter = watchlist.item(0, "quarter")
    with _catalogue_registered(connection, catalogue):
        evidence = _evidence(connection, quarter, councils)
        trends = _trends(connection, quarter, councils)
    notes = _shareable_notes(connection, watchlist.item(0, "as_of_date"), councils)
    n_ranked = watchlist.filter(~pl.col("known_case")).height
    n_known = watchlist.height - n_ranked
    by_code = {row["council_code"]: row for row in watchlist.iter_rows(named=True)}
    backtest_dir = folder.parent.parent / "backtest"  # <output>/backtest, if it has run
    paths = []
    for code in councils:
        html = render_pack(
            by_code[code],
            evidence[code],
            trends,
            n_ranked,
            n_known,
            catalogue.known_case_years,
            notes=None if notes is None else notes[code],
            band_meaning=band_meaning(backtest_dir, by_code[code]["risk_band"]),
        )
        paths.append(write_atomic(folder / pack_name(code), html))
    return paths


def top_councils(watchlist: pl.DataFrame, top_n: int) -> list[str]:
    """The top N of the watchlist: councils not already known, with at least one flag, in rank
    order (ties in rank by code)."""
    top = (
        watchlist.filter(~pl.col("known_case") & (pl.col("n_flags") > 0))
        .sort("rank", "council_code")
        .head(top_n)
    )
    return top.get_column("council_code").to_list()


def write_quarter_briefings(
    connection: duckdb.DuckDBPyConnection,
    output_dir: str | Path,
    quarter: str,
    top_n: int,
    catalogue: IndicatorCatalogue | None = None,
) -> QuarterBriefings:
    """The index page of one quarter and packs for the top `top_n` councils (0: index only).
    Packs left from an earlier build of the quarter are removed: they may no longer match."""
    quarter = _check_quarter(quarter)
    catalogue = catalogue or load_indicator_catalogue()
    watchlist = load_watchlist(connection, quarter)
    folder = quarter_dir(output_dir, quarter)
    councils = top_councils(watchlist, top_n)
    packs = _write_packs(connection, folder, watchlist, councils, catalogue)
    index = write_atomic(folder / "index.html", render_index(watchlist, set(councils)))
    keep = {p.name for p in packs}
    for old in folder.glob("E*.html"):
        if old.name not in keep and COUNCIL_PATTERN.match(old.stem):
            old.unlink(missing_ok=True)
    return QuarterBriefings(quarter=quarter, index_path=index, packs=packs, councils=councils)


def write_briefing(
    warehouse: str | Path | duckdb.DuckDBPyConnection,
    output_dir: str | Path,
    quarter_label: str,
    council_code: str,
) -> Path:
    """Write the pack of any council for a quarter already built, on demand; returns its path
    (`<output_dir>/briefings/quarter=<quarter>/<council_code>.html`).

    `warehouse` is the DuckDB file (opened read only) or an open connection."""
    quarter = _check_quarter(quarter_label)
    council_code = council_code.strip().upper()
    pack_name(council_code)
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        return _write_one(warehouse, output_dir, quarter, council_code)
    if not Path(warehouse).is_file():
        raise BriefingError(f"no warehouse at {warehouse}: build the watchlist first")
    with Warehouse(database=str(warehouse)).connect(read_only=True) as connection:
        return _write_one(connection, output_dir, quarter, council_code)


def _write_one(
    connection: duckdb.DuckDBPyConnection, output_dir: str | Path, quarter: str, council_code: str
) -> Path:
    watchlist = load_watchlist(connection, quarter)
    if council_code not in set(watchlist.get_column("council_code").to_list()):
        raise BriefingError(f"{council_code} is not in the watchlist for {quarter}")
    folder = quarter_dir(output_dir, quarter)
    catalogue = load_indicator_catalogue()
    return _write_packs(connection, folder, watchlist, [council_code], catalogue)[0]


# --------------------------------------------------------------------------------------------
# The asset
# --------------------------------------------------------------------------------------------


@dg.asset(
    key=BRIEFINGS_KEY,
    deps=[WATCHLIST_KEY, NOTES_KEY],
    partitions_def=quarterly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="watchlist",
    pool="warehouse",
    kinds={"html"},
    description="Briefing packs to prepare Early Warning Conversations: an index page of each "
    "quarter's watchlist and, for the latest quarter of the run, one self-contained HTML page "
    "per council at the top of it (why it is listed, trends against its peers, data gaps, "
    "known-case status, the analysts' shareable notes). Evidence for a conversation, not a "
    "judgement. Notes not marked shareable never appear in a pack.",
)
def briefing_packs(
    context: dg.AssetExecutionContext,
    config: BriefingConfig,
    warehouse: Warehouse,
    parquet_outputs: ParquetOutputs,
) -> dg.MaterializeResult:
    quarters = quarters_of(context).get_column("quarter").to_list()
    latest = max(quarters)
    catalogue = load_indicator_catalogue()
    written: dict[str, QuarterBriefings] = {}
    with warehouse.connect(read_only=True) as connection:
        for quarter in sorted(quarters):
            try:
                written[quarter] = write_quarter_briefings(
                    connection,
                    parquet_outputs.output_dir,
                    quarter,
                    config.top_n if quarter == latest else 0,
                    catalogue,
                )
            except BriefingError as error:
                raise dg.Failure(description=f"briefing packs for {quarter}: {error}") from error
    result = written[latest]
    context.log.info(
        f"wrote {len(quarters)} index page(s) and {len(result.packs)} pack(s) for {latest} "
        f"under {result.index_path.parent.parent}"
    )
    return dg.MaterializeResult(
        metadata={
            "index_path": dg.MetadataValue.path(str(result.index_path)),
            "latest_quarter": latest,
            "quarters": ", ".join(sorted(quarters)),
            "packs": len(result.packs),
            "councils": dg.MetadataValue.json(result.councils),
            "top_n": config.top_n,
        }
    )
