"""Shared pytest set-up for the engine test-suite.

Makes the repository root and this directory importable (so the suite runs from a plain checkout
as well as from an editable install), keeps test Ray instances on loopback, and configures
Hypothesis for deterministic runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Ray (tests/test_ray_collector.py) binds a local instance to the machine's network address unless
# told that clusters are off; the tests keep all of its traffic on 127.0.0.1. Set before anything
# imports Ray (torchrl does, at import).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

_TESTS = Path(__file__).resolve().parent
_ROOT = _TESTS.parent
for p in (str(_ROOT), str(_TESTS)):
    if p not in sys.path:
        sys.path.insert(0, p)

try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "keisei",
        derandomize=True,  # same examples every run: the suite is deterministic
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile("keisei")
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass


import pytest  # noqa: E402 - after the sys.path set-up above


@pytest.fixture
def tiny_config(tmp_path):
    """`tiny_config(*overrides)`: the tiny training config (tests/_tiny.py) in a fresh run dir."""
    from _tiny import tiny

    return lambda *extra: tiny(tmp_path / "run", *extra)


@pytest.fixture
def short_walk_calls(monkeypatch):
    """The compiled search's walks at 2 levels a call instead of the packaged LEVELS_PER_CALL
    (8): the same code unrolled fewer times, so its walk programs compile in about a third of
    the time (a cold compile of the walk programs took ~110 s against ~320 s of CPU on a slow
    2-core AVX2 machine, 2026-12-07). For the tests of the compiled walk's variants (waves, the
    mate search); tests/test_search.py's test_compiled_step_and_search_equal_the_eager_ones
    keeps the packaged depth. (At one game with the network the fused program's test compiled
    the same in the same time either way: its cost is elsewhere.)"""
    import keisei_fn.search.compiled as compiled_search

    monkeypatch.setattr(compiled_search, "LEVELS_PER_CALL", 2)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny trained checkpoint (same settings as tests/test_train.py's TINY)."""
    from _tiny import tiny

    from keisei_fn.run.train import train

    run_dir = tmp_path_factory.mktemp("arena") / "run"
    train(tiny(run_dir, "total_updates=1"), log=lambda *a: None)
    return run_dir


# --- test lanes ---------------------------------------------------------------------------------
# `make check` runs `-m "not slow"`: no test there may start a process (a subprocess, a torchrun
# group, Ray, a browser, worker processes) or kill one. The slow lane is the modules and tests
# named here (and those marked in place: perft's deep cases, the learning checks); `make test`
# runs both lanes. The guard below makes a fast test that starts a process fail with that
# message, so a new one cannot slip into the fast lane unnoticed.
SLOW_MODULES = {"test_browser.py", "test_distributed.py", "test_interrupt.py", "test_launch.py",
                "test_ray_collector.py"}
SLOW_TESTS = {
    # torch.compile of the rules engine: minutes on a CPU
    "test_search.py::test_compiled_step_and_search_equal_the_eager_ones",
    "test_search.py::test_compiled_batched_rounds_equal_the_eager_ones",
    # subprocesses (the CLI as a user runs it, USI engines as child processes)
    "test_config.py::test_cli_bad_override_exits_2_with_one_line",
    "test_config.py::test_cli_print_config",
    "test_config.py::test_cli_threads_flag_sets_the_training_config_key",
    "test_insight.py::test_analyze_a_position_and_a_game",
    "test_play.py::test_cli_missing_checkpoint_is_a_one_line_error",
    "test_population.py::test_cli_population_run_with_aim_member_context",
    "test_self_contained.py::test_reference_tests_pass_from_a_copy_with_no_shared_directory",
    "test_train.py::test_cli_train_end_to_end_with_aim_and_resume",
    "test_usi_engine.py::test_scripted_session_over_a_pipe",
    "test_usi_engine.py::test_complete_games_driven_by_cshogi",
    "test_usi_engine.py::test_engine_resigns_when_mated",
    "test_arena.py::test_broken_engine_loses_with_reason_and_leaves_no_process",
    "test_arena.py::test_an_engine_that_cannot_start_stops_the_match_it_is_not_a_win",
    "test_arena.py::test_eval_cli_refuses_an_engine_that_cannot_start",
    "test_arena.py::test_engine_failures_are_counted_apart_and_flag_the_match",
    "test_ladder.py::test_eval_sprt_stops_when_it_decides",
    # GNU Shogi (skipped, saying so, where it is not installed)
    "test_arena.py::test_gnushogi_plays_complete_legal_games_with_both_colours",
    "test_arena.py::test_gnushogi_plays_without_its_opening_book",
    "test_arena.py::test_gnushogi_replays_any_position_and_leaves_no_process",
    "test_arena.py::test_gnushogi_usi_wrapper_plays_through_the_usi_client",
    "test_ladder.py::test_gnushogi_joins_after_an_opening_and_inside_a_mix",
    "test_usi_engine.py::test_cshogi_drives_our_engine_against_gnushogi_through_our_adapter",
    "test_self_contained.py::test_no_source_file_names_a_path_outside_the_repository",
    # worker processes (collector.backend=process)
    "test_collectors.py::test_weights_reach_the_workers_after_an_update",
    "test_collectors.py::test_workers_store_the_attack_planes_counts",
    "test_collectors.py::test_each_row_is_one_game_stream_and_gae_never_crosses_workers",
    "test_collectors.py::test_process_backend_runs_are_reproducible_and_resume",
    "test_collectors.py::test_process_backend_with_the_compiled_acting_policy",
    # torch.compile (inductor compiles in worker processes)
    "test_compile.py::test_compiled_run_matches_eager_run",
    "test_compile.py::test_acting_policy_has_no_graph_breaks_and_compiled_matches_eager",
    "test_compile.py::test_compiled_step_does_not_recompile_when_tensordict_meets_a_new_class",
    "test_train.py::test_compiled_step_reports_its_compile_time_and_the_budget_rule",
    # long random games against cshogi (the rules engine's other differential tests stay fast)
    "test_differential.py::test_random_games_startpos",
    "test_differential.py::test_random_games_varied_positions_full_hands",
    # end-to-end variants of a fast-lane test: playout caps in the Gumbel AZ resume test, the
    # folded population's run against the loop's (their updates' equality is a fast unit test)
    "test_gumbel_az.py::test_gumbel_az_run_with_randomized_playout_caps_resumes_exactly",
    "test_population.py::test_folded_population_tracks_the_loop_population",
    # torch.compile's tracer over the whole update (no inductor; ~30 s each on a 2-core AVX2 CPU)
    "test_compile.py::test_whole_update_step_has_no_graph_breaks",
    # Aim's repository (its storage starts processes) in a fresh or forked process
    "test_insight.py::test_training_puts_games_boards_and_distributions_in_aim",
    "test_tracking.py::test_roundtrip_in_process_and_in_a_fresh_process",
    "test_tracking.py::test_resume_in_a_separate_process_continues_the_sequence",
    "test_tracking.py::test_resume_after_the_writer_crashed_without_closing",
    "test_tracking.py::test_non_finite_values_are_skipped_not_written",
    "test_tracking.py::test_a_forked_child_cannot_use_the_run",
    # kill tests
    "test_collectors.py::test_a_dead_worker_is_restarted_and_the_run_finishes",
    "test_collectors.py::test_a_worker_killed_mid_run_stops_the_run_cleanly_with_a_checkpoint",
    "test_reliability.py::test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_result",
    "test_train.py::test_sigterm_finishes_the_iteration_checkpoints_and_exits_cleanly",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.path.name
        # a test's id without its parameters; a method keeps its class (Class::test)
        name = "::".join([module, *item.nodeid.split("[")[0].split("::")[1:]])
        if module in SLOW_MODULES or name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


def _refuse_process(*args, **kwargs):
    raise RuntimeError("a test of the fast lane started a process: add it to SLOW_TESTS in "
                       "tests/conftest.py (every subprocess, worker, torchrun, Ray, browser and "
                       "kill test is slow)")


@pytest.fixture(autouse=True)
def _fast_lane_starts_no_process(request, monkeypatch):
    if request.node.get_closest_marker("slow") is not None:
        return
    import multiprocessing.process
    import subprocess

    monkeypatch.setattr(subprocess.Popen, "_execute_child", _refuse_process)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", _refuse_process)
