"""Worker processes of hgtools.parallel: their environment and the caller's."""

from __future__ import annotations

import os

from hgtools.parallel import WORKER_ENVIRONMENT, environment, run_concurrently


def test_workers_wait_passively_and_the_callers_environment_comes_back(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    seen = run_concurrently(os.getenv, [{"key": "OMP_WAIT_POLICY"}, {"key": "TF_CPP_MIN_LOG_LEVEL"}], 2, "env")
    assert seen == [WORKER_ENVIRONMENT["OMP_WAIT_POLICY"], WORKER_ENVIRONMENT["TF_CPP_MIN_LOG_LEVEL"]]
    assert "OMP_WAIT_POLICY" not in os.environ


def test_tasks_run_in_workers_with_one_tensorflow_thread_even_one_task_alone(monkeypatch):
    for key in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        monkeypatch.delenv(key, raising=False)
    # the calling process's thread pools may differ, and TensorFlow's rounding depends on its threads
    pids = run_concurrently(os.getpid, [{}], 1, "pid") + run_concurrently(os.getpid, [{}, {}], 1, "pid")
    assert os.getpid() not in pids and len(set(pids[1:])) == 1
    keys = [{"key": "TF_NUM_INTRAOP_THREADS"}, {"key": "TF_NUM_INTEROP_THREADS"}]
    assert run_concurrently(os.getenv, keys, 2, "env") == ["1", "1"]
    assert run_concurrently(os.getpid, [], 2, "nothing") == []


def test_a_lone_worker_waits_actively(monkeypatch):
    """Passive waiting is for workers side by side; alone, it slowed LightGBM's fits fourfold."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert run_concurrently(os.getenv, [{"key": "OMP_WAIT_POLICY"}] * 2, 1, "env") == [None, None]
    assert run_concurrently(os.getenv, [{"key": "OMP_WAIT_POLICY"}], None, "env") == [None]  # one task: one worker


def test_a_wait_policy_the_caller_chose_is_kept(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert run_concurrently(os.getenv, [{"key": "OMP_WAIT_POLICY"}] * 2, 2, "env") == ["ACTIVE", "ACTIVE"]
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # kept for a lone worker too
    assert run_concurrently(os.getenv, [{"key": "OMP_WAIT_POLICY"}], 1, "env") == ["PASSIVE"]


def test_environment_restores_set_and_unset_variables(monkeypatch):
    monkeypatch.setenv("HGTOOLS_TEST_A", "before")
    monkeypatch.delenv("HGTOOLS_TEST_B", raising=False)
    with environment({"HGTOOLS_TEST_A": "inside", "HGTOOLS_TEST_B": "inside"}):
        assert os.environ["HGTOOLS_TEST_A"] == os.environ["HGTOOLS_TEST_B"] == "inside"
    assert os.environ["HGTOOLS_TEST_A"] == "before" and "HGTOOLS_TEST_B" not in os.environ
    with environment({"HGTOOLS_TEST_A": None}):  # None unsets a variable inside the block
        assert "HGTOOLS_TEST_A" not in os.environ
    assert os.environ["HGTOOLS_TEST_A"] == "before"
