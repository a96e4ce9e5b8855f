"""mlpilot.data: dataset schemas, profiles and content-addressed Parquet snapshots.

* :mod:`~mlpilot.data.schema`: logical column types and schema diffs.
* :mod:`~mlpilot.data.profile`: reference statistics for drift detection.
* :mod:`~mlpilot.data.reference`: the helpers detectors use to read a profile back.
* :mod:`~mlpilot.data.snapshot`: deterministic Parquet bytes and their sha256 digest.
"""

from mlpilot.data.profile import (
    PROFILE_VERSION,
    categorical_counts,
    category_key,
    compute_profile,
)
from mlpilot.data.reference import bin_proportions, psi_bins, reference_cdf, sketch_values
from mlpilot.data.schema import (
    LOGICAL_DTYPES,
    SchemaDiff,
    check_column_names,
    compare_schema,
    infer_schema,
    logical_dtype,
)
from mlpilot.data.snapshot import dataset_digest, read_parquet_bytes, to_parquet_bytes

__all__ = [
    "LOGICAL_DTYPES",
    "PROFILE_VERSION",
    "SchemaDiff",
    "bin_proportions",
    "categorical_counts",
    "category_key",
    "check_column_names",
    "compare_schema",
    "compute_profile",
    "dataset_digest",
    "infer_schema",
    "logical_dtype",
    "psi_bins",
    "read_parquet_bytes",
    "reference_cdf",
    "sketch_values",
    "to_parquet_bytes",
]
