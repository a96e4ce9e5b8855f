"""The model format contract and the uniform wrapper around loaded models."""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mlpilot.core.errors import IntegrityError, InvalidArgument, MlpilotError, UntrustedArtifact

#: What a caller may trust when loading: nothing (``None``), extra fully
#: qualified type names (``["mypkg.MyTransformer"]``), or the artifact's own
#: digest (``"sha256:..."``) meaning "I trust this exact artifact entirely".
Trust = str | Sequence[str] | None


def _as_array(values: Any) -> np.ndarray:
    if isinstance(values, pd.DataFrame | pd.Series):
        return values.to_numpy()
    return np.asarray(values)


class LoadedModel:
    """A model ready to predict, whatever format it was stored in.

    By default it delegates to ``raw.predict`` / ``raw.predict_proba`` /
    ``raw.classes_``; formats pass their own callables where the raw object
    works differently (an ONNX session, a plain function).

    Thread safety: ``predict`` and ``predict_proba`` are as thread-safe as the
    underlying model; scikit-learn estimators and ONNX Runtime sessions are.

    Args:
        raw: the underlying object (estimator, inference session, function).
        format: name of the format that loaded it.
        digest: the artifact's digest, if it came from a stored artifact.
        predict: ``X -> predictions``; defaults to ``raw.predict``.
        predict_proba: ``X -> probabilities``; defaults to ``raw.predict_proba``
            when that exists.
        classes: class labels; defaults to ``raw.classes_`` when that exists.
    """

    def __init__(
        self,
        raw: object,
        *,
        format: str,
        digest: str | None = None,
        predict: Callable[[pd.DataFrame], Any] | None = None,
        predict_proba: Callable[[pd.DataFrame], Any] | None = None,
        classes: Sequence[Any] | np.ndarray | None = None,
    ) -> None:
        self._raw = raw
        self._format = format
        self._digest = digest
        self._predict = predict or getattr(raw, "predict", None)
        if predict_proba is None and callable(getattr(raw, "predict_proba", None)):
            predict_proba = raw.predict_proba  # type: ignore[attr-defined]
        self._predict_proba = predict_proba
        if classes is None:
            classes = getattr(raw, "classes_", None)
        self._classes = None if classes is None else np.asarray(classes)

    @property
    def format(self) -> str:
        """Name of the format that loaded this model (``"sklearn"``, ``"onnx"``, ...)."""
        return self._format

    @property
    def raw(self) -> object:
        """The underlying model object."""
        return self._raw

    @property
    def digest(self) -> str | None:
        """Digest of the artifact this model was loaded from, if any."""
        return self._digest

    @property
    def delegates(self) -> bool:
        """True when ``predict`` and ``predict_proba`` are the raw object's own methods."""
        raw_predict = getattr(self._raw, "predict", None)
        raw_proba = getattr(self._raw, "predict_proba", None)
        return (raw_predict is not None and self._predict == raw_predict
                and self._predict_proba == raw_proba)

    @property
    def classes_(self) -> np.ndarray | None:
        """Class labels of a classifier, or None."""
        return self._classes

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predict one value per row of ``X``.

        Raises:
            InvalidArgument: if ``X`` is not a DataFrame.
            MlpilotError: if the model returns a different number of rows.
        """
        frame = _check_frame(X)
        if self._predict is None:
            raise InvalidArgument(f"This {self._format} model has no predict method.")
        out = _as_array(self._predict(frame))
        if out.ndim == 0 or out.shape[0] != len(frame):
            raise MlpilotError(
                f"The {self._format} model must return one prediction per row: it got "
                f"{len(frame)} rows and returned shape {tuple(out.shape)}. Fix the model's "
                "predict function."
            )
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities as a 2-D array (rows × classes), or None if the model has none.

        Raises:
            InvalidArgument: if ``X`` is not a DataFrame.
        """
        frame = _check_frame(X)
        if self._predict_proba is None:
            return None
        out = _as_array(self._predict_proba(frame))
        if out.ndim == 1:
            out = out.reshape(-1, 1)
        return out

    def __repr__(self) -> str:
        return f"LoadedModel(format={self._format!r}, raw={type(self._raw).__name__})"


def _check_frame(X: object) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise InvalidArgument(
            f"Model input must be a pandas DataFrame with one column per feature. Got "
            f"{type(X).__name__}; wrap it with pandas.DataFrame(...).",
            field="X",
        )
    return X


def resolve_trust(trust: Trust, digest: str) -> tuple[bool, frozenset[str]]:
    """Normalize ``trust`` into (trusts the whole artifact, extra trusted type names).

    Raises:
        InvalidArgument: if ``trust`` is neither None, a digest, nor a sequence of strings.
        UntrustedArtifact: if ``trust`` is a digest of a different artifact.
    """
    if trust is None:
        return False, frozenset()
    if isinstance(trust, str):
        if trust == digest:
            return True, frozenset()
        if trust.startswith("sha256:"):
            raise UntrustedArtifact(
                f"trust={trust!r} names a different artifact: this one is {digest}. Pass "
                "this artifact's own digest to trust it entirely.",
                digest=digest,
            )
        raise InvalidArgument(
            "trust must be a list of fully qualified type names or the artifact's digest "
            f"('sha256:...'). Got the string {trust!r}; did you mean trust=[{trust!r}]?",
            field="trust",
        )
    if (
        not isinstance(trust, Collection)
        or isinstance(trust, bytes | Mapping)
        or not all(isinstance(t, str) for t in trust)
    ):
        raise InvalidArgument(
            "trust must be a list of fully qualified type names or the artifact's digest "
            f"('sha256:...'). Got {trust!r}.",
            field="trust",
        )
    return digest in trust, frozenset(t for t in trust if not t.startswith("sha256:"))


class ModelFormat(abc.ABC):
    """How one kind of model is saved to one self-contained blob and loaded back.

    Implementations are stateless; one instance serves all threads. ``load``
    checks that ``data`` hashes to ``digest`` before handing it to the format,
    so a ``trust`` given as a digest always refers to the bytes being loaded.
    Loading never runs code from the artifact unless the caller trusted that
    exact artifact by digest.

    To add a format: subclass, set ``name``, implement ``accepts``, ``dump`` and
    ``_load``, and register an instance in :mod:`mlpilot.formats`.
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def accepts(self, model: object) -> bool:
        """True if this format can save ``model``. Never raises."""

    @abc.abstractmethod
    def dump(self, model: object) -> bytes:
        """Serialize ``model`` into one self-contained blob.

        Raises:
            InvalidArgument: if this format cannot save ``model``.
        """

    def load(self, data: bytes, *, digest: str, trust: Trust = None) -> LoadedModel:
        """Load a blob written by :meth:`dump`.

        Args:
            data: the blob.
            digest: its ``"sha256:<hex>"`` digest (checked against ``data``).
            trust: see :data:`Trust`.

        Raises:
            IntegrityError: if ``data`` does not hash to ``digest``.
            UntrustedArtifact: if loading needs trust the caller did not give.
            InvalidArgument: if ``data`` is not a valid blob of this format, or
                ``trust`` is malformed.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidArgument(
                f"A {self.name} artifact must be loaded from bytes. Got {type(data).__name__}.",
                field="data",
            )
        data = bytes(data)
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise IntegrityError(
                f"The {self.name} artifact given as {digest} does not match its content, "
                f"which hashes to {actual}. Load it from the artifact store, which "
                "verifies it, or pass its real digest.",
                artifact=digest,
                expected=digest,
                actual=actual,
            )
        return self._load(data, digest=digest, trust=trust)

    @abc.abstractmethod
    def _load(self, data: bytes, *, digest: str, trust: Trust) -> LoadedModel:
        """Load verified ``data``; see :meth:`load`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
