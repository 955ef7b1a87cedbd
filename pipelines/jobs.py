"""Jobs and the quarterly schedule."""

from datetime import datetime

import dagster as dg

from pipelines.partitions import last_complete_quarter, quarterly_partitions

ingest_job = dg.define_asset_job(
    name="ingest_and_validate",
    selection=dg.AssetSelection.groups("sources", "validated")
    | dg.AssetSelection.assets(["indicators", "peer_groups"]),
    description="Land every source file in the raw layer, validate it, and map peer groups.",
)

watchlist_job = dg.define_asset_job(
    name="quarterly_watchlist",
    selection=dg.AssetSelection.groups("indicators", "scores", "watchlist")
    - dg.AssetSelection.assets(["indicators", "peer_groups"]),
    partitions_def=quarterly_partitions,
    description="Indicators, scores and the published watchlist for one quarter or a range.",
)

briefings_job = dg.define_asset_job(
    name="briefing_packs",
    selection=dg.AssetSelection.assets(["watchlist", "briefing_packs"]),
    partitions_def=quarterly_partitions,
    description="Briefing packs for a quarter already built.",
)

backtest_job = dg.define_asset_job(
    name="backtest",
    selection=dg.AssetSelection.groups("backtest"),
    description="Backtest every built quarter's watchlist against the failures that followed.",
)


@dg.schedule(
    name="quarterly_watchlist_schedule",
    job=watchlist_job,
    # Quarterly figures trickle in after a quarter ends; the 15th of the following month at
    # 06:00 gives the quarter just ended a first build. Re-materialise it from the UI (or let
    # the next runs of the pipeline do so) when late data lands.
    cron_schedule="0 6 15 1,4,7,10 *",
    execution_timezone="Europe/London",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Builds the watchlist for the quarter that has just ended.",
)
def quarterly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time or datetime.now()
    partition_key = last_complete_quarter(scheduled.date())
    return dg.RunRequest(run_key=partition_key, partition_key=partition_key)
