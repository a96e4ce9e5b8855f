"""Dataset snapshots (content-addressed) and their links to runs."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from mlpilot.core.clock import utcnow
from mlpilot.core.entities import Dataset
from mlpilot.core.errors import NotFound
from mlpilot.core.names import validate_name
from mlpilot.store._sql import convert
from mlpilot.store._sql.core import StoreCore
from mlpilot.store._sql.tables import DatasetRow, LineageRow, RunRow
from mlpilot.store._sql.util import insert_ignore


class DatasetMixin(StoreCore):
    """Dataset records; the Parquet bytes live in the artifact store under ``digest``."""

    def register_dataset(
        self,
        name: str,
        *,
        digest: str,
        num_rows: int,
        num_columns: int,
        schema: dict[str, Any],
        profile: dict[str, Any],
        description: str = "",
    ) -> Dataset:
        """Record a snapshot; registering the same (name, digest) again returns the first."""
        validate_name(name, "dataset name")
        with self._write() as s:
            inserted = insert_ignore(s, DatasetRow.__table__, [{
                "id": uuid.uuid4().hex, "name": name, "digest": digest, "num_rows": num_rows,
                "num_columns": num_columns, "schema_json": schema, "profile": profile,
                "description": description, "created_at": utcnow(), "created_by": self.actor,
            }])
            row = s.scalars(select(DatasetRow).where(
                DatasetRow.name == name, DatasetRow.digest == digest)).one()
            if inserted == 1:
                self._emit(s, "dataset.register", "dataset", row.id,
                           payload={"name": name, "digest": digest, "rows": num_rows})
            return convert.dataset(row)

    def get_dataset(self, dataset_id: str) -> Dataset:
        """Return a dataset by id.

        Raises:
            NotFound: if no dataset has that id.
        """
        with self._read() as s:
            row = s.get(DatasetRow, dataset_id) if isinstance(dataset_id, str) else None
            if row is None:
                raise NotFound(f"No dataset with id {dataset_id!r}.")
            return convert.dataset(row)

    def list_datasets(self, name: str | None = None) -> list[Dataset]:
        """Datasets, newest first, optionally only those named ``name``."""
        with self._read() as s:
            stmt = select(DatasetRow).order_by(DatasetRow.created_at.desc())
            if name is not None:
                stmt = stmt.where(DatasetRow.name == name)
            return [convert.dataset(r) for r in s.scalars(stmt)]

    def link_dataset(self, dataset_id: str, run_id: str, *, role: str = "training") -> None:
        """Record the lineage edge dataset → run (``role``: training, validation, …)."""
        with self._write() as s:
            if s.get(DatasetRow, dataset_id) is None:
                raise NotFound(f"No dataset with id {dataset_id!r}.")
            if s.get(RunRow, run_id) is None:
                raise NotFound(f"No run with id {run_id!r}.")
            if insert_ignore(s, LineageRow.__table__, [{
                "source_kind": "dataset", "source_id": dataset_id, "target_kind": "run",
                "target_id": run_id, "relation": role, "created_at": utcnow(),
            }]) == 1:
                self._emit(s, "lineage.link", "run", run_id,
                           payload={"dataset": dataset_id, "role": role})
