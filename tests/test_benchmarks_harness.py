"""benchmarks/harness.py: fresh-process methods, whole commands, warm calls and in-process alternation."""

from __future__ import annotations

import math
import sys

from benchmarks.harness import Command, alternate, compare, report, run_child, timed

CALLS = []


def count_calls(tag: str) -> str:
    CALLS.append(tag)
    return tag


def calls_made(result: str) -> dict:
    return {"calls": len(CALLS), "result": result}


def test_run_child_times_one_call_or_a_warm_second():
    cold = run_child(count_calls, ["x"], describe=calls_made)
    warm = run_child(count_calls, ["x"], describe=calls_made, warm=True)
    assert cold.extra == {"calls": 1, "result": "x"} and warm.extra["calls"] == 2
    assert cold.seconds >= 0 and cold.peak_mib > 0


def test_compare_mixes_methods_and_commands(capsys):
    seen = []
    methods = {"method": count_calls, "command": Command([sys.executable, "-c", "pass"])}
    results = compare(methods, ["y"], 2, rotate=True, before=lambda: seen.append("before"),
                      after=lambda name, sample: seen.append(name))
    assert {name: len(samples) for name, samples in results.items()} == {"method": 2, "command": 2}
    assert seen[1::2] == ["method", "command", "command", "method", "method", "command"]  # warm-up round first
    assert math.isnan(results["command"][0].peak_mib) and not math.isnan(results["method"][0].peak_mib)
    report(results)
    lines = capsys.readouterr().out.splitlines()
    assert "peak RSS" in lines[0] and "peak RSS" not in lines[1]


def test_alternate_rotates_after_an_uncounted_round():
    order = []
    figures = alternate({"a": lambda: order.append("a") or 1, "b": lambda: order.append("b") or 2}, 2,
                        rotate=True, warmup=True)
    assert figures == {"a": [1, 1], "b": [2, 2]}
    assert order == ["b", "a", "a", "b", "b", "a"]


def test_timed_gives_wall_cpu_and_result():
    wall, cpu, result = timed(lambda: sum(range(10_000)))
    assert result == sum(range(10_000)) and wall >= 0 and cpu >= 0
