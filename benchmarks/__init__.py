"""Speed benchmarks of retain (not part of the test suite): `python -m benchmarks throughput|task|memory|all`.

Each benchmark returns a `BenchmarkResult` (rows of figures, each the median of several
repeats); the runner records the machine (cores, threads, torch version) next to them and
writes `benchmarks/results/<name>.json` and a Markdown table `benchmarks/results/<name>.md`.
"""
