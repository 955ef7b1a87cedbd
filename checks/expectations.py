"""Great Expectations suites for the published watchlist and the key validated tables, and the
offline Data Docs site they are rendered into.

The pandera models (checks/schemas, checks/outputs.py) decide, row by row, what may enter a
table. These suites are a second, independent statement of what a *finished* table must look
like: run as Dagster asset checks after the table is written (assets/quality.py), reported in
the UI, and rendered as Data Docs, static HTML under `<output_dir>/data_docs/index.html`.

- Suites are defined here, in code, and nowhere else: every run builds them afresh in an
  ephemeral GX context, so there are no GX configuration files to drift from the code.
- The suites are structural (patterns, ranges, keys, allowed values, conditional nulls). They
  hard-code no row counts, so a fictional test estate passes the same suites as the real one.
- Data Docs are written to the local filesystem only; nothing is sent anywhere (GX Core has no
  usage statistics left to send, and analytics are disabled in the context config anyway). GX's
  page templates load stylesheets and scripts from public CDNs when opened in a browser:
  offline the pages are unstyled, and the index's list of validation results (filled in by a
  script) is empty, but each validation page is plain HTML, and each check links its own page
  in its metadata (`validation_page`).
- Each suite keeps only its latest validation: the JSON result behind the site lives in
  `<output_dir>/data_docs/validation_results/` and is replaced on every run, and GX removes the
  page of any result that is gone. History lives in Dagster, in each check's evaluations.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from checks.outputs import RISK_BANDS
from checks.schemas.common import COUNCIL_GSS, ENGLISH_REGIONS, FINANCIAL_YEAR
from checks.schemas.debt import PLAUSIBLE_STOCK
from checks.schemas.finance import MAX_PLAUSIBLE_THOUSANDS, PRINCIPAL_COUNCIL_CLASSES
from checks.schemas.register import COUNCIL_TYPES

# Great Expectations takes seconds to import; it is imported where a suite is built or run, so
# loading the code location (and every test that imports it) does not pay for it.
if TYPE_CHECKING:
    import great_expectations.expectations as gxe
    import pandas as pd

DATA_DOCS_DIR = "data_docs"
RESULTS_DIR = "validation_results"
SITE_NAME = "early_warning"
DATASOURCE = "warehouse"
SAMPLE_VALUES = 5

# GX logs every store write and page render at INFO; a check's own metadata says what matters.
logging.getLogger("great_expectations").setLevel(logging.WARNING)

Expectations = Callable[[], "list[gxe.Expectation]"]


def _non_capturing(pattern: str) -> str:
    """The same pattern with `(...)` groups as `(?:...)`: pandas warns on every match against a
    pattern with capture groups, and GX matches with pandas."""
    return re.sub(r"\((?!\?)", "(?:", pattern)


GSS = _non_capturing(COUNCIL_GSS)


def _not_null(*columns: str) -> list[gxe.Expectation]:
    import great_expectations.expectations as gxe

    return [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in columns]


def _share(column: str, notes: str) -> gxe.Expectation:
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1, notes=notes)


def _watchlist() -> list[gxe.Expectation]:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    # GX conditions compare with ==; `is_in` accepts no booleans.
    known = Column("known_case") == True  # noqa: E712
    not_known = Column("known_case") == False  # noqa: E712
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1, notes="A watchlist lists councils."),
        *_not_null(
            "quarter",
            "as_of_date",
            "council_code",
            "council_name",
            "risk_score",
            "baseline_score",
            "risk_band",
            "known_case",
            "coverage",
            "n_flags",
        ),
        gxe.ExpectColumnValuesToMatchRegex(column="quarter", regex=r"^\d{4}Q[1-4]$"),
        gxe.ExpectColumnValuesToMatchRegex(
            column="council_code", regex=GSS, notes="An English principal council's GSS code."
        ),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["quarter", "council_code"],
            notes="One row per council and quarter.",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="risk_score", min_value=0, notes="A sum of non-negative contributions."
        ),
        gxe.ExpectColumnValuesToBeBetween(column="baseline_score", min_value=0),
        _share("coverage", "The share of applicable indicators with usable data."),
        gxe.ExpectColumnValuesToBeBetween(column="n_flags", min_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="rank", min_value=1),
        gxe.ExpectColumnValuesToBeBetween(column="known_case_rank", min_value=1),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="n_indicators_applicable",
            column_B="n_indicators_scored",
            or_equal=True,
            notes="Only applicable indicators are scored.",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="risk_band", value_set=RISK_BANDS, notes="The bands README.md documents."
        ),
        gxe.ExpectColumnValuesToBeInSet(column="known_case", value_set=[True, False]),
        gxe.ExpectColumnValuesToBeNull(
            column="rank", row_condition=known, notes="Known cases are ranked apart."
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="rank", row_condition=not_known, notes="Every other council has a rank."
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="known_case_rank",
            row_condition=known,
            notes="Known cases rank among known cases.",
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="known_case_reason", row_condition=known, notes="A known case says why."
        ),
    ]


def _revenue_outturn() -> list[gxe.Expectation]:
    import great_expectations.expectations as gxe

    reserves = [
        f"{kind}_reserves_{when}"
        for kind in ("earmarked", "unallocated")
        for when in ("start", "end")
    ]
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_not_null("council_code", "period", "period_end", "authority_class"),
        gxe.ExpectColumnValuesToMatchRegex(column="council_code", regex=GSS),
        gxe.ExpectColumnValuesToMatchRegex(column="period", regex=FINANCIAL_YEAR),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["council_code", "period"], notes="One return per council and year."
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="authority_class", value_set=PRINCIPAL_COUNCIL_CLASSES
        ),
        *[
            gxe.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=0,
                max_value=MAX_PLAUSIBLE_THOUSANDS,
                notes="A balance in £000: never negative, and past £5bn it is a file in pounds.",
            )
            for column in reserves
        ],
        gxe.ExpectColumnValuesToBeBetween(
            column="net_revenue_expenditure",
            min_value=-MAX_PLAUSIBLE_THOUSANDS,
            max_value=MAX_PLAUSIBLE_THOUSANDS,
            notes="£000; the largest English council spends about £3bn a year.",
        ),
    ]


def _data_explorer_metrics() -> list[gxe.Expectation]:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_not_null("council_code", "financial_year", "metric_id", "value_state", "period_end"),
        gxe.ExpectColumnValuesToMatchRegex(column="council_code", regex=GSS),
        gxe.ExpectColumnValuesToMatchRegex(column="financial_year", regex=FINANCIAL_YEAR),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["council_code", "financial_year", "metric_id"],
            notes="One value per council, year and metric.",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="value_state", value_set=["reported", "not reported"]
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="value",
            row_condition=Column("value_state").is_in(["reported"]),
            notes="A reported value is a number.",
        ),
        gxe.ExpectColumnValuesToBeNull(
            column="value",
            row_condition=Column("value_state").is_in(["not reported"]),
            notes="A missing value is a state, never a number.",
        ),
    ]


def _borrowing_live_table() -> list[gxe.Expectation]:
    import great_expectations.expectations as gxe

    totals = ("gross_borrowing", "short_term_borrowing", "borrowing_from_other_councils")
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_not_null("council_code", "financial_year", "fiscal_quarter", "period_end", *totals),
        gxe.ExpectColumnValuesToMatchRegex(column="council_code", regex=GSS),
        gxe.ExpectColumnValuesToMatchRegex(column="financial_year", regex=FINANCIAL_YEAR),
        gxe.ExpectColumnValuesToBeInSet(column="fiscal_quarter", value_set=[1, 2, 3, 4]),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["council_code", "period_end"],
            notes="One stock per council and date: where two editions give a date, one wins.",
        ),
        *[
            gxe.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=0,
                max_value=PLAUSIBLE_STOCK["le"],
                notes="A stock of borrowing in £000: never negative, and past £20bn it is a file "
                "in pounds (the schema's own limit).",
            )
            for column in totals
        ],
        *[
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="gross_borrowing",
                column_B=part,
                or_equal=True,
                notes="A part of the borrowing is never more than the whole.",
            )
            for part in ("short_term_borrowing", "borrowing_from_other_councils")
        ],
    ]


def _council_register() -> list[gxe.Expectation]:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    current = Column("is_current") == True  # noqa: E712
    abolished = Column("is_current") == False  # noqa: E712
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *_not_null("gss_code", "register_code", "council_name", "council_type", "region"),
        gxe.ExpectColumnValuesToMatchRegex(column="gss_code", regex=GSS),
        gxe.ExpectColumnValuesToBeUnique(column="gss_code"),
        gxe.ExpectColumnValuesToMatchRegex(column="register_code", regex=r"^[A-Z]{3,4}$"),
        gxe.ExpectColumnValuesToBeUnique(column="register_code"),
        gxe.ExpectColumnValuesToBeInSet(column="authority_type", value_set=list(COUNCIL_TYPES)),
        gxe.ExpectColumnValuesToBeInSet(
            column="council_type", value_set=sorted(set(COUNCIL_TYPES.values()))
        ),
        gxe.ExpectColumnValuesToBeInSet(column="region", value_set=ENGLISH_REGIONS),
        gxe.ExpectColumnValuesToBeInSet(column="is_current", value_set=[True, False]),
        gxe.ExpectColumnDistinctValuesToContainSet(
            column="is_current",
            value_set=[True],
            notes="Some councils are current (how many is the register's business, not ours).",
        ),
        gxe.ExpectColumnValuesToBeNull(
            column="end_date", row_condition=current, notes="A current council has not ended."
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="replaced_by",
            row_condition=abolished,
            notes="An abolished council names its successor.",
        ),
    ]


@dataclass(frozen=True)
class Suite:
    """A suite and the warehouse table it describes (the suite is named after the table)."""

    table: str
    asset_key: tuple[str, ...]
    expectations: Expectations
    description: str

    @property
    def name(self) -> str:
        return self.table


SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        Suite(
            "watchlist.watchlist",
            ("watchlist", "watchlist"),
            _watchlist,
            "The published watchlist, every quarter in the warehouse.",
        ),
        Suite(
            "validated.revenue_outturn",
            ("validated", "revenue_outturn"),
            _revenue_outturn,
            "Revenue Outturn: reserves and net revenue expenditure, £000.",
        ),
        Suite(
            "validated.data_explorer_metrics",
            ("validated", "data_explorer_metrics"),
            _data_explorer_metrics,
            "Local Authority Data Explorer metrics, one value per council, year and metric.",
        ),
        Suite(
            "validated.borrowing_live_table",
            ("validated", "borrowing_live_table"),
            _borrowing_live_table,
            "Borrowing live table: each council's outstanding borrowing at each date, £000.",
        ),
        Suite(
            "validated.council_register",
            ("validated", "council_register"),
            _council_register,
            "English principal councils, current and abolished.",
        ),
    )
}


@dataclass(frozen=True)
class Failure:
    """One expectation that did not hold."""

    expectation: str
    columns: str
    unexpected_count: int | None
    sample: str
    notes: str
    error: str = ""

    @property
    def label(self) -> str:
        return f"{self.expectation}({self.columns})" if self.columns else self.expectation


@dataclass(frozen=True)
class SuiteOutcome:
    suite: str
    success: bool
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    rows: int = 0
    data_docs_index: Path | None = None
    validation_page: Path | None = None


def data_docs_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / DATA_DOCS_DIR


def _context(docs_dir: Path):
    """An in-memory context whose only persistent parts are the Data Docs site and the latest
    validation result of each suite (the index lists results from the results store, and
    removes the page of any result the store no longer has)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={
            SITE_NAME: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
    )
    config.stores["validation_results_store"]["store_backend"] = {
        "class_name": "TupleFilesystemStoreBackend",
        "base_directory": str(docs_dir / RESULTS_DIR),
    }
    return gx.get_context(mode="ephemeral", project_config=config)


def _columns(kwargs: Mapping) -> str:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if "column_list" in kwargs:
        return ", ".join(kwargs["column_list"])
    return ""


def _failure(result) -> Failure:
    config = result.expectation_config
    details = result.result or {}
    sample = details.get("partial_unexpected_list") or []
    if not sample and "observed_value" in details:
        sample = [details["observed_value"]]
    exception = result.exception_info or {}
    error = exception.get("exception_message") if exception.get("raised_exception") else None
    notes = config.notes if isinstance(config.notes, str) else " ".join(config.notes or [])
    return Failure(
        expectation=config.type,
        columns=_columns(config.kwargs),
        unexpected_count=details.get("unexpected_count"),
        sample=", ".join(repr(v) for v in sample[:SAMPLE_VALUES]),
        notes=notes,
        error=str(error or ""),
    )


def _file_path(url: str | None) -> Path | None:
    if not url:
        return None
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(url)


def _forget_previous_results(context, suite_name: str) -> None:
    store = context.validation_results_store
    for key in store.list_keys():
        if key.expectation_suite_identifier.name == suite_name:
            store.remove_key(key)


def validate(frames: Mapping[str, pd.DataFrame], output_dir: str | Path) -> dict[str, SuiteOutcome]:
    """Validate each frame against the suite of the same name (a key of SUITES), replace the
    suite's result in the Data Docs site under `<output_dir>/data_docs/`, and rebuild its
    index, which lists every suite validated so far with its latest result."""
    import great_expectations as gx

    docs_dir = data_docs_dir(output_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    context = _context(docs_dir)
    datasource = context.data_sources.add_pandas(DATASOURCE)
    suites = {
        name: context.suites.add(
            gx.ExpectationSuite(
                name=name, expectations=spec.expectations(), meta={"notes": spec.description}
            )
        )
        for name, spec in SUITES.items()
    }
    outcomes: dict[str, SuiteOutcome] = {}
    for name, frame in frames.items():
        if name not in suites:
            raise KeyError(f"no expectation suite named {name!r}; known: {sorted(SUITES)}")
        batch = datasource.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suites[name])
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
                result_format={"result_format": "SUMMARY"},
            )
        )
        _forget_previous_results(context, name)
        run = checkpoint.run(batch_parameters={"dataframe": frame})
        (key, result), *_ = run.run_results.items()
        urls = context.get_docs_sites_urls(resource_identifier=key, site_name=SITE_NAME)
        failures = [_failure(r) for r in result.results if not r.success]
        outcomes[name] = SuiteOutcome(
            suite=name,
            success=bool(result.success),
            evaluated=len(result.results),
            failures=failures,
            rows=len(frame),
            data_docs_index=docs_dir / "index.html",
            validation_page=_file_path(urls[0]["site_url"]) if urls else None,
        )
    return outcomes
