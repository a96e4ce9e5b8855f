"""Predict functions the chaos tests register as ``pyfunc`` models (imported by name).

The gateway subprocess imports this module (``chaos_support`` puts this directory on
its ``PYTHONPATH``), so no pickle is involved and nothing needs trusting.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

#: how long :func:`sleepy` takes on a slow row; far above the tests' request timeout
SLOW_S = 3.0


def sleepy(frame: pd.DataFrame) -> Any:
    """``x > 1`` as 0/1; takes SLOW_S seconds when any row has ``x >= 100``."""
    if (frame["x"] >= 100).any():
        time.sleep(SLOW_S)
    return (frame["x"] > 1).astype(np.int64).to_numpy()
