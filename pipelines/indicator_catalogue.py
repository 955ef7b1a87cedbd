"""The indicator catalogue (`sql/indicators/catalogue.yaml`) loaded, checked and shaped as the
relations the scoring SQL joins: `indicator_catalogue`, `risk_bands` and `audit_years`."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from pipelines.sql import SQL_DIR

CATALOGUE_PATH = SQL_DIR / "indicators" / "catalogue.yaml"
METHODS = {"peer", "absolute", "event", "context"}
POLARITIES = {"higher_is_better", "higher_is_worse"}
PEER_BASES = {"nearest_neighbours", "council_type"}
COUNCIL_TYPES = {"county", "district", "unitary", "metropolitan district", "london borough"}


class IndicatorCatalogueError(ValueError):
    """The indicator catalogue asks for something the pipeline cannot do."""


INDICATOR_SCHEMA = {
    "indicator_id": pl.String,
    "name": pl.String,
    "family": pl.String,
    "source": pl.String,
    "sql": pl.String,
    "unit": pl.String,
    "method": pl.String,
    "polarity": pl.String,
    "peer_basis": pl.String,
    "threshold": pl.Float64,
    "weight": pl.Float64,
    "min_peers": pl.Int64,
    "max_age_days": pl.Int64,
    "half_life_years": pl.Float64,
    "metric_id": pl.String,
    "applies_to": pl.List(pl.String),
    "baseline": pl.Boolean,
}


@dataclass(frozen=True)
class ScoringOptions:
    """How values are judged and weighted (`settings.scoring`)."""

    severity_below_threshold: bool = True
    peer_scale_floor: float = 0.5  # peer scale >= this share of the peers' standard deviation
    compare_with_council_type: bool = True
    # Below the line a peer severity falls from 0.5 at the threshold to 0 this many thresholds
    # on the good side of the peer median (0: at the median itself).
    below_line_reach: float = 1.0
    # A peer severity is at least the share of all councils (any type) the value is worse than.
    severity_at_least_national_percentile: bool = True
    weights: str = "catalogue"  # catalogue | fitted
    fit_horizon_days: int = 1096
    fit_l2_penalty: float = 1.0
    fit_min_failures: int = 3
    fit_known_case_years: int = 3
    fit_min_weight_share: float = 0.1  # a fitted weight is at least this share of the catalogue's

    def frame(self) -> pl.DataFrame:
        """The one-row relation `scoring_settings` the scoring SQL joins."""
        return pl.DataFrame(
            {
                "severity_below_threshold": [self.severity_below_threshold],
                "peer_scale_floor": [self.peer_scale_floor],
                "compare_with_council_type": [self.compare_with_council_type],
                "below_line_reach": [float(self.below_line_reach)],
                "severity_at_least_national_percentile": [
                    self.severity_at_least_national_percentile
                ],
            }
        )


@dataclass(frozen=True)
class BacktestOptions:
    """From the catalogue's `settings.backtest`."""

    horizons_days: tuple[int, ...] = (365, 730, 1096)
    resamples: int = 0
    seed: int = 12
    target_quarters: tuple[str, str] = ("2016Q4", "2020Q4")
    target_roc_auc: float = 0.80
    target_lift_at_20: float = 4.0
    target_auc_margin: float = 0.05


WEIGHT_SOURCES = {"catalogue", "fitted"}


def _scoring_options(raw: dict[str, Any]) -> ScoringOptions:
    weights = str(raw.get("weights", "catalogue"))
    if weights not in WEIGHT_SOURCES:
        raise IndicatorCatalogueError(
            f"catalogue.yaml: settings.scoring.weights {weights!r} not one of "
            f"{sorted(WEIGHT_SOURCES)}"
        )
    fitted = raw.get("fitted") or {}
    floor = float(raw.get("peer_scale_floor_share_of_sd", 0.5))
    penalty = float(fitted.get("l2_penalty", 1.0))
    reach = float(raw.get("below_line_reach_thresholds", 1.0))
    if floor < 0 or penalty < 0 or reach < 0:
        raise IndicatorCatalogueError(
            "catalogue.yaml: settings.scoring: negative floor/penalty/below-line reach"
        )
    return ScoringOptions(
        severity_below_threshold=bool(raw.get("severity_below_threshold", True)),
        peer_scale_floor=floor,
        compare_with_council_type=bool(raw.get("compare_with_council_type", True)),
        below_line_reach=reach,
        severity_at_least_national_percentile=bool(
            raw.get("severity_at_least_national_percentile", True)
        ),
        weights=weights,
        fit_horizon_days=int(fitted.get("horizon_days", 1096)),
        fit_l2_penalty=penalty,
        fit_min_failures=int(fitted.get("min_failures", 3)),
        fit_known_case_years=int(fitted.get("known_case_years", 3)),
        fit_min_weight_share=float(fitted.get("min_weight_share_of_catalogue", 0.1)),
    )


def _backtest_options(raw: dict[str, Any]) -> BacktestOptions:
    quarters = raw.get("target_quarters") or ["2016Q4", "2020Q4"]
    return BacktestOptions(
        horizons_days=tuple(int(d) for d in raw.get("horizons_days") or (365, 730, 1096)),
        resamples=int(raw.get("bootstrap_resamples", 200)),
        seed=int(raw.get("bootstrap_seed", 12)),
        target_quarters=(str(quarters[0]), str(quarters[1])),
        target_roc_auc=float(raw.get("target_roc_auc", 0.80)),
        target_lift_at_20=float(raw.get("target_lift_at_20", 4.0)),
        target_auc_margin=float(raw.get("target_auc_margin_over_best_indicator", 0.05)),
    )


@dataclass(frozen=True)
class IndicatorCatalogue:
    indicators: pl.DataFrame
    bands: pl.DataFrame
    audit_years: pl.DataFrame
    min_coverage: float
    known_case_years: int
    top_reasons: int
    sha256: str
    scoring: ScoringOptions = ScoringOptions()
    backtest: BacktestOptions = BacktestOptions()

    @property
    def sql_files(self) -> list[str]:
        """Each indicator SQL file once, in catalogue order."""
        return list(dict.fromkeys(self.indicators.get_column("sql").to_list()))


def _indicator_row(raw: dict[str, Any], families: set[str]) -> dict[str, Any]:
    where = f"catalogue.yaml: indicator {raw.get('id')!r}"
    missing = [k for k in ("id", "name", "family", "source", "sql", "method") if k not in raw]
    if missing:
        raise IndicatorCatalogueError(f"{where}: missing {missing}")
    method = raw["method"]
    if method not in METHODS:
        raise IndicatorCatalogueError(f"{where}: method {method!r} not one of {sorted(METHODS)}")
    polarity = raw.get("polarity", "higher_is_worse")
    if polarity not in POLARITIES:
        raise IndicatorCatalogueError(f"{where}: polarity {polarity!r}")
    peer_basis = raw.get("peer_basis", "council_type")
    if peer_basis not in PEER_BASES:
        raise IndicatorCatalogueError(f"{where}: peer_basis {peer_basis!r}")
    if raw["family"] not in families:
        raise IndicatorCatalogueError(f"{where}: family {raw['family']!r} not in families")
    applies_to = list(raw.get("applies_to") or sorted(COUNCIL_TYPES))
    if set(applies_to) - COUNCIL_TYPES:
        raise IndicatorCatalogueError(f"{where}: unknown council types in applies_to")
    sql_path = SQL_DIR / raw["sql"]
    if not sql_path.is_file() or SQL_DIR.resolve() not in sql_path.resolve().parents:
        raise IndicatorCatalogueError(f"{where}: sql file {raw['sql']!r} not found under sql/")
    weight = float(raw.get("weight", 0))
    threshold = float(raw.get("threshold", 0))
    if weight < 0:
        raise IndicatorCatalogueError(f"{where}: weight must not be negative")
    if method == "peer" and threshold <= 0:
        raise IndicatorCatalogueError(f"{where}: a peer threshold is a positive number of MADs")
    if method == "event" and not raw.get("half_life_years"):
        raise IndicatorCatalogueError(f"{where}: an event indicator needs half_life_years")
    return {
        "indicator_id": raw["id"],
        "name": raw["name"],
        "family": raw["family"],
        "source": raw["source"],
        "sql": raw["sql"],
        "unit": raw.get("unit", ""),
        "method": method,
        "polarity": polarity,
        "peer_basis": peer_basis,
        "threshold": threshold,
        "weight": weight,
        "min_peers": int(raw.get("min_peers", 5)),
        "max_age_days": int(raw.get("max_age_days", 1100)),
        "half_life_years": raw.get("half_life_years"),
        "metric_id": raw.get("metric_id"),
        "applies_to": applies_to,
        "baseline": bool(raw.get("baseline", False)),
    }


def parse_indicator_catalogue(text: str) -> IndicatorCatalogue:
    document = yaml.safe_load(text)
    families = set(document.get("families") or {})
    rows = [_indicator_row(raw, families) for raw in document.get("indicators") or []]
    ids = [r["indicator_id"] for r in rows]
    if len(ids) != len(set(ids)):
        raise IndicatorCatalogueError("catalogue.yaml: indicator ids must be unique")
    settings = document.get("settings") or {}
    bands = pl.DataFrame(
        settings.get("bands") or [{"band": "no flags", "min_score": 0.0}],
        schema={"band": pl.String, "min_score": pl.Float64},
    )
    audit_years = pl.DataFrame(
        [
            {
                "financial_year": str(y["financial_year"]),
                "opinion_deadline": _as_date(y["opinion_deadline"]),
                "backstop": _as_date(y["backstop"]) if y.get("backstop") else None,
            }
            for y in document.get("audit_years") or []
        ],
        schema={"financial_year": pl.String, "opinion_deadline": pl.Date, "backstop": pl.Date},
    )
    return IndicatorCatalogue(
        indicators=pl.DataFrame(rows, schema=INDICATOR_SCHEMA),
        bands=bands,
        audit_years=audit_years,
        min_coverage=float(settings.get("insufficient_data_below_coverage", 0.25)),
        known_case_years=int(settings.get("known_case_years_after_section114", 3)),
        top_reasons=int(settings.get("top_reasons", 3)),
        scoring=_scoring_options(settings.get("scoring") or {}),
        backtest=_backtest_options(settings.get("backtest") or {}),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def load_indicator_catalogue(path: Path | None = None) -> IndicatorCatalogue:
    """Read the catalogue fresh on every call, so an analyst's edit takes effect on the next
    materialisation without restarting anything. EARLY_WARNING_INDICATOR_CATALOGUE points at
    another file (for a what-if run)."""
    chosen = path or Path(os.environ.get("EARLY_WARNING_INDICATOR_CATALOGUE", CATALOGUE_PATH))
    return parse_indicator_catalogue(chosen.read_text(encoding="utf-8"))
