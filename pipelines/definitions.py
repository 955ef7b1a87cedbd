"""The code location: the one place where assets, checks, resources, jobs and schedules are
assembled. Business logic lives in assets/, checks/ and sql/."""

import dagster as dg

from assets.backtest import backtest_report
from assets.briefings import briefing_packs
from assets.debt_series import council_debt_series
from assets.indicators import indicator_values, peer_groups
from assets.quality import quality_checks
from assets.raw import raw_assets
from assets.scores import indicator_scores
from assets.validated import council_code_map, validated_assets
from assets.watchlist import watchlist
from pipelines.jobs import (
    backtest_job,
    briefings_job,
    ingest_job,
    quarterly_schedule,
    watchlist_job,
)
from pipelines.profiles import Settings, resources_for

settings = Settings.from_environment()

ingest_assets = [*raw_assets, *validated_assets, council_code_map, peer_groups]
# Debt (appended): the council-year debt series built from the validated debt sources.
ingest_assets.append(council_debt_series)
quarterly_assets = [indicator_values, indicator_scores, watchlist]
all_assets = [*ingest_assets, *quarterly_assets, briefing_packs, backtest_report]

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=quality_checks,
    jobs=[ingest_job, watchlist_job, briefings_job, backtest_job],
    schedules=[quarterly_schedule],
    resources=resources_for(settings),
    # Every step writes the one DuckDB file, which allows a single writing process.
    executor=dg.in_process_executor,
)
