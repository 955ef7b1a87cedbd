"""The code location: the one place where assets, checks, resources and jobs are assembled."""

from __future__ import annotations

import dagster as dg

from assets.raw import raw_assets
from assets.validated import council_code_map, validated_assets
from pipelines.profiles import Settings, resources_for

settings = Settings.from_environment()

all_assets = [*raw_assets, *validated_assets, council_code_map]

ingest_job = dg.define_asset_job(
    name="ingest_and_validate",
    selection=dg.AssetSelection.groups("sources", "validated"),
    description="Land every source file in the raw layer and validate it.",
)

defs = dg.Definitions(
    assets=all_assets,
    jobs=[ingest_job],
    resources=resources_for(settings),
    # Every step writes the one DuckDB file, which allows a single writing process.
    executor=dg.in_process_executor,
)
