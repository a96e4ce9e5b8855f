"""Dataset snapshots: Parquet bytes in the artifact store, schema and profile in the store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlpilot.core.entities import Dataset
from mlpilot.core.errors import InvalidArgument
from mlpilot.data import compute_profile, infer_schema, read_parquet_bytes, to_parquet_bytes
from mlpilot.sdk._context import Context, get_context


def _as_frame(data: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, str | Path):
        path = Path(data)
        if not path.is_file():
            raise InvalidArgument(f"No data file at {str(path)!r}.")
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            return pd.read_csv(path)
        raise InvalidArgument(
            f"Datasets are read from .parquet or .csv files. Got {path.suffix!r}."
        )
    raise InvalidArgument(
        f"A dataset is a pandas DataFrame or a path to one. Got {type(data).__name__}."
    )


def snapshot_dataset(
    context: Context, data: pd.DataFrame | str | Path, name: str, *, description: str = ""
) -> Dataset:
    """Store ``data`` content-addressed as Parquet with its schema and profile."""
    frame = _as_frame(data)
    blob = to_parquet_bytes(frame)
    ref = context.artifacts.put_bytes(blob)
    return context.store.register_dataset(
        name, digest=ref.digest, num_rows=len(frame), num_columns=frame.shape[1],
        schema=infer_schema(frame), profile=compute_profile(frame), description=description,
    )


def register_dataset(
    data: pd.DataFrame | str | Path, name: str, *, description: str = "",
    context: Context | None = None,
) -> Dataset:
    """Snapshot a dataset outside any run."""
    return snapshot_dataset(context or get_context(), data, name, description=description)


def load_dataset(dataset: Dataset | str, *, context: Context | None = None) -> pd.DataFrame:
    """Read a snapshot back (verified against its digest)."""
    ctx = context or get_context()
    ds = dataset if isinstance(dataset, Dataset) else ctx.store.get_dataset(dataset)
    return read_parquet_bytes(ctx.artifacts.get_bytes(ds.digest, name=f"dataset {ds.name}"))
