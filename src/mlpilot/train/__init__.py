"""Training: ``@mlpilot.pipeline`` functions, the built-in AutoML, and where they run."""

from mlpilot.train.automl import (
    FAMILIES,
    AutoMLConfig,
    AutoMLResult,
    TrainingError,
    available_families,
    optuna_storage_url,
    search,
)
from mlpilot.train.executors import Executor, LocalExecutor, RayExecutor, get_executor
from mlpilot.train.pipeline import (
    AUTOML,
    Pipeline,
    get_pipeline,
    list_pipelines,
    pipeline,
    run_training,
    unregister_pipeline,
)

__all__ = [
    "AUTOML",
    "FAMILIES",
    "AutoMLConfig",
    "AutoMLResult",
    "Executor",
    "LocalExecutor",
    "Pipeline",
    "RayExecutor",
    "TrainingError",
    "available_families",
    "get_executor",
    "get_pipeline",
    "list_pipelines",
    "optuna_storage_url",
    "pipeline",
    "run_training",
    "search",
    "unregister_pipeline",
]
