"""Errors the gateway answers with; each maps to one HTTP status and ``code``."""

from __future__ import annotations

from mlpilot.core.errors import MlpilotError


class InvalidJSON(MlpilotError):
    """The body is not strict JSON (syntax, NaN/Infinity, encoding)."""

    code = "invalid_json"
    http_status = 400


class JSONTooDeep(MlpilotError):
    """The body nests deeper than the gateway's limit."""

    code = "json_too_deep"
    http_status = 400


class UnsupportedMediaType(MlpilotError):
    """The body is not declared as JSON; the gateway never deserialises anything else."""

    code = "unsupported_media_type"
    http_status = 415


class PayloadTooLarge(MlpilotError):
    """The body, the batch or the feedback list is over its limit."""

    code = "payload_too_large"
    http_status = 413


class InvalidInput(MlpilotError):
    """The JSON parses but does not describe valid model input."""

    code = "invalid_input"
    http_status = 422


class NullNotAllowed(InvalidInput):
    """A column the signature declares non-nullable holds nulls."""

    code = "null_not_allowed"


class InputSchemaMismatch(InvalidInput):
    """The input's columns or types do not match the model signature."""

    code = "schema_mismatch"


class ModelNotReady(MlpilotError):
    """The name is wanted but its model is not loaded (yet)."""

    code = "model_not_ready"
    http_status = 503


class PredictTimeout(MlpilotError):
    """The prediction took longer than the request timeout."""

    code = "predict_timeout"
    http_status = 504


class PredictFailed(MlpilotError):
    """The model raised while predicting; the server log names the error class."""

    code = "predict_failed"
    http_status = 500
