"""Executors: the local default and Ray (a real local runtime) running AutoML trials."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import pandas as pd
import pytest

from mlpilot.core.errors import InvalidArgument
from mlpilot.train import LocalExecutor, RayExecutor, get_executor, search


def _thread_name(i: int) -> tuple[int, str]:
    return i, threading.current_thread().name


def test_local_executor_keeps_order_and_uses_threads_for_several() -> None:
    assert LocalExecutor().run(sum, [1, 2]) == 3
    results = LocalExecutor(max_workers=2).map(_thread_name, [(i,) for i in range(4)])
    assert [i for i, _ in results] == [0, 1, 2, 3]
    assert all(name.startswith("mlpilot-train") for _, name in results)
    assert LocalExecutor().map(_thread_name, [(0,)])[0][1] == threading.current_thread().name
    with pytest.raises(InvalidArgument, match="max_workers"):
        LocalExecutor(max_workers=0)
    assert isinstance(get_executor(None), LocalExecutor)


def test_in_memory_study_refuses_remote_workers(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidArgument, match="needs a storage URL"):
        search(frame, "label", {"families": ["linear"], "n_trials": 1},
               executor=RayExecutor())


@pytest.mark.ray
def test_ray_executor_runs_trials_in_ray_workers(
        tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # no token saved in ~/.ray
    ray_tmp = Path(tempfile.mkdtemp(prefix="mlpilot-ray-", dir="/tmp"))  # short socket paths
    executor = RayExecutor(ray_init={"num_cpus": 2, "_temp_dir": str(ray_tmp),
                                     "configure_logging": False})
    try:
        assert executor.run(sum, [1, 2]) == 3
        result = search(frame, "label", {"families": ["linear"], "n_trials": 4, "n_workers": 2,
                                         "cv": 2, "budget_seconds": 60},
                        executor=executor, storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    finally:
        executor.close()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert len(result.trials) >= 4
    pids = {t.worker.split(":")[1] for t in result.trials}
    assert str(os.getpid()) not in pids
    assert result.best_score > result.baseline_score
