"""The lineage query: where did a version come from, and where is it deployed."""

from __future__ import annotations

from sqlalchemy import and_, or_, select

from mlpilot.core.entities import Lineage
from mlpilot.store._sql import convert
from mlpilot.store._sql.registry import RegistryMixin
from mlpilot.store._sql.tables import DatasetRow, DeploymentRow, LineageRow
from mlpilot.store._sql.tracking import TrackingMixin


class LineageMixin(RegistryMixin, TrackingMixin):
    """Graph queries over lineage edges (dataset → run → version → deployment)."""

    def lineage(self, model: str, version: int) -> Lineage:
        """Everything upstream and downstream of ``model/version``.

        Raises:
            NotFound: if the model or version does not exist.
        """
        mv = self.get_version(model, version)
        ref = mv.ref
        run = self.get_run(mv.run_id) if mv.run_id else None
        with self._read() as s:
            conditions = [and_(LineageRow.target_kind == "version", LineageRow.target_id == ref),
                          and_(LineageRow.source_kind == "version", LineageRow.source_id == ref)]
            if run is not None:
                conditions.append(
                    and_(LineageRow.target_kind == "run", LineageRow.target_id == run.id))
            edges = [convert.edge(r) for r in s.scalars(
                select(LineageRow).where(or_(*conditions)).order_by(LineageRow.id))]
            dataset_ids = {e.source_id for e in edges if e.source_kind == "dataset"}
            if mv.dataset_id:
                dataset_ids.add(mv.dataset_id)
            datasets = tuple(convert.dataset(r) for r in s.scalars(
                select(DatasetRow).where(DatasetRow.id.in_(dataset_ids)).order_by(DatasetRow.name)))
            m = self._model_row(s, model)
            deployments = tuple(
                convert.deployment(d, model)
                for d in s.scalars(select(DeploymentRow).where(DeploymentRow.model_id == m.id))
                if any(r["version"] == version for r in d.routes)
            )
        parent = self.get_version(model, mv.parent_version) if mv.parent_version else None
        return Lineage(version=mv, run=run, datasets=datasets, parent=parent,
                       deployments=deployments, edges=tuple(edges))
