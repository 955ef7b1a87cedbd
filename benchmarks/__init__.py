"""Performance benchmarks: the pipeline's core at 1x, 10x and 100x fictional estates, beside a
pandas baseline and a bare DuckDB scan. `python -m benchmarks.run --scales 1 10 100`."""
