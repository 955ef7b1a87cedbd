"""The floor: a bare DuckDB scan of the same CSV inputs, nothing else.

    python -m benchmarks.bare_scan --data-dir DIR

Reads every CSV source file of the catalogue with DuckDB's `read_csv` (all columns as text, as
the raw layer keeps them) and computes a trivial aggregate: the row count of each file, and
for the Data Explorer file the sum of its values. No warehouse is written, nothing is
validated. The workbooks (Revenue Outturn, council tax receipts) and NN.json are not scanned:
DuckDB reads .xlsx only through its `excel` extension, which is downloaded on first use and so
not available offline; they are a few MB against the Data Explorer file's 2 GB at 100x.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DATA_EXPLORER = "sources/oflog_asc/ASC_data.csv"


def scan(data_dir: Path) -> dict:
    import duckdb

    from pipelines.catalogue import load_catalogue

    started = time.perf_counter()
    files = sorted(
        {f.path for s in load_catalogue().values() if s.layout == "csv_table" for f in s.files}
    )
    rows: dict[str, int] = {}
    total_bytes = 0
    value_sum = None
    with duckdb.connect() as connection:
        for relative in files:
            path = data_dir / relative
            total_bytes += path.stat().st_size
            if relative == DATA_EXPLORER:
                count, value_sum = connection.execute(
                    'SELECT count(*), sum(TRY_CAST("Value" AS DOUBLE)) '
                    "FROM read_csv($path, all_varchar = true)",
                    {"path": str(path)},
                ).fetchone()
            else:
                (count,) = connection.execute(
                    "SELECT count(*) FROM read_csv($path, all_varchar = true)",
                    {"path": str(path)},
                ).fetchone()
            rows[relative] = int(count)
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "files": len(files),
        "bytes": total_bytes,
        "data_explorer_rows": rows.get(DATA_EXPLORER),
        "data_explorer_value_sum": value_sum,
        "rows": sum(rows.values()),
    }


def main(argv: list[str] | None = None) -> int:
    from benchmarks.core import peak_rss_mib

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    result = scan(args.data_dir)
    print(json.dumps({**result, "peak_rss_mib": round(peak_rss_mib(), 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
