"""The installed ``mlpilot`` console script, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("mlpilot")


@pytest.mark.skipif(not SCRIPT.exists(), reason="the mlpilot console script is not installed")
def test_console_script_init_then_models(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPILOT_")}
    home = tmp_path / "home"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), "--home", str(home), *args], env=env,
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)

    init = run("init")
    assert init.returncode == 0, init.stderr
    assert str(home) in init.stdout
    models = run("models", "--json")
    assert models.returncode == 0, models.stderr
    assert json.loads(models.stdout) == []
    missing = run("versions", "ghost")
    assert missing.returncode == 1
    assert "Error: No model named 'ghost'" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert run("versions").returncode == 2  # usage error
