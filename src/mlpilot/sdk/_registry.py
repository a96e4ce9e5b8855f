"""Register models and load them back by reference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.entities import Dataset, Lineage, ModelVersion, Run
from mlpilot.core.errors import InvalidArgument
from mlpilot.formats import LoadedModel, format_for, get_format, infer_signature, validate_frame
from mlpilot.sdk._context import Context, get_context
from mlpilot.sdk._datasets import snapshot_dataset
from mlpilot.sdk._tracking import ActiveRun, active_run
from mlpilot.store import ANY

_SIGNATURE_SAMPLE = 256


@dataclass(frozen=True)
class RegisteredModel:
    """A loaded version: validates inputs against its signature, then predicts."""

    version: ModelVersion
    model: LoadedModel

    def _inputs(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise InvalidArgument(
                f"{self.version.ref} predicts on a pandas DataFrame. Got {type(X).__name__}."
            )
        if self.version.signature:
            validate_frame(self.version.signature, X)
            return X[[c["name"] for c in self.version.signature["inputs"]]]
        return X

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predictions for the rows of ``X``.

        Raises:
            SchemaMismatch: naming missing, extra or retyped columns.
        """
        return self.model.predict(self._inputs(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities, or None if the model has none."""
        return self.model.predict_proba(self._inputs(X))

    @property
    def raw(self) -> Any:
        """The underlying estimator, ONNX session or function."""
        return self.model.raw


def _input_frame(model: object, data: pd.DataFrame) -> pd.DataFrame:
    """The columns the model consumes (sklearn's ``feature_names_in_`` when present)."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        missing = [c for c in names if c not in data.columns]
        if missing:
            raise InvalidArgument(
                f"The training data lacks columns the model was fitted on: {missing}."
            )
        return data[list(names)]
    return data


def register(
    model: object,
    name: str,
    *,
    run: ActiveRun | Run | str | None = None,
    training_data: pd.DataFrame | Dataset | str | None = None,
    input_example: pd.DataFrame | None = None,
    signature: dict[str, Any] | None = None,
    format: str | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    description: str = "",
    parent_version: int | None = None,
    alias: str | None = None,
    context: Context | None = None,
) -> ModelVersion:
    """Save ``model`` as a new immutable version of ``name``, with lineage.

    The artifact is serialised by its format (skops for scikit-learn, ONNX, or a
    Python function), stored content-addressed, and linked: dataset → run →
    version. The signature is inferred from ``input_example`` or the training
    data when not given.

    Args:
        run: the producing run (default: the active run, if any).
        training_data: a DataFrame (snapshotted and profiled), a Dataset, or its id.
        metrics: version metrics (default: the run's latest metrics).
        alias: set this alias on the new version (e.g. ``"candidate"``).

    Raises:
        InvalidArgument: unsupported model type or malformed arguments.
        NotFound: unknown run or dataset.
    """
    ctx = context or get_context()
    fmt = get_format(format) if format else format_for(model)
    ref = ctx.artifacts.put_bytes(fmt.dump(model))

    producer = active_run() if run is None else run
    run_id = producer if isinstance(producer, str) or producer is None else producer.id
    if isinstance(producer, ActiveRun):
        producer.flush()  # its latest metrics become the version's metrics

    dataset: Dataset | None = None
    frame: pd.DataFrame | None = None
    if isinstance(training_data, pd.DataFrame):
        frame = training_data
        dataset = snapshot_dataset(ctx, frame, f"{name}-training")
    elif isinstance(training_data, Dataset):
        dataset = training_data
    elif isinstance(training_data, str):
        dataset = ctx.store.get_dataset(training_data)
    elif training_data is not None:
        raise InvalidArgument(
            "training_data is a DataFrame, a Dataset or a dataset id. "
            f"Got {type(training_data).__name__}."
        )
    if dataset is not None and run_id is not None:
        ctx.store.link_dataset(dataset.id, run_id, role="training")

    if signature is None:
        example = input_example if input_example is not None else frame
        if example is not None:
            signature = _infer(model, fmt.name, _input_frame(model, example))
    if metrics is None and run_id is not None:
        metrics = ctx.store.get_run(run_id).metrics
    version = ctx.store.create_version(
        name, format=fmt.name, artifact_digest=ref.digest, artifact_size=ref.size,
        signature=signature, run_id=run_id, dataset_id=dataset.id if dataset else None,
        parent_version=parent_version, metrics=metrics, tags=tags, description=description,
    )
    if alias:
        version = ctx.store.set_alias(name, alias, version.version, reason="set at registration")
    return version


def _infer(model: object, format_name: str, X: pd.DataFrame) -> dict[str, Any]:
    sample = X.head(_SIGNATURE_SAMPLE)
    predictions = None
    if format_name == "sklearn":
        try:
            predictions = np.asarray(model.predict(sample))  # type: ignore[attr-defined]
        except Exception:  # an unfitted or picky model: keep the input signature
            predictions = None
    classes = getattr(model, "classes_", None)
    kwargs: dict[str, Any] = {}
    if classes is not None:
        kwargs["classes"] = [c.item() if hasattr(c, "item") else c for c in classes]
    return infer_signature(sample, predictions, **kwargs)


def load(
    ref: str, *, trust: str | Sequence[str] | None = None, context: Context | None = None
) -> RegisteredModel:
    """Load a version: ``"credit-risk@production"``, ``"credit-risk/3"``, ``"credit-risk"``.

    The artifact's sha256 is verified before anything is deserialised; types
    outside the trusted set are refused unless named in ``trust`` (or ``trust``
    is the artifact's digest).

    Raises:
        NotFound: unknown model, version or alias.
        IntegrityError: the stored artifact was tampered with or truncated.
        UntrustedArtifact: the artifact needs types nobody trusted.
    """
    ctx = context or get_context()
    version = ctx.store.resolve(ref)
    data = ctx.artifacts.get_bytes(version.artifact_digest, name=f"model {version.ref}")
    loaded = get_format(version.format).load(data, digest=version.artifact_digest, trust=trust)
    return RegisteredModel(version=version, model=loaded)


def set_alias(
    model: str, alias: str, version: int, *, expected: Any = ANY, reason: str = "",
    context: Context | None = None,
) -> ModelVersion:
    """Move ``alias`` to ``version`` atomically (see :meth:`Store.set_alias`)."""
    ctx = context or get_context()
    return ctx.store.set_alias(model, alias, version, expected=expected, reason=reason)


def lineage(ref: str, *, context: Context | None = None) -> Lineage:
    """Where a version came from and where it is deployed."""
    ctx = context or get_context()
    version = ctx.store.resolve(ref)
    return ctx.store.lineage(version.model, version.version)
