"""Path parameters, validated by the core name rules before any store is touched.

A bad name is a 400 ``invalid_argument`` naming the rule; it never reaches a
query, a file path or a URL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from mlpilot.api.schemas._requests import INT32_MAX
from mlpilot.core.names import validate_alias, validate_key, validate_name
from mlpilot.store.artifacts import validate_digest


def _model_name(name: Annotated[str, Path(description="Model name.")]) -> str:
    return validate_name(name, "model name")


def _deployment_name(name: Annotated[str, Path(description="Deployment name.")]) -> str:
    return validate_name(name, "deployment name")


def _alias(alias: Annotated[str, Path(description="Alias, e.g. production.")]) -> str:
    return validate_alias(alias)


def _run_id(run_id: Annotated[str, Path(description="Run id.")]) -> str:
    return validate_name(run_id, "run id")


def _dataset_id(dataset_id: Annotated[str, Path(description="Dataset id.")]) -> str:
    return validate_name(dataset_id, "dataset id")


def _token_id(token_id: Annotated[str, Path(description="Token id.")]) -> str:
    return validate_name(token_id, "token id")


def _metric_key(key: Annotated[str, Path(description="Metric key ('/' allowed).")]) -> str:
    return validate_key(key, "metric key")


def _digest(digest: Annotated[str, Path(description="'sha256:' + 64 hex digits.")]) -> str:
    validate_digest(digest)
    return digest


ModelName = Annotated[str, Depends(_model_name)]
DeploymentName = Annotated[str, Depends(_deployment_name)]
AliasName = Annotated[str, Depends(_alias)]
RunId = Annotated[str, Depends(_run_id)]
DatasetId = Annotated[str, Depends(_dataset_id)]
TokenId = Annotated[str, Depends(_token_id)]
MetricKey = Annotated[str, Depends(_metric_key)]
Digest = Annotated[str, Depends(_digest)]
Version = Annotated[int, Path(ge=1, le=INT32_MAX, description="Version number.")]
