"""Model formats: scikit-learn via skops, ONNX, and plain Python functions.

Example:
    >>> from sklearn.dummy import DummyClassifier
    >>> format_for(DummyClassifier()).name
    'sklearn'
    >>> available_formats()
    ['onnx', 'pyfunc', 'sklearn']
"""

from __future__ import annotations

from mlpilot.core.errors import InvalidArgument
from mlpilot.formats._base import LoadedModel, ModelFormat, Trust
from mlpilot.formats._onnx import OnnxFormat
from mlpilot.formats._pyfunc import PyfuncFormat
from mlpilot.formats._sklearn import SklearnFormat
from mlpilot.formats.signature import infer_signature, logical_dtype, validate_frame

__all__ = [
    "LoadedModel",
    "ModelFormat",
    "OnnxFormat",
    "PyfuncFormat",
    "SklearnFormat",
    "Trust",
    "available_formats",
    "format_for",
    "get_format",
    "infer_signature",
    "logical_dtype",
    "validate_frame",
]

# Order matters: format_for asks each in turn, so estimators go to sklearn
# before pyfunc would take them for "an object with predict".
_FORMATS: dict[str, ModelFormat] = {
    f.name: f for f in (SklearnFormat(), OnnxFormat(), PyfuncFormat())
}


def available_formats() -> list[str]:
    """Names of the registered model formats, sorted."""
    return sorted(_FORMATS)


def get_format(name: str) -> ModelFormat:
    """The format registered under ``name``.

    Raises:
        InvalidArgument: if there is none; the message lists the valid names.
    """
    try:
        return _FORMATS[name]
    except (KeyError, TypeError):
        raise InvalidArgument(
            f"No model format named {name!r}. Available: {available_formats()}.",
            field="format",
        ) from None


def format_for(model: object) -> ModelFormat:
    """The first format (sklearn, onnx, pyfunc) that can save ``model``.

    Raises:
        InvalidArgument: if no format accepts it; the message says what is supported.
    """
    for fmt in _FORMATS.values():
        if fmt.accepts(model):
            return fmt
    raise InvalidArgument(
        f"mlpilot cannot save a {type(model).__module__}.{type(model).__qualname__}. "
        "Supported: scikit-learn compatible estimators and pipelines (fit + predict), "
        "onnx.ModelProto objects or ONNX bytes, and predict functions f(df) -> array "
        "or objects with a predict method.",
        field="model",
    )
