"""Benchmarks: scripts that time tensortool against what a user would do instead, in one run.

Run them from the repository root as modules, e.g. ``python -m benchmarks.bench_csv --runs 3``.
"""
