"""Performance at scale, measured side by side. `python -m benchmarks.run --scales 1 10 100`
(or `make bench`).

For each scale factor (1 = about 320 fictional councils; 100 = about 32,000 and an 18-million-row
Data Explorer file), each in a fresh process so that its peak memory is its own:

1. the pipeline's core, stage by stage (benchmarks/core.py): ingest -> validate -> indicators
   -> scores -> watchlist, the last three for one quarter's partition (2019Q1), with each
   stage's wall time and peak resident memory;
2. the same indicators and scoring written straightforwardly in pandas
   (benchmarks/pandas_baseline.py), on the same files, and the ratio;
3. the floor: a bare DuckDB scan of the same CSV inputs (benchmarks/bare_scan.py), and the
   ratio.

At the smallest scale given, the pandas baseline's output is checked against the pipeline's,
evaluation by evaluation (benchmarks/compare.py). Then `early-warning run` (what `make run`
runs after installing) is timed on a temporary copy of the shipped data, with a temporary
DAGSTER_HOME, so nothing is written to the repository's data/ or .dagster_home/.

Fictional estates are generated once and cached under /tmp/early-warning-bench (see
benchmarks/estates.py); generation is not part of any figure. Results are printed as tables
and written as JSON under the cache directory. benchmarks/RESULTS.md records a run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.core import QUARTER, RUNS
from benchmarks.estates import CACHE, estate_dir, estate_facts

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# Wraps a command so the peak RSS of its whole process tree is measured from outside it.
_MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"returncode": done.returncode, "seconds": seconds, "peak_rss_mib": peak,
                  "stdout": done.stdout, "stderr": done.stderr[-4000:]}))
"""


def measured(command: list[str], env: dict | None = None) -> dict:
    """Run `command` in a fresh process tree; its wall time, peak RSS and output."""
    done = subprocess.run(
        [PYTHON, "-c", _MEASURE, *command],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=REPO,
        check=True,
    )
    result = json.loads(done.stdout)
    if result["returncode"] != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result['stderr']}")
    return result


def _last_json(stdout: str) -> dict:
    """The JSON document a benchmark module prints (the last one, if it printed several)."""
    text = stdout.strip()
    start = text.rfind("\n{") + 1 if not text.startswith("{") else 0
    try:
        return json.loads(text[start:])
    except json.JSONDecodeError:
        return json.loads(text)


def machine() -> dict:
    import dagster
    import duckdb
    import pandas
    import polars

    memory = next(
        (
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        "0",
    )
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(int(memory) / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
        "pandas": pandas.__version__,
        "dagster": dagster.__version__,
    }


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def bench_scale(scale: float) -> dict:
    data_dir = estate_dir(scale)
    facts = estate_facts(scale)
    print(
        f"\n== scale {scale:g}: {facts['councils']:,} councils, "
        f"{facts['data_explorer_rows']:,} Data Explorer rows, "
        f"{facts['bytes'] / 1e6:,.0f} MB of sources (load {load_average():.2f})",
        flush=True,
    )
    work = RUNS / f"scale-{scale:g}"
    core_json = work.parent / f"scale-{scale:g}.json"
    work.parent.mkdir(parents=True, exist_ok=True)
    core_run = measured(
        [PYTHON, "-m", "benchmarks.core", "--scale", str(scale), "--json", str(core_json)]
    )
    core = json.loads(core_json.read_text())
    core["process_peak_rss_mib"] = round(core_run["peak_rss_mib"], 1)
    core["process_seconds"] = round(core_run["seconds"], 3)
    print(f"   pipeline core: {core['total_seconds']:.1f} s", flush=True)
    baseline_dir = work.parent / f"pandas-scale-{scale:g}"
    pandas_run = measured(
        [
            PYTHON,
            "-m",
            "benchmarks.pandas_baseline",
            "--data-dir",
            str(data_dir),
            "--quarter",
            QUARTER,
            "--out",
            str(baseline_dir),
        ]
    )
    baseline = _last_json(pandas_run["stdout"])
    baseline["process_peak_rss_mib"] = round(pandas_run["peak_rss_mib"], 1)
    print(f"   pandas baseline: {baseline['total_seconds']:.1f} s", flush=True)
    scan_run = measured([PYTHON, "-m", "benchmarks.bare_scan", "--data-dir", str(data_dir)])
    scan = _last_json(scan_run["stdout"])
    scan["process_peak_rss_mib"] = round(scan_run["peak_rss_mib"], 1)
    print(f"   bare DuckDB scan: {scan['seconds']:.1f} s", flush=True)
    return {
        "scale": scale,
        "estate": facts,
        "core": core,
        "pandas": baseline,
        "scan": scan,
        "baseline_dir": str(baseline_dir),
        "load_after": load_average(),
    }


def time_make_run() -> dict:
    """`early-warning run` on a copy of the shipped sources, after install (warm imports)."""
    with tempfile.TemporaryDirectory(prefix="early-warning-make-run-") as scratch:
        root = Path(scratch)
        shutil.copytree(REPO / "data" / "sources", root / "data" / "sources")
        for extra in ("SOURCES.md", "templates"):
            source = REPO / "data" / extra
            if source.is_dir():
                shutil.copytree(source, root / "data" / extra)
            elif source.exists():
                shutil.copy2(source, root / "data" / extra)
        home = root / "dagster_home"
        home.mkdir()
        shutil.copy2(REPO / "dagster.yaml", home / "dagster.yaml")
        env = {
            "EARLY_WARNING_DATA_DIR": str(root / "data"),
            "DAGSTER_HOME": str(home),
        }
        for name in ("EARLY_WARNING_WAREHOUSE", "EARLY_WARNING_OUTPUT_DIR"):
            os.environ.pop(name, None)
        command = [str(Path(PYTHON).with_name("early-warning")), "run"]
        load = load_average()
        run = measured(command, env)
        outputs = sorted(
            str(p.relative_to(root / "data" / "output"))
            for p in (root / "data" / "output").glob("*")
        )
    print(f"\n== early-warning run on the shipped data: {run['seconds']:.1f} s", flush=True)
    return {
        "seconds": round(run["seconds"], 3),
        "peak_rss_mib": round(run["peak_rss_mib"], 1),
        "load_before": load,
        "outputs": outputs,
        "command": "early-warning run (EARLY_WARNING_DATA_DIR and DAGSTER_HOME: temporary)",
    }


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.1f}x" if denominator else "-"


def report(results: dict) -> str:
    lines = []
    info = results["machine"]
    lines.append(
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM; "
        f"Python {info['python']}, DuckDB {info['duckdb']}, polars {info['polars']}, "
        f"pandas {info['pandas']}, Dagster {info['dagster']}; {info['date']}; "
        f"1-minute load average {results['load_before']:.2f} before, "
        f"{results['load_after']:.2f} after."
    )
    lines.append("")
    lines.append("| scale | councils | Data Explorer rows | stage | wall s | peak RSS MiB |")
    lines.append("|---:|---:|---:|---|---:|---:|")
    for scale in results["scales"]:
        estate, core = scale["estate"], scale["core"]
        for i, stage in enumerate(core["stages"]):
            head = (
                f"| {scale['scale']:g}x | {estate['councils']:,} | "
                f"{estate['data_explorer_rows']:,} "
                if i == 0
                else "| | | "
            )
            label = stage["stage"] + (" (2019Q1)" if stage["partition"] else "")
            lines.append(
                f"{head}| {label} | {stage['seconds']:.2f} | {stage['peak_rss_mib']:,.0f} |"
            )
        lines.append(
            f"| | | | **ingest -> watchlist** | **{core['total_seconds']:.2f}** | "
            f"**{core['peak_rss_mib']:,.0f}** |"
        )
    lines.append("")
    lines.append(
        "| scale | pipeline core s | pandas s (read + compute) | "
        "speed-up over pandas, end to end | "
        "pipeline indicators + scores + watchlist s | pandas compute s | "
        "speed-up over pandas, same computation | bare DuckDB scan s | pipeline / scan |"
    )
    lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scale in results["scales"]:
        core, pd_, scan = scale["core"], scale["pandas"], scale["scan"]
        quarterly = sum(s["seconds"] for s in core["stages"] if s["partition"])
        pandas_compute = pd_["total_seconds"] - pd_["read_seconds"]
        lines.append(
            f"| {scale['scale']:g}x | {core['total_seconds']:.2f} | "
            f"{pd_['total_seconds']:.2f} ({pd_['read_seconds']:.2f} + {pandas_compute:.2f}) | "
            f"{ratio(pd_['total_seconds'], core['total_seconds'])} | "
            f"{quarterly:.2f} | {pandas_compute:.2f} | "
            f"{ratio(pandas_compute, quarterly)} | "
            f"{scan['seconds']:.2f} | {ratio(core['total_seconds'], scan['seconds'])} |"
        )
    lines.append("")
    lines.append("| scale | pandas peak RSS MiB | scan peak RSS MiB |")
    lines.append("|---:|---:|---:|")
    for scale in results["scales"]:
        lines.append(
            f"| {scale['scale']:g}x | {scale['pandas']['peak_rss_mib']:,.0f} | "
            f"{scale['scan']['peak_rss_mib']:,.0f} |"
        )
    if results.get("equality"):
        eq = results["equality"]
        lines.append("")
        lines.append(
            f"pandas baseline = pipeline at {eq['scale']:g}x, {eq['quarter']}: "
            f"{'SAME' if eq['same'] else 'DIFFERENT'} (relative tolerance {eq['tolerance']:g}; "
            f"{eq['evaluations']:,} evaluations, {eq['scored']:,} scored, "
            f"{eq['flags_raised']} flags, {eq['councils']} councils; "
            f"{eq.get('not_compared', 0):,} evaluations of the finance series' indicators not "
            "in the baseline, and so bands and ranks, not compared; mismatches: "
            + ", ".join(
                f"{k} {v}"
                for k, v in eq.items()
                if isinstance(v, int)
                and not isinstance(v, bool)
                and k not in ("evaluations", "not_compared", "scored", "councils", "flags_raised")
            )
            + ")"
        )
    if results.get("make_run"):
        run = results["make_run"]
        lines.append("")
        lines.append(
            f"`early-warning run` (all quarters, backtest, briefings) on the shipped data: "
            f"{run['seconds']:.1f} s, peak RSS {run['peak_rss_mib']:,.0f} MiB "
            f"(load before {run['load_before']:.2f})."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 10, 100])
    parser.add_argument("--skip-make-run", action="store_true")
    parser.add_argument("--json", type=Path, help="default: <cache>/results-<time>.json")
    args = parser.parse_args(argv)
    results: dict = {"machine": machine(), "load_before": load_average(), "quarter": QUARTER}
    print(json.dumps(results["machine"]), flush=True)
    for scale in args.scales:
        estate_dir(scale)  # generate (once, cached) before anything is timed
    results["scales"] = [bench_scale(scale) for scale in args.scales]
    smallest = min(results["scales"], key=lambda s: s["scale"])
    from benchmarks.compare import compare

    equality = compare(Path(smallest["core"]["warehouse"]), Path(smallest["baseline_dir"]), QUARTER)
    results["equality"] = {"scale": smallest["scale"], **equality}
    if not args.skip_make_run:
        results["make_run"] = time_make_run()
    results["load_after"] = load_average()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = args.json or CACHE / f"results-{stamp}.json"
    target.write_text(json.dumps(results, indent=2, default=str))
    print()
    print(report(results))
    print(f"\n(results: {target})")
    return 0 if equality["same"] else 1


if __name__ == "__main__":
    sys.exit(main())
