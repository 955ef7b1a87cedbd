"""Fictional estates for the benchmarks, generated once and cached outside the repository.

An estate is `pipelines.synthetic` at a scale factor, with the Data Explorer file widened to
`METRICS` metrics over `YEARS` years (about 18 million rows at 100x). Generation at 100x takes a
couple of minutes, so each estate is written once under the cache directory (default
`/tmp/early-warning-bench/estates`, or `EARLY_WARNING_BENCH_CACHE`) and reused while the
generator's source is unchanged. Generated data never goes into the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pipelines.synthetic as synthetic

SEED = 7
METRICS = 60
YEARS = 10
CACHE = Path(os.environ.get("EARLY_WARNING_BENCH_CACHE", "/tmp/early-warning-bench"))


def _generator_hash() -> str:
    return hashlib.sha256(Path(synthetic.__file__).read_bytes()).hexdigest()[:12]


def _scale_label(scale: float) -> str:
    return f"{scale:g}".replace(".", "_")


def estate_dir(scale: float, seed: int = SEED) -> Path:
    """The cached estate's data directory (holding `sources/`), generating it if needed."""
    name = f"scale-{_scale_label(scale)}-seed-{seed}-m{METRICS}-y{YEARS}"
    root = CACHE / "estates" / name
    marker = root / "estate.json"
    wanted = {"scale": scale, "seed": seed, "metrics": METRICS, "years": YEARS}
    wanted["generator"] = _generator_hash()
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if {k: recorded.get(k) for k in wanted} == wanted:
            return root / "data"
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    estate = synthetic.make_estate(scale=scale, seed=seed)
    synthetic.write_estate(
        root / "data", estate, seed=seed, metrics_per_council=METRICS, years=YEARS
    )
    data_explorer = root / "data" / "sources" / "oflog_asc" / "ASC_data.csv"
    with data_explorer.open("rb") as handle:
        rows = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b"")) - 1
    recorded = {
        **wanted,
        "councils": len(estate.councils),
        "data_explorer_rows": rows,
        "bytes": sum(p.stat().st_size for p in (root / "data").rglob("*") if p.is_file()),
        "generation_seconds": round(time.perf_counter() - started, 1),
    }
    marker.write_text(json.dumps(recorded, indent=2))
    return root / "data"


def estate_facts(scale: float, seed: int = SEED) -> dict:
    data = estate_dir(scale, seed)
    return json.loads((data.parent / "estate.json").read_text())


if __name__ == "__main__":
    import sys

    for value in sys.argv[1:] or ["1"]:
        estate_dir(float(value))
        print(json.dumps(estate_facts(float(value))))
