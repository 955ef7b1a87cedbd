"""A fictional estate of councils, written in the real sources' formats.

Every council here is made up: codes use the numbers 900001 upwards within the real GSS
prefixes (no real council has them) and names are invented ("Testshire 3 County Council").
Tests use it to know the answer by construction; benchmarks use it at scale (`scale=100` is
about 32,000 councils). The same seed gives the same files, byte for byte.

The Data Explorer file holds the seven adult social care metrics over eight years by default.
`write_estate(..., metrics_per_council=60, years=10)` adds fictional metrics (`SYN001`...,
unknown to `pipelines/metrics.yaml`, so they load and validate without a range check) for every
council and earlier years, which is what the benchmarks use: at `scale=100` that file has about
18 million rows. The extra values come from their own generator, so every other file (and the
default metrics and years) is the same with or without them.

Councils listed in `distressed` run their unallocated reserves down year after year; those in
`section114` also get a section 114 notice on the given date, so a backtest's answer is known.
"""

from __future__ import annotations

import csv
import json
import random
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

# Council types in roughly England's proportions (per 317 councils).
TYPE_MIX = {
    "E10": ("CTY", 21),
    "E07": ("NMD", 164),
    "E06": ("UA", 63),
    "E08": ("MD", 36),
    "E09": ("LBO", 33),
}
TYPE_NAMES = {
    "CTY": "County council",
    "NMD": "Non-metropolitan district",
    "UA": "Unitary authority",
    "MD": "Metropolitan district",
    "LBO": "London borough",
}
RS_CLASS = {"CTY": "SC", "NMD": "SD", "UA": "UA", "MD": "MD", "LBO": "L"}
SOCIAL_CARE = {"CTY", "UA", "MD", "LBO"}
REGIONS = [
    "North East",
    "North West",
    "Yorkshire and The Humber",
    "East Midlands",
    "West Midlands",
    "East of England",
    "South East",
    "South West",
]
STEMS = ["Testshire", "Fictionton", "Sampleford", "Mockbury", "Dummerset", "Exampleham"]
# Net revenue expenditure per head (£) by type, for plausible sizes.
SPEND_PER_HEAD = {"CTY": 900, "NMD": 150, "UA": 1100, "MD": 1100, "LBO": 1100}
ASC_METRICS = {
    "ASC1": ("Outcome, ASC Carer Quality of Life", 7.6, 0.4, "desc"),
    "ASC2": ("Outcome, ASC Quality of Life", 0.4, 0.04, "desc"),
    "ASC3": ("Outcome, Ease of finding information about services : service users", 68, 6, "DESC"),
    "ASC4": ("Outcome, Ease of finding information about support : carers", 60, 6, "DESC"),
    "ASC5": ("Outcome, Outcome of short-term services: sequel to service", 78, 8, "DESC"),
    "ASC6": ("Outcome, Requests resulting in a service", 1500, 400, "None"),
    "ASC7": ("Outcome, Workforce turnover rate", 28, 5, "None"),
}
RS_YEARS = ["2015-16", "2016-17", "2017-18"]
ASC_YEARS = [f"{y}-{(y + 1) % 100:02d}" for y in range(2015, 2023)]
DE_LAST_YEAR = 2022  # the latest Data Explorer year written, 2022-23
DE_HEADER = [
    "Financial year",
    "Local authority code",
    "Local authority name",
    "Grouping",
    "Entity_Name",
    "Region",
    "Measure",
    "Code",
    "Value",
    "MEDIAN",
    "MADs_from_median",
    "rank_order",
]
CT_FIRST_YEAR = 2010
CT_LAST_YEAR = 2022
RS_FILES = {
    "2015-16": "RS_2015-16_data_by_LA_-_Revision.xlsx",
    "2016-17": "RS_2016-17_data_by_LA.xlsx",
    "2017-18": "RS_2017-18_data_by_LA_PRENOV.xlsx",
}
REGISTER_HEADER = [
    "local-authority-code",
    "official-name",
    "nice-name",
    "gss-code",
    "start-date",
    "end-date",
    "replaced-by",
    "nation",
    "region",
    "local-authority-type",
    "local-authority-type-name",
    "county-la",
    "combined-authority",
    "alt-names",
    "former-gss-codes",
    "notes",
    "current-authority",
    "ecode",
    "pop-2020",
]


@dataclass(frozen=True)
class Council:
    gss_code: str
    register_code: str
    name: str
    authority_type: str
    region: str
    population: int
    ecode: str

    @property
    def official_name(self) -> str:
        suffix = "County Council" if self.authority_type == "CTY" else "Council"
        return f"{self.name} {suffix}"


@dataclass
class Estate:
    councils: list[Council]
    distressed: set[str] = field(default_factory=set)
    section114: dict[str, date] = field(default_factory=dict)


def _register_code(index: int) -> str:
    """Four letters from QAAA on (QAAA...QZZZ, then RAAA...ZZZZ past 17,576 councils): real
    register codes have three, so these never collide."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    number = 16 * 26**3 + index  # "Q" is letter 16
    if number >= 26**4:
        raise ValueError("scale too large for four-letter fictional register codes")
    code = ""
    for _ in range(4):
        number, digit = divmod(number, 26)
        code = letters[digit] + code
    return code


def make_estate(scale: float = 1.0, seed: int = 7, distressed_share: float = 0.04) -> Estate:
    """Councils in England's type mix; `scale=1` is about 317 councils."""
    rng = random.Random(seed)
    councils: list[Council] = []
    index = 0
    for prefix, (authority_type, count) in TYPE_MIX.items():
        for number in range(max(1, round(count * scale))):
            stem = STEMS[index % len(STEMS)]
            region = "London" if authority_type == "LBO" else rng.choice(REGIONS)
            population = {
                "CTY": rng.randint(500_000, 1_500_000),
                "NMD": rng.randint(60_000, 180_000),
            }.get(authority_type, rng.randint(150_000, 450_000))
            councils.append(
                Council(
                    gss_code=f"{prefix}{900001 + number:06d}"[:9],
                    register_code=_register_code(index),
                    name=f"{stem} {index + 1}",
                    authority_type=authority_type,
                    region=region,
                    population=population,
                    ecode=f"E9{index:05d}",
                )
            )
            index += 1
    # GSS codes: 900001 upwards hold 99,999 councils per prefix (scale=100 needs 16,400);
    # E-codes E9nnnnn hold 100,000 councils; register codes 175,760 (see _register_code).
    if len({c.gss_code for c in councils}) != len(councils) or index > 100_000:
        raise ValueError("scale too large for six-digit fictional codes")
    pool = [c.gss_code for c in councils]
    distressed = set(rng.sample(pool, max(1, round(len(pool) * distressed_share))))
    section114 = {
        code: date(2018 + i % 4, 1 + (i * 5) % 12, 1 + i % 27)
        for i, code in enumerate(sorted(distressed))
        if i % 2 == 0
    }
    return Estate(councils=councils, distressed=distressed, section114=section114)


# The analysts' registers, as the shipped files and data/templates/ lay them out.
REGISTER_HEADERS: dict[str, list[str]] = {
    "audit_findings": [
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
        "date_precision",
        "date_as_stated",
        "date_basis",
        "exact_phrase",
        "finding_ref",
        "transcribed_from",
    ],
    "peer_challenges": [
        "council_code",
        "council_name",
        "challenge_date",
        "report_published_date",
        "action_plan_published_date",
        "progress_review_date",
        "source_url",
        "date_precision",
        "date_as_stated",
        "date_basis",
        "follow_up_recorded",
        "exact_phrase",
        "transcribed_from",
    ],
    "interventions": [
        "gss_code",
        "authority",
        "intervention",
        "date_or_period",
        "evidence_seen",
        "source",
        "source_quality",
        "start_date",
        "date_precision",
        "end_date",
        "date_basis",
        "source_url",
        "exact_phrase",
        "transcribed_from",
    ],
    "best_value_notices": [
        "council_code",
        "council_name",
        "event_type",
        "event_date",
        "date_precision",
        "date_as_stated",
        "date_basis",
        "detail",
        "source_url",
        "exact_phrase",
        "notice_ref",
        "transcribed_from",
    ],
    "exceptional_financial_support": [
        "decision_year_page",
        "gss_code",
        "authority",
        "headline_amount_gbp_m",
        "support_type",
        "other_years_and_revisions",
        "source_url",
        "year_list_complete_in_source",
    ],
}


def _write_csv(path: Path, header: list[str], rows: Iterable[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _neighbours(estate: Estate) -> dict[str, list[str]]:
    """Each council's 15 nearest by population among councils of its type (plus itself)."""
    by_type: dict[str, list[Council]] = {}
    for council in estate.councils:
        by_type.setdefault(council.authority_type, []).append(council)
    result: dict[str, list[str]] = {}
    for group in by_type.values():
        ordered = sorted(group, key=lambda c: c.population)
        for position, council in enumerate(ordered):
            low = max(0, min(position - 8, len(ordered) - 16))
            window = ordered[low : low + 16]
            result[council.gss_code] = sorted(c.gss_code for c in window)
    return result


def _reserve_paths(estate: Estate, rng: random.Random) -> dict[str, dict[str, dict[str, float]]]:
    """Per council and year: NRE and reserves (£000) at start and end of year."""
    paths: dict[str, dict[str, dict[str, float]]] = {}
    for council in estate.councils:
        nre = council.population * SPEND_PER_HEAD[council.authority_type] / 1000
        unallocated = nre * rng.uniform(0.06, 0.16)
        earmarked = nre * rng.uniform(0.15, 0.40)
        years: dict[str, dict[str, float]] = {}
        for year in RS_YEARS:
            spend = nre * rng.uniform(0.98, 1.04)
            if council.gss_code in estate.distressed:
                unallocated_end = unallocated * rng.uniform(0.45, 0.6)
                earmarked_end = earmarked * rng.uniform(0.6, 0.75)
            else:
                unallocated_end = unallocated * rng.uniform(0.95, 1.08)
                earmarked_end = earmarked * rng.uniform(0.9, 1.1)
            years[year] = {
                "nre": round(spend, 3),
                "unallocated_start": round(unallocated),
                "unallocated_end": round(unallocated_end),
                "earmarked_start": round(earmarked),
                "earmarked_end": round(earmarked_end),
                "schools_start": round(nre * 0.02),
                "schools_end": round(nre * 0.02),
                "public_health_start": round(nre * 0.005),
                "public_health_end": round(nre * 0.005),
            }
            unallocated, earmarked, nre = unallocated_end, earmarked_end, spend
        paths[council.gss_code] = years
    return paths


def _write_rs_workbook(path: Path, year: str, estate: Estate, values: dict) -> None:
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    book.add_worksheet("Front Page").write(0, 0, "Fictional Revenue Outturn (test data)")
    book.add_worksheet("LA drop-down")
    sheet = book.add_worksheet(f"RS LA Data {year}")
    sheet.write(0, 0, f"Revenue Outturn (RO) {year}: Revenue Outturn Summary (RS) data")
    sheet.write(1, 0, "Net current expenditure (£ thousand)")
    sheet.write(4, 0, "FICTIONAL")
    estimated = "Estimated " if year != "2016-17" else ""
    header = [
        "E-code",
        "ONS Code",
        "Local authority",
        None,
        "Class",
        "Education services",
        "NET REVENUE EXPENDITURE",
        f"{estimated}schools reserves level at 1 April",
        f"{estimated}public health financial reserves level at 1 April",
        f"{estimated}other earmarked financial reserves level at 1 April",
        f"{estimated}unallocated financial reserves level at 1 April",
        f"{estimated}schools reserves level at 31 March",
        f"{estimated}public health financial reserves level at 31 March",
        f"{estimated}other earmarked financial reserves level at 31 March",
        f"{estimated}unallocated financial reserves level at 31 March",
    ]
    for column, text in enumerate(header):
        if text is not None:
            sheet.write(6, column, text)
    row = 7
    for council in estate.councils:
        v = values.get(council.gss_code, {}).get(year)
        if v is None:
            continue  # no return from this council for this year
        nre = v.get("nre")
        cells = [
            council.ecode,
            council.gss_code,
            council.name,
            None,
            RS_CLASS[council.authority_type],
            None if nre is None else round(nre * 0.3),
            nre,
            *(
                v.get(f"{kind}_{when}")
                for when in ("start", "end")
                for kind in ("schools", "public_health", "earmarked", "unallocated")
            ),
        ]
        for column, cell in enumerate(cells):
            if cell is not None:
                sheet.write(row, column, cell)
        row += 1
    sheet.write(row + 1, 2, "ENGLAND")
    sheet.write(row + 3, 0, "Source: fictional test data")
    book.close()


def _quarter_headers() -> list[tuple[str, int, int]]:
    """(header, financial year start, fiscal quarter) for every quarter in the CT table."""
    names = [
        ("April to June", 0, 1),
        ("July to September", 0, 2),
        ("October to December", 0, 3),
        ("January to March", 1, 4),
    ]
    return [
        (f"{label} {year + offset} (Q{quarter})", year, quarter)
        for year in range(CT_FIRST_YEAR, CT_LAST_YEAR + 1)
        for label, offset, quarter in names
    ]


def _write_ct_workbook(path: Path, estate: Estate, rng: random.Random) -> None:
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    for name in ("Cover", "Contents", "Notes", "Table_1", "Table_2", "Table_3", "Table_4"):
        book.add_worksheet(name)
    sheet = book.add_worksheet("Table_5")
    sheet.write(0, 0, "Table 5: Receipts of council tax (fictional test data)")
    quarters = _quarter_headers()
    header = ["E-code", "ONS Code", "Local authority", "Class", "Region"] + [q[0] for q in quarters]
    for column, text in enumerate(header):
        sheet.write(5, column, text)
    sheet.write_row(6, 0, ["Eng", "E92000001", "England", "Eng", "Eng"])
    row = 7
    for council in estate.councils:
        if council.authority_type == "CTY":
            continue  # counties do not bill council tax
        annual = council.population * 0.6
        growth = rng.uniform(0.02, 0.05)
        sheet.write_row(
            row,
            0,
            [council.ecode, council.gss_code, council.name, RS_CLASS[council.authority_type], "X"],
        )
        for column, (_, year, quarter) in enumerate(quarters, start=5):
            share = 0.15 if quarter == 4 else 0.283
            sheet.write(
                row, column, round(annual * (1 + growth) ** (year - CT_FIRST_YEAR) * share, 2)
            )
        row += 1
    book.add_worksheet("LA_List")
    book.close()


def _de_years(years: int) -> list[str]:
    """The `years` Data Explorer years ending 2022-23, oldest first."""
    if years < 1:
        raise ValueError("years must be at least 1")
    first = DE_LAST_YEAR - years + 1
    return [f"{y}-{(y + 1) % 100:02d}" for y in range(first, DE_LAST_YEAR + 1)]


def _de_frame(columns: dict[str, list | object], height: int) -> pl.DataFrame:
    """A block of Data Explorer rows as text columns; MEDIAN and MADs are left empty."""
    frame = pl.DataFrame(
        {
            name: (values if isinstance(values, list | pl.Series) else [values] * height)
            for name, values in columns.items()
        },
        schema=dict.fromkeys(columns, pl.String),
    )
    return frame.with_columns(
        pl.lit(None, dtype=pl.String).alias("MEDIAN"),
        pl.lit(None, dtype=pl.String).alias("MADs_from_median"),
    ).select(DE_HEADER)


def _write_data_explorer(
    path: Path,
    estate: Estate,
    rng: random.Random,
    seed: int,
    metrics_per_council: int,
    years: int,
) -> None:
    """The Data Explorer long CSV (as the csv module writes it: CRLF, minimal quoting), one
    block per year, metric and council in that order.

    The default years and ASC metrics draw on `rng` exactly as they always have, so the files
    written after this one do not change; extra years and the fictional `SYN` metrics draw on
    their own numpy generator, vectorised, so `scale=100` with 60 metrics over 10 years (about
    18 million rows) is written in a few tens of seconds, one year at a time."""
    if metrics_per_council < 1:
        raise ValueError("metrics_per_council must be at least 1")
    asc = dict(list(ASC_METRICS.items())[:metrics_per_council])
    n_synthetic = max(0, metrics_per_council - len(ASC_METRICS))
    social = [c for c in estate.councils if c.authority_type in SOCIAL_CARE]
    extra_rng = None

    def extra() -> object:
        nonlocal extra_rng
        if extra_rng is None:
            import numpy as np

            extra_rng = np.random.default_rng([seed, zlib.crc32(b"data explorer extras")])
        return extra_rng

    def council_columns(councils: list[Council]) -> dict[str, list]:
        return {
            "Local authority code": [c.gss_code for c in councils],
            "Local authority name": [c.name for c in councils],
            "Entity_Name": [TYPE_NAMES[c.authority_type] for c in councils],
            "Region": [c.region for c in councils],
        }

    social_columns = council_columns(social)
    all_columns = council_columns(estate.councils) if n_synthetic else {}
    social_distressed = [c.gss_code in estate.distressed for c in social]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write((",".join(DE_HEADER) + "\r\n").encode("utf-8"))
        for year in _de_years(years):
            blocks: list[pl.DataFrame] = []
            for metric_id, (measure, mean, spread, order) in asc.items():
                ceiling = {"ASC1": 12.0, "ASC2": 1.0, "ASC6": 100_000.0}.get(metric_id, 100.0)
                if year in ASC_YEARS:
                    values = []
                    for c in social:
                        value = min(ceiling, max(0.0, rng.gauss(mean, spread)))
                        if c.gss_code in estate.distressed and metric_id == "ASC7":
                            value = mean + 3 * spread
                        values.append(repr(round(value, 3)))
                    text = pl.Series(values, dtype=pl.String)
                else:
                    drawn = extra().normal(mean, spread, len(social)).clip(0.0, ceiling)
                    if metric_id == "ASC7":
                        drawn[social_distressed] = mean + 3 * spread
                    text = pl.Series(drawn.round(3)).cast(pl.String)
                columns = {
                    "Financial year": year,
                    **social_columns,
                    "Grouping": "LA_Raw",
                    "Measure": measure,
                    "Code": metric_id,
                    "Value": text,
                    "rank_order": order,
                }
                blocks.append(_de_frame(columns, len(social)))
            for number in range(1, n_synthetic + 1):
                mean = 10.0 + 5.0 * number
                drawn = extra().normal(mean, mean / 10, len(estate.councils)).clip(0.0, None)
                columns = {
                    "Financial year": year,
                    **all_columns,
                    "Grouping": "LA_Raw",
                    "Measure": f"Synthetic metric {number:03d}",
                    "Code": f"SYN{number:03d}",
                    "Value": pl.Series(drawn.round(3)).cast(pl.String),
                    "rank_order": "None",
                }
                blocks.append(_de_frame(columns, len(estate.councils)))
            if blocks:
                pl.concat(blocks).write_csv(
                    handle, include_header=False, line_terminator="\r\n", quote_style="necessary"
                )


def write_estate(
    data_dir: Path,
    estate: Estate,
    seed: int = 7,
    reserves: dict[str, dict[str, dict[str, float]]] | None = None,
    neighbours: dict[str, list[str]] | None = None,
    metrics_per_council: int = len(ASC_METRICS),
    years: int = len(ASC_YEARS),
    finance_metrics: dict[str, dict[str, dict[str, float | str]]] | None = None,
    spending_power: dict[str, dict[int, float]] | None = None,
) -> None:
    """Write every source the catalogue names, in its real format, under `data_dir`.

    `reserves` ({gss: {"2017-18": {"nre", "unallocated_start", "unallocated_end",
    "earmarked_start", "earmarked_end", "schools_start", ...}}}) and `neighbours` replace the
    generated figures, for tests that need exact numbers. `metrics_per_council` and `years`
    size the Data Explorer file (see the module docstring); the defaults write the seven adult
    social care metrics for 2015-16 to 2022-23. `finance_metrics` ({gss: {"2019-20": {"NRE":
    ..., "Gross Borrowing": ...}}}, headers of LA_METRICS_HEADER) and `spending_power` ({gss:
    {2019: £m}}) fill the finance-metrics JSON and core spending power CSV, which are otherwise
    written with no councils; the 2010-11 to 2014-15 Revenue Outturn workbooks are written
    with no councils."""
    rng = random.Random(seed)
    sources = data_dir / "sources"
    _write_csv(
        sources / "mysociety_la_codes" / "uk_local_authorities_current.csv",
        REGISTER_HEADER,
        (
            [
                c.register_code,
                c.official_name,
                c.name,
                c.gss_code,
                "",
                "",
                "",
                "England",
                c.region,
                c.authority_type,
                TYPE_NAMES[c.authority_type],
                "",
                "",
                c.name,
                "",
                "fictional council for testing",
                "True",
                c.ecode,
                f"{c.population}.0",
            ]
            for c in estate.councils
        ),
    )
    _write_csv(
        sources / "mysociety_la_codes" / "lookup_gss_to_registry.csv",
        ["gss-code", "local-authority-code"],
        ([c.gss_code, c.register_code] for c in estate.councils),
    )
    _write_csv(
        sources / "mysociety_la_codes" / "lookup_name_to_registry.csv",
        ["la-name", "local-authority-code"],
        ([name, c.register_code] for c in estate.councils for name in (c.name, c.official_name)),
    )
    neighbours = neighbours if neighbours is not None else _neighbours(estate)
    path = sources / "oflog_asc" / "NN.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(neighbours), encoding="utf-8")
    _write_data_explorer(
        sources / "oflog_asc" / "ASC_data.csv", estate, rng, seed, metrics_per_council, years
    )
    generated = _reserve_paths(estate, rng)
    reserves = {**generated, **(reserves or {})}
    for year, name in RS_FILES.items():
        _write_rs_workbook(sources / "bbc_council_reserves" / name, year, estate, reserves)
    _write_ct_workbook(
        sources / "ct_receipts" / "CT_Receipts_Live_Table_Q4_2022-23.xlsx", estate, rng
    )
    write_live_tables(sources, estate)
    write_prudential(sources, estate)
    write_capital_returns(sources, estate)
    names = {c.gss_code: c.name for c in estate.councils}
    _write_csv(
        sources / "registers" / "section114_notices.csv",
        [
            "gss_code",
            "authority",
            "notice_date",
            "date_precision",
            "notice_number",
            "note",
            "source",
            "source_quality",
        ],
        (
            [
                code,
                names[code],
                when.isoformat(),
                "day",
                "",
                "fictional",
                "https://example.org/s114",
                "fictional",
            ]
            for code, when in sorted(estate.section114.items())
        ),
    )
    _write_csv(
        sources / "registers" / "interventions_seen.csv",
        [
            "gss_code",
            "authority",
            "intervention",
            "date_or_period",
            "evidence_seen",
            "source",
            "source_quality",
        ],
        [],
    )
    _write_csv(sources / "registers" / "interventions.csv", REGISTER_HEADERS["interventions"], [])
    _write_csv(sources / "registers" / "audit_findings.csv", REGISTER_HEADERS["audit_findings"], [])
    _write_csv(
        sources / "registers" / "best_value_notices.csv",
        REGISTER_HEADERS["best_value_notices"],
        [],
    )
    _write_csv(
        sources / "registers" / "exceptional_financial_support_2020_2024.csv",
        REGISTER_HEADERS["exceptional_financial_support"],
        [],
    )
    _write_csv(
        sources / "registers" / "analyst_notes.csv",
        [
            "council_code",
            "council_name",
            "note_date",
            "category",
            "note",
            "shareable",
            "recorded_by",
        ],
        [],
    )
    for year, name in OLD_RS_FILES.items():
        write_old_rs_workbook(sources / "revenue_outturn_2010_2015" / name, year, estate, {})
    write_la_finance_metrics(
        sources / "la_finance_metrics" / "la-metrics-data.json", estate, finance_metrics or {}
    )
    write_core_spending_power(
        sources / "core_spending_power" / "CSP_long_201520.csv", estate, spending_power or {}
    )
    _write_csv(
        sources / "registers" / "peer_challenges.csv", REGISTER_HEADERS["peer_challenges"], []
    )
    write_service_outcomes(data_dir)


# --------------------------------------------------------------------------------------------
# Service outcomes: waste, road condition, adult skills, Ofsted. By default the files hold their
# real layout with no rows (an estate with no service data); tests pass fictional rows.
# --------------------------------------------------------------------------------------------

WASTE_HEADER = [
    "Year",
    "Region",
    "ONS code",
    "Jpp Order",
    "Authority",
    "Authority type",
    "Residual household waste per household (kg/household) (Ex NI191)",
    "Percentage of household waste sent for reuse, recycling or composting (Ex NI192)",
    "Percentage of municipal waste sent to landfill (Ex NI193)",
    "Collected household waste per person (kg) (Ex BVPI 84a)",
]
ROAD_YEARS = list(range(2008, 2026))
ROAD_HEADER = [
    "ONS Area Code",
    "Region",
    "Local Authority",
    *[f"FYE {y}" for y in ROAD_YEARS],
    "Notes",
]
ROAD_SHEETS = {"a": "RDC0120_A_Roads_and_Motorways", "bc": "RDC0120_B_and_C_Roads"}
SKILLS_HEADER = [
    "areacd",
    "areanm",
    "geography",
    "indicator",
    "period",
    "observation",
    "measure",
    "unit",
    "lci_95",
    "uci_95",
    "status",
    "notes",
]
SKILLS_FILES = {
    "further-education-and-skills-participation.csv": "Further education and skills participation",
    "further-education-and-skills-learner-achievements.csv": (
        "Further education and skills learner achievements"
    ),
    "apprenticeships.csv": "Apprenticeship starts (England)",
}
ILACS_HEADER = [
    "urn",
    "local_authority",
    "inspection_link",
    "pdf_filename",
    "publication_date",
    "inspection_framework",
    "inspector_name",
    "inspection_start_date",
    "inspection_end_date",
    "overall_effectiveness_grade",
    "impact_of_leaders_grade",
    "help_and_protection_grade",
    "in_care_grade",
    "care_leavers_grade",
    "parser_version",
]
OFSTED_MI_HEADER = [
    "URN",
    "Name",
    "Five-Year Ofsted Inspection Data publish date",
    "Publication type",
    "Remit",
    "As at date",
    "Published date",
    "Government office region",
    "Local authority area",
    "Constituency",
    "Provider type",
    "Provision type",
    "Sector",
    "Deprivation index",
    "Overall effectiveness",
    "Impact of Leaders",
    "Experiences and progress of children who need help and protection",
    "Experiences and progress of children in care",
    "Experiences and progress of care leavers",
]
SERVICE_PATHS = {
    "waste": "sources/service_outcomes/waste-data.ods",
    "roads": "sources/service_outcomes/road-condition-data.ods",
    "ofsted_mi": "sources/service_outcomes/ofsted-data.ods",
    "ilacs": "sources/ofsted_ilacs/ofsted_csc_ilacs_history.csv",
}

_ODS = "urn:oasis:names:tc:opendocument:xmlns:{}:1.0"
_ODS_MIME = "application/vnd.oasis.opendocument.spreadsheet"


def _ods_cell(value: object) -> str:
    from xml.sax.saxutils import escape, quoteattr

    if value is None or value == "":
        return "<table:table-cell/>"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value!r}">'
            f"<text:p>{value!r}</text:p></table:table-cell>"
        )
    text = str(value)
    return (
        f'<table:table-cell office:value-type="string" office:string-value={quoteattr(text)}>'
        f"<text:p>{escape(text)}</text:p></table:table-cell>"
    )


def write_ods(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    """A minimal OpenDocument spreadsheet (what calamine reads): one table per sheet, numbers
    as floats, text as strings, None as an empty cell."""
    import zipfile
    from xml.sax.saxutils import quoteattr

    tables = "".join(
        f"<table:table table:name={quoteattr(name)}>"
        + "".join(
            "<table:table-row>" + "".join(_ods_cell(v) for v in row) + "</table:table-row>"
            for row in rows
        )
        + "</table:table>"
        for name, rows in sheets.items()
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<office:document-content xmlns:office="{_ODS.format("office")}" '
        f'xmlns:table="{_ODS.format("table")}" xmlns:text="{_ODS.format("text")}" '
        'office:version="1.2"><office:body><office:spreadsheet>'
        f"{tables}</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{_ODS_MIME}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as book:
        # The mimetype comes first and uncompressed, as the format requires.
        book.writestr(zipfile.ZipInfo("mimetype"), _ODS_MIME, compress_type=zipfile.ZIP_STORED)
        book.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        book.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)


def write_service_outcomes(
    data_dir: Path,
    waste: Iterable[list[object]] = (),
    roads_a: Iterable[list[object]] = (),
    roads_bc: Iterable[list[object]] = (),
    skills: dict[str, list[list[object]]] | None = None,
    ilacs: Iterable[list[object]] = (),
    ofsted_mi: Iterable[list[object]] = (),
) -> None:
    """The service-outcome files in their real layouts, holding the given rows (each in the
    file's own columns: WASTE_HEADER, ROAD_HEADER, SKILLS_HEADER, ILACS_HEADER,
    OFSTED_MI_HEADER), with the title rows above each table and notes below, as published."""
    sources = data_dir / "sources"
    write_ods(
        sources.parent / SERVICE_PATHS["waste"],
        {
            "Index": [["Fictional waste statistics for testing"]],
            "Table_3": [
                ["Table 3: Selected Waste Indicators (fictional)"],
                [],
                [],
                WASTE_HEADER,
                *waste,
                [],
                ["Notes:"],
                ["Fictional notes below the table."],
            ],
        },
    )
    write_ods(
        sources.parent / SERVICE_PATHS["roads"],
        {
            "Cover_page": [["RDC0120 (fictional)"]],
            **{
                ROAD_SHEETS[kind]: [
                    ["Percentage of road length where maintenance should be considered"],
                    ["This worksheet contains one table."],
                    ["Shorthand is used in this table."],
                    ["Figures in this table are in percent for financial year ending (FYE)"],
                    ROAD_HEADER,
                    *rows,
                ]
                for kind, rows in (("a", roads_a), ("bc", roads_bc))
            },
        },
    )
    write_ods(
        sources.parent / SERVICE_PATHS["ofsted_mi"],
        {
            "Cover": [["Five-Year Ofsted Inspection Data (fictional)"]],
            "Provider_level_data": [
                ["Five-Year Ofsted Inspection Data: Local authority children's services"],
                ["This worksheet contains one table."],
                OFSTED_MI_HEADER,
                *ofsted_mi,
            ],
        },
    )
    _write_csv(sources.parent / SERVICE_PATHS["ilacs"], ILACS_HEADER, ilacs)
    for name in SKILLS_FILES:
        _write_csv(sources / "service_outcomes" / name, SKILLS_HEADER, (skills or {}).get(name, []))


# ---------------------------------------------------------------------------------------------
# Finance after 2017-18, core spending power, and the 2010-11 to 2014-15 Revenue Outturn
# ---------------------------------------------------------------------------------------------

OLD_RS_FILES = {
    "2010-11": "Revenue_Outturn_Summary__RS__data_2010-11_by_LA_-_27-Nov-2012-v2.xls",
    "2011-12": "Revenue_Outturn_Summary__RS__data_2011-12_by_LA_-_Revised_28-Nov-2013.xls",
    "2012-13": "Revenue_Outturn_Summary__RS__data_2012-13_by_LA__Revised__-_18-Feb-2014.xls",
    "2013-14": "Revenue_Outturn_Summary__RS__data_2013-14_by_LA_-_Revised_28-Jan-2015.xls",
    "2014-15": "Revenue_Outturn_Summary__RS__data_2014-15_by_LA_-_02-Feb-2016.xls",
}
LA_METRICS_HEADER = [
    "Year",
    "ONS",
    "LA Code",
    "Name",
    "Status",
    "Class",
    "ID",
    "NRE",
    "Grants",
    "Interest",
    "Reserves",
    "MRP",
    "CFR",
    "Gross Borrowing",
    "OLTL",
    "External Debt",
    "Investments",
    "Net External Debt",
    "Operational Boundary",
    "Authorised Limit",
    "Short Term Loans",
    "Loans",
]
LA_METRICS_CLASS = {
    "CTY": "Shire County",
    "NMD": "Shire District",
    "UA": "Unitary Authority",
    "MD": "Met District",
    "LBO": "London",
}
CSP_HEADER = [
    "ons_code",
    "authority",
    "region",
    "year",
    "sfa",
    "under_index",
    "ct_total",
    "nhb",
    "nhb_return",
    "rsdg",
    "total_spend",
]


def la_metrics_document(rows: list[list[str]]) -> dict:
    """The finance-metrics JSON around a table (header row first), with its MD5 as published:
    of the compact JSON of the rows."""
    import hashlib

    digest = hashlib.md5(json.dumps(rows, separators=(",", ":")).encode("utf-8")).hexdigest()
    return {
        "data": {
            "metadata": {"colCount": len(rows[0]), "hash": digest, "source": "fictional"},
            "values": rows,
        },
        "key": "la-metrics-data",
        "success": True,
    }


def write_la_finance_metrics(
    path: Path, estate: Estate, figures: dict[str, dict[str, dict[str, float | str]]]
) -> None:
    """One row per council and year in `figures` ({gss: {"2019-20": {header: value}}}); every
    cell a string, as published; a header not given is written "0"."""
    by_code = {c.gss_code: c for c in estate.councils}
    rows: list[list[str]] = [list(LA_METRICS_HEADER)]
    for code, years in figures.items():
        council = by_code[code]
        for period, values in sorted(years.items()):
            year_end = f"{int(period[:4]) + 1}03"
            cells = {
                "Year": year_end,
                "ONS": council.gss_code,
                "LA Code": council.ecode,
                "Name": council.name,
                "Status": "Actual",
                "Class": LA_METRICS_CLASS[council.authority_type],
                "ID": f"{year_end}{council.ecode}",
            }
            rows.append([_cell(values.get(h, cells.get(h, "0"))) for h in LA_METRICS_HEADER])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(la_metrics_document(rows), separators=(",", ":")), "utf-8")


def _cell(value: float | str) -> str:
    """A figure as the compilation writes it: whole numbers without a decimal point."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def write_core_spending_power(
    path: Path, estate: Estate, totals: dict[str, dict[int, float]]
) -> None:
    """Core spending power (£ million) per council and year (2019 = 2019-20); the components
    are written as the whole total in council tax, which the pipeline does not use."""
    by_code = {c.gss_code: c for c in estate.councils}
    _write_csv(
        path,
        CSP_HEADER,
        (
            [code, by_code[code].name, "SE", year, 0, 0, total, 0, 0, 0, total]
            for code, years in totals.items()
            for year, total in sorted(years.items())
        ),
    )


def write_old_rs_workbook(path: Path, year: str, estate: Estate, values: dict) -> None:
    """A Revenue Outturn summary in the 2010-11 to 2014-15 layout: tab "(1)" with net revenue
    expenditure and reserves at 1 April, tab "(2)" with reserves at 31 March, each header under
    a block label on the row above. `values` as for the later workbooks ({gss: {year: {...}}}).
    xlsxwriter writes .xlsx only, so the fictional file is an .xlsx under the real .xls name:
    the reader tells the format from the content."""
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    first, second = int(year[:4]), int(year[:4]) + 1
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    book.add_worksheet("Front page").write(0, 0, "Fictional Revenue Outturn (test data)")
    book.add_worksheet(f"RS{year[2:4]} LA drop-down")
    for tab, when, label in (
        ("(1)", "start", f"Financial reserves levels at 1 April {first}"),
        ("(2)", "end", f"Financial reserves levels at 31 March {second}"),
    ):
        sheet = book.add_worksheet(f"RS LA Data {year} {tab}")
        sheet.write(0, 0, f"Revenue Outturn Summary (RS): {year} data")
        header = [
            "E-code",
            "Local authority",
            None,
            "Class",
            "Education services",
            "NET REVENUE EXPENDITURE (TOTAL OF LINES 800 TO 804)",
            "Schools reserves level",
            "Other earmarked financial reserves level",
            "Unallocated financial reserves level",
            "Prior Year Adjustments",
        ]
        sheet.write(4, 6, label)
        for column, text in enumerate(header):
            if text is not None:
                sheet.write(5, column, text)
        row = 7  # the real workbooks leave a blank row under the header
        for council in estate.councils:
            v = values.get(council.gss_code, {}).get(year)
            if v is None:
                continue
            nre = v.get("nre") if tab == "(1)" else 0
            cells = [
                council.ecode,
                council.name,
                None,
                RS_CLASS[council.authority_type],
                None,
                nre,
                v.get(f"schools_{when}"),
                v.get(f"earmarked_{when}"),
                v.get(f"unallocated_{when}"),
                0,
            ]
            for column, cell in enumerate(cells):
                if cell is not None:
                    sheet.write(row, column, cell)
            row += 1
        sheet.write(row + 1, 1, "ENGLAND")
    book.close()


# ---- Debt (appended): Borrowing and Investment live tables, capital outturn prudential data ----

LIVE_TABLE_BORROWING_HEADERS = [
    "Loans short term - Banks in UK",
    "Loans short term - Building Societies",
    "Loans short term - Other financial intermediaries",
    "Loans short term - Public corporations",
    "Loans short term - Private non-financial corporations",
    "Loans short term - Central Government",
    "Loans short term - Households sector",
    "Loans short term - Other Sources",
    "Securities - Negotiable bonds & commercial paper",
    "Securities - Other stock issues",
    "Loans Longer-term - PWLB (a)",
    "Loans Longer-term - Banks in UK",
    "Loans Longer-term - Building Societies",
    "Loans Longer-term - Other financial intermediaries",
    "Loans Longer-term - Public corporations",
    "Loans Longer-term - Private non-financial corporations",
    "Loans Longer-term - Central Government",
    "Loans Longer-term - Households sector",
    "Loans Longer-term - Other Sources",
    "Short Term Loans Local Authorities",
    "Longer Term Loans Local Authorities",
]
LIVE_TABLE_INVESTMENT_HEADERS = [
    "Deposits: banks",
    "Deposits: building societies",
    "Certificates of deposit: banks",
    "Certificates of deposit: building societies",
    "Treasury bills",
    "British Government (Gilt-edge) securities",
    "Debt Management Account deposit facility (a)",
    "Money market funds",
    "Externally managed funds",
    "Other financial intermediaries",
    "Public corporations",
    "Other investments",
    "Loans Local Government",
]
LIVE_TABLE_CLASS = {"CTY": "SC", "NMD": "SD", "UA": "UNIT", "MD": "MD", "LBO": "OLB"}
PRUDENTIAL_YEARS = [f"{y}-{(y + 1) % 100:02d}" for y in range(2004, 2020)]
_MONTH_NAMES = {3: "March", 6: "June", 9: "September", 12: "December"}


def live_table_date(sheet: str) -> date:
    """The date a live-table tab stands at, from its name: "LA Borrowing 19-20 Q4" is 31 March
    2020, "LA Borrowing 17-18" 31 March 2018, "LA Borrowing Q3 16-17" 31 December 2016."""
    years = re.search(r"(\d\d)-(\d\d)", sheet)
    quarter = re.search(r"Q([1-4])", sheet)
    assert years is not None, sheet
    start = 2000 + int(years.group(1))
    q = int(quarter.group(1)) if quarter else 4
    month = {1: 6, 2: 9, 3: 12, 4: 3}[q]
    year = start if month > 3 else start + 1
    return date(year, month, 31 if month in (3, 12) else 30)


def live_table_borrowing(council: Council, when: date) -> list[float]:
    """A fictional council's borrowing by lender (£000) at a date, in LIVE_TABLE_BORROWING_HEADERS
    order: PWLB and loans from other councils grow each year; a district borrows less."""
    digits = int(re.sub(r"\D", "", council.gss_code)[-4:])
    base = (1_000 + digits % 97 * 100) * (0.3 if council.authority_type == "NMD" else 1.0)
    grow = 1 + 0.05 * (when.year - 2009)
    values = [0.0] * len(LIVE_TABLE_BORROWING_HEADERS)
    values[10] = round(base * 10 * grow)  # PWLB
    values[19] = round(base * (digits % 3) * grow)  # short-term from other councils
    values[20] = round(base * (digits % 2) * grow)  # longer-term from other councils
    values[0] = float(digits % 5 * 10)  # short-term from banks
    return values


def live_table_investments(council: Council, when: date) -> list[float]:
    digits = int(re.sub(r"\D", "", council.gss_code)[-4:])
    values = [0.0] * len(LIVE_TABLE_INVESTMENT_HEADERS)
    values[0] = float(500 + digits % 41 * 10)
    values[7] = float(100 * (when.year - 2008))
    return values


def _write_live_table(path: Path, header_row: int, sheets: dict[str, str], estate: Estate) -> None:
    """One edition of the live table: every tab the catalogue lists, the date in its title."""
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    book.add_worksheet("Index").write(0, 0, "Fictional Borrowing and Investment (test data)")
    for name, kind in sheets.items():
        when = live_table_date(name)
        sheet = book.add_worksheet(name)
        noun = "borrowing" if kind == "borrowing" else "investments"
        sheet.write(0, 0, f"Outstanding {noun} by local authority and category, as at "
                    f"{when.day} {_MONTH_NAMES[when.month]} {when.year}, UK")  # fmt: skip
        headers = (
            LIVE_TABLE_BORROWING_HEADERS if kind == "borrowing" else LIVE_TABLE_INVESTMENT_HEADERS
        )
        sheet.write_row(
            header_row - 1,
            0,
            ["LGF code", "Local authority name", *headers, "Country", "Class of authority",
             "ONS code"],
        )  # fmt: skip
        row = header_row
        sheet.write_row(row, 0, ["ENG", "England"])
        row += 1
        for council in estate.councils:
            values = (
                live_table_borrowing(council, when)
                if kind == "borrowing"
                else live_table_investments(council, when)
            )
            sheet.write_row(
                row,
                0,
                [council.ecode, council.name, *values, "ENG",
                 LIVE_TABLE_CLASS[council.authority_type], council.gss_code],
            )  # fmt: skip
            row += 1
        sheet.write_row(row, 0, ["E9999Z", "Fictional Police and Crime Commissioner"])
    book.close()


def write_live_tables(sources: Path, estate: Estate) -> None:
    """Both editions the catalogue names, each with its borrowing and investment tabs."""
    from pipelines.catalogue import load_catalogue

    catalogue = load_catalogue()
    borrowing, investments = (
        catalogue["borrowing_live_table"],
        catalogue["investments_live_table"],
    )
    for b_file, i_file in zip(borrowing.files, investments.files, strict=True):
        sheets = {s: "borrowing" for s in b_file.sheets} | {s: "investments" for s in i_file.sheets}
        _write_live_table(sources.parent / b_file.path, b_file.header_row, sheets, estate)


def prudential_value(council: Council, variable: str, year: str) -> float:
    """A fictional council's prudential indicator, £ million."""
    digits = int(re.sub(r"\D", "", council.gss_code)[-4:])
    start = int(year[:4])
    base = 20 + digits % 53
    factor = {"CFR, 31 March": 1.2, "Gross debt, 31 March": 1.0}[variable]
    return round(base * factor * (1 + 0.04 * (start - 2004)), 3)


def write_prudential(sources: Path, estate: Estate) -> None:
    """The capital outturn prudential indicators (names only, £ million) and its name lookup."""
    rows: list[list[object]] = []
    for council in estate.councils:
        for variable in ("CFR, 31 March", "Gross debt, 31 March"):
            rows.append(
                [council.name, "Prudential", variable.split(",")[0].replace("Gross debt",
                 "Liabilities"), variable, "GPBmillions", "Outturn"]
                + [prudential_value(council, variable, y) for y in PRUDENTIAL_YEARS[:-1]]
                + [""]
            )  # fmt: skip
            rows.append(
                [council.name, "Prudential", "CFR", variable, "GPBmillions", "Budget"]
                + [""] * 13
                + [prudential_value(council, variable, y) * 1.1 for y in PRUDENTIAL_YEARS[13:]]
            )
    rows.append(["England_353", "Prudential", "CFR", "CFR, 31 March", "GPBmillions", "Outturn"]
                + [1.0] * len(PRUDENTIAL_YEARS))  # fmt: skip
    _write_csv(
        sources / "capital_outturn" / "Prudential_indicators_wide.csv",
        ["LA", "data_set", "Variable_type", "Variable", "Units", "basis", *PRUDENTIAL_YEARS],
        rows,
    )
    _write_csv(
        sources / "capital_outturn" / "la_names_lookup.csv",
        ["original_LA_name", "continuity_LA_name"],
        ([c.name.lower().replace(" ", "_"), c.name] for c in estate.councils),
    )


CAPITAL_RETURN_CLASS = {"CTY": "SC", "NMD": "SD", "UA": "UA", "MD": "MD", "LBO": "LB"}


def capital_return_values(council: Council, period: str) -> dict[str, float]:
    """A fictional council's COR/CER part C figures for a year, £000."""
    digits = int(re.sub(r"\D", "", council.gss_code)[-4:])
    grow = 1 + 0.05 * (int(period[:4]) - 2017)
    cfr = round((50_000 + digits % 61 * 1_000) * grow)
    borrowing = round(cfr * 0.8)
    return {
        "cfr_start": cfr - 1_000,
        "cfr_end": cfr,
        "mrp": round(cfr * 0.02),
        "gross_borrowing_start": borrowing - 800,
        "gross_borrowing_end": borrowing,
        "other_long_term_liabilities_start": 100,
        "other_long_term_liabilities_end": 100,
        "investments_start": 5_000,
        "investments_end": 5_000 + digits % 7 * 100,
        "net_external_debt_end": borrowing + 100 - 5_000 - digits % 7 * 100,
        "authorised_limit_end": round(cfr * 1.5),
    }


def _capital_return_headers(period: str) -> dict[str, str]:
    start, end = f"1 April {period[:4]}", f"31 March {int(period[:4]) + 1}"
    return {
        "cfr_start": f"Capital Financing Requirement as at {start}",
        "mrp": "Minimum Revenue Provision",
        "cfr_end": f"Capital Financing Requirement as at {end}",
        "gross_borrowing_start": f"Gross borrowing as at {start}",
        "gross_borrowing_end": f"Gross borrowing as at {end}",
        "other_long_term_liabilities_start": f"Other long-term liabilities as at {start}",
        "other_long_term_liabilities_end": f"Other long-term liabilities as at {end}",
        "investments_start": f"Investments as at {start}",
        "investments_end": f"Investments as at {end}",
        "net_external_debt_end": f"Net external debt as at {end}",
        "authorised_limit_end": f"Authorised limit for gross external debt at {end}",
    }


def write_capital_returns(sources: Path, estate: Estate) -> None:
    """Every COR/CER part C workbook the catalogue names, each tab with the columns its sources
    read (a tab two sources share gets both sets), header on row 5, a footnote below."""
    import xlsxwriter

    from pipelines.catalogue import load_catalogue

    catalogue = load_catalogue()
    tabs: dict[str, dict[str, tuple[str, list[str]]]] = {}
    for source in ("capital_outturn_cfr", "capital_outturn_borrowing"):
        spec = catalogue[source]
        wanted = [c for c in spec.columns if c not in ("ecode", "council_code", "council_name",
                                                       "authority_class")]  # fmt: skip
        for file in spec.files:
            assert file.sheet is not None and file.period is not None
            period, columns = tabs.setdefault(file.path, {}).get(file.sheet, (file.period, []))
            tabs[file.path][file.sheet] = (period, [*columns, *wanted])
    for relative, sheets in tabs.items():
        path = sources.parent / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        book = xlsxwriter.Workbook(str(path))
        book.add_worksheet("Front Page").write(0, 0, "Fictional capital returns (test data)")
        for name, (period, columns) in sheets.items():
            headers = _capital_return_headers(period)
            sheet = book.add_worksheet(name)
            sheet.write(0, 0, "la_lgf_code")  # the real tabs start with a row of field codes
            sheet.write(1, 0, f"Fictional part C, {period}")
            sheet.write(2, 0, "All figures in £ thousand")
            sheet.write_row(4, 0, ["LGF Code", "ONS Code", "LA Name", "Class", "Subclass",
                                   *(headers[c] for c in columns)])  # fmt: skip
            row = 5
            for council in estate.councils:
                values = capital_return_values(council, period)
                cls = CAPITAL_RETURN_CLASS[council.authority_type]
                sheet.write_row(row, 0, [council.ecode, council.gss_code, council.name, cls,
                                         cls, *(values[c] for c in columns)])  # fmt: skip
                row += 1
            sheet.write_row(row, 0, ["E9999Y", "E23999999", "Fictional Police", "O", "P"])
            sheet.write(row + 3, 0, "Footnotes: fictional test data")
        book.close()
