"""What every check sees: the candidate, its baseline, the holdout, and cached predictions."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlpilot.core.entities import Dataset, ModelVersion, Run
from mlpilot.sdk._context import Context
from mlpilot.sdk._registry import RegisteredModel

Task = Literal["classification", "regression"]


@dataclass(eq=False)
class CheckContext:
    """Inputs shared by the checks of one report. Predictions are computed once, lazily.

    Attributes:
        candidate: the version under test, and ``model`` its loaded form.
        baseline: the version it is compared with (``production`` by default), if any.
        data: the holdout frame, label column included (``target``), if any.
        reference: the training dataset record (schema + profile), if lineage has one.
        config: the per-check configuration (``checks.yaml`` parsed).
        output_dir: where checks may save examples (failing inputs, plots).
    """

    context: Context
    candidate: ModelVersion
    model: RegisteredModel
    baseline: ModelVersion | None = None
    baseline_model: RegisteredModel | None = None
    data: pd.DataFrame | None = None
    target: str | None = None
    task: Task = "classification"
    reference: Dataset | None = None
    run: Run | None = None
    sensitive_features: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    output_dir: Path | None = None

    # -- inputs ---------------------------------------------------------------------
    @property
    def input_columns(self) -> list[str]:
        """The model's input columns, from its signature (else every non-label column)."""
        signature = self.candidate.signature or {}
        if signature.get("inputs"):
            return [c["name"] for c in signature["inputs"]]
        if self.data is None:
            return []
        return [c for c in self.data.columns if c != self.target]

    @functools.cached_property
    def features(self) -> pd.DataFrame | None:
        """The holdout restricted to the model's inputs (None without a holdout)."""
        if self.data is None:
            return None
        present = [c for c in self.input_columns if c in self.data.columns]
        return self.data[present]

    @functools.cached_property
    def labels(self) -> np.ndarray | None:
        """The holdout's ground truth (None without a holdout or target)."""
        if self.data is None or self.target is None or self.target not in self.data.columns:
            return None
        return self.data[self.target].to_numpy()

    @functools.cached_property
    def reference_data(self) -> pd.DataFrame | None:
        """The training snapshot itself (loaded and verified on first use)."""
        if self.reference is None:
            return None
        from mlpilot.sdk._datasets import load_dataset

        return load_dataset(self.reference, context=self.context)

    # -- predictions ------------------------------------------------------------------
    @functools.cached_property
    def predictions(self) -> np.ndarray | None:
        """Candidate predictions on the holdout features."""
        return None if self.features is None else np.asarray(self.model.predict(self.features))

    @functools.cached_property
    def probabilities(self) -> np.ndarray | None:
        """Candidate class probabilities on the holdout (classifiers only)."""
        if self.features is None or self.task != "classification":
            return None
        proba = self.model.predict_proba(self.features)
        return None if proba is None else np.asarray(proba)

    @functools.cached_property
    def baseline_features(self) -> pd.DataFrame | None:
        """The holdout restricted to the baseline's own inputs."""
        if self.baseline is None or self.data is None:
            return None
        inputs = [c["name"] for c in (self.baseline.signature or {}).get("inputs", [])]
        return self.data[inputs] if inputs else self.data.drop(columns=[self.target] if
                                                               self.target else [])

    @functools.cached_property
    def baseline_predictions(self) -> np.ndarray | None:
        """Baseline predictions on the same holdout rows."""
        inputs = self.baseline_features
        if self.baseline_model is None or inputs is None:
            return None
        return np.asarray(self.baseline_model.predict(inputs))

    @functools.cached_property
    def baseline_probabilities(self) -> np.ndarray | None:
        """Baseline class probabilities on the same holdout rows."""
        inputs = self.baseline_features
        if self.baseline_model is None or inputs is None or self.task != "classification":
            return None
        proba = self.baseline_model.predict_proba(inputs)
        return None if proba is None else np.asarray(proba)

    def check_config(self, name: str) -> dict[str, Any]:
        """The configuration block of one check (``{}`` if none)."""
        block = self.config.get("checks", {}).get(name, {})
        return dict(block) if isinstance(block, dict) else {}
