"""A small class on one real server (bench/class_load.py at CI size): sessions in real browsers retrain a lesson,
a mix of identical and distinct seeds; identical requests train once, every session sees its place or its result,
nothing is lost or trained twice, and the server's memory stays bounded. The full class of 30 is the benchmark's
(docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.class_load import class_seeds, run_class
from lengen_core.lessons import get_lesson

pytestmark = [pytest.mark.browser, pytest.mark.load]

# 3 sessions keep the bundled seeds (one request), 2 pick seed 1 (another): identical requests in both groups, and two
# distinct ones. A third distinct request (a seed of its own, as the benchmark's class has) would add a third wave of
# training to the suite (about a minute) and test nothing the second does not.
SEEDS: list[int | None] = [None, None, None, 1, 1]
# The randomized-positions lesson: two runs of 1,500 steps on a small model (about 40 s each on a core). What is
# tested, one training per distinct request, does not depend on the lesson; the first lesson's runs (2,000 steps of
# 2 layers, about 100 s each) would take this test from about 2 to about 5 minutes of the suite.
LESSON = "randomized"
MEMORY_GROWTH_BOUND_MIB = 512  # growth after the first session (torch imported, training started); measured: see the test's print


def test_a_class_retraining_one_lesson_trains_each_distinct_request_once(browser: Any, server_factory: Any, record_property: Any) -> None:
    server = server_factory(LENGEN_MAX_JOBS="2")
    result = run_class(browser, server, LESSON, SEEDS, timeout_s=900)
    print(f"\n[class] {result}")
    runs_per_request = len(get_lesson(LESSON).runs)
    assert result["runs_trained"] == 2 * runs_per_request  # two distinct requests, each trained once
    assert result["runs_done"] == result["runs_trained"] and result["identical_runs_trained_twice"] == 0
    assert result["sessions_that_saw_their_place_or_result"] == len(SEEDS)
    assert result["shared_lines"] >= 3 * runs_per_request  # the second and third bundled sessions and the second seed-1 session
    memory = result["server_memory_mib"]
    assert memory["peak"] - memory["after_first_session"] < MEMORY_GROWTH_BOUND_MIB
    for key in ("median", "worst"):
        record_property(f"class_time_to_result_{key}_s", result["time_to_result_s"][key])


def test_the_benchmarks_class_of_thirty_mixes_identical_and_distinct_seeds() -> None:
    seeds = class_seeds(30)
    assert len(seeds) == 30 and seeds.count(None) == 15  # half keep the bundled seeds
    assert len(set(seeds)) == 11 and all(seeds.count(seed) == 2 for seed in range(1, 6))  # 5 pairs, 5 seeds of their own
