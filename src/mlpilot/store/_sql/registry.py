"""Models, versions and aliases."""

from __future__ import annotations

import math
import re
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mlpilot.core.clock import utcnow
from mlpilot.core.entities import Model, ModelVersion, VersionStatus
from mlpilot.core.errors import (
    AliasConflict,
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
)
from mlpilot.core.names import validate_alias, validate_name
from mlpilot.store._sql import convert
from mlpilot.store._sql.core import StoreCore
from mlpilot.store._sql.tables import (
    AliasRow,
    DatasetRow,
    DeploymentRow,
    LineageRow,
    ModelRow,
    RunRow,
    VersionRow,
)
from mlpilot.store._sql.util import insert_ignore


class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()
"""Sentinel for ``expected=``: move the alias whoever holds it."""

_REF = re.compile(r"^(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/@]+))?$")


class RegistryMixin(StoreCore):
    """Registry operations. Every mutation writes its Event in the same transaction."""

    # -- models ---------------------------------------------------------------------
    def create_model(
        self, name: str, *, description: str = "", tags: dict[str, str] | None = None
    ) -> Model:
        """Create a model.

        Raises:
            InvalidArgument: if the name breaks the naming rule.
            AlreadyExists: if a model with that name exists.
        """
        validate_name(name, "model name")
        try:
            with self._write() as s:
                self._new_model(s, name, description, tags or {})
        except sa_exc.IntegrityError as exc:
            raise AlreadyExists(f"A model named {name!r} already exists.") from exc
        return self.get_model(name)

    def _new_model(
        self, s: Session, name: str, description: str, tags: dict[str, str]
    ) -> ModelRow:
        now = utcnow()
        row = ModelRow(
            name=name, description=description, tags=tags, last_version=0,
            created_at=now, updated_at=now,
        )
        s.add(row)
        s.flush()
        self._emit(s, "model.create", "model", name)
        return row

    def get_model(self, name: str) -> Model:
        """Return the model named ``name``.

        Raises:
            NotFound: naming the model and listing some that exist.
        """
        with self._read() as s:
            row = self._model_row(s, name)
            return convert.model(row, self._aliases(s, row.id))

    def list_models(self, *, search: str | None = None) -> list[Model]:
        """All models, by name; ``search`` keeps names containing it (case-insensitive)."""
        with self._read() as s:
            stmt = select(ModelRow).order_by(ModelRow.name)
            if search:
                stmt = stmt.where(ModelRow.name.ilike(f"%{_escape_like(search)}%", escape="\\"))
            rows = s.scalars(stmt).all()
            aliases: dict[int, dict[str, int]] = {}
            ids = [r.id for r in rows]
            for a in s.scalars(select(AliasRow).where(AliasRow.model_id.in_(ids))):
                aliases.setdefault(a.model_id, {})[a.name] = a.version
            return [convert.model(r, aliases.get(r.id, {})) for r in rows]

    def update_model(
        self, name: str, *, description: str | None = None, tags: dict[str, str] | None = None
    ) -> Model:
        """Change a model's description and/or merge tags into its tags."""
        with self._write() as s:
            row = self._model_row(s, name)
            if description is not None:
                row.description = description
            if tags:
                row.tags = {**row.tags, **tags}
            row.updated_at = utcnow()
            self._emit(s, "model.update", "model", name,
                       payload={"description": description, "tags": tags or {}})
        return self.get_model(name)

    # -- versions -------------------------------------------------------------------
    def create_version(
        self,
        model: str,
        *,
        format: str,
        artifact_digest: str,
        artifact_size: int,
        signature: dict[str, Any] | None = None,
        run_id: str | None = None,
        dataset_id: str | None = None,
        parent_version: int | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
        description: str = "",
        reason: str = "",
    ) -> ModelVersion:
        """Register a new immutable version (creating the model if needed).

        The version number comes from an atomic increment on the model row, so
        concurrent registrations never collide. Lineage edges run → version,
        dataset → version and parent → version are written in the same transaction.

        Raises:
            NotFound: if ``run_id``, ``dataset_id`` or ``parent_version`` do not exist.
        """
        validate_name(model, "model name")
        metrics = _finite_metrics(metrics or {})
        with self._write() as s:
            if insert_ignore(s, ModelRow.__table__, [_new_model_values(model)]) == 1:
                self._emit(s, "model.create", "model", model)
            m = s.scalars(select(ModelRow).where(ModelRow.name == model)).one()
            if run_id is not None and s.get(RunRow, run_id) is None:
                raise NotFound(f"No run with id {run_id!r}; log the run before registering.")
            if dataset_id is not None and s.get(DatasetRow, dataset_id) is None:
                raise NotFound(f"No dataset with id {dataset_id!r}.")
            if parent_version is not None:
                self._version_row(s, m, parent_version)
            number = s.execute(
                update(ModelRow)
                .where(ModelRow.id == m.id)
                .values(last_version=ModelRow.last_version + 1, updated_at=utcnow())
                .returning(ModelRow.last_version)
            ).scalar_one()
            row = VersionRow(
                model_id=m.id, version=number, status=VersionStatus.READY.value,
                format=format, artifact_digest=artifact_digest, artifact_size=artifact_size,
                signature=signature, run_id=run_id, dataset_id=dataset_id,
                parent_version=parent_version, metrics=dict(metrics or {}),
                tags=dict(tags or {}), description=description,
                created_at=utcnow(), created_by=self.actor,
            )
            s.add(row)
            ref = f"{model}/{number}"
            edges = []
            if run_id:
                edges.append(("run", run_id, "produced"))
            if dataset_id:
                edges.append(("dataset", dataset_id, "trained"))
            if parent_version is not None:
                edges.append(("version", f"{model}/{parent_version}", "derived"))
            insert_ignore(s, LineageRow.__table__, [
                {"source_kind": k, "source_id": i, "target_kind": "version", "target_id": ref,
                 "relation": rel, "created_at": utcnow()} for k, i, rel in edges
            ])
            self._emit(s, "version.create", "version", ref, reason=reason,
                       payload={"digest": artifact_digest, "format": format, "run_id": run_id})
        return self.get_version(model, number)

    def get_version(self, model: str, version: int) -> ModelVersion:
        """Return one version.

        Raises:
            NotFound: if the model or the version does not exist.
        """
        with self._read() as s:
            m = self._model_row(s, model)
            row = self._version_row(s, m, version)
            return self._version_entity(s, m, row)

    def list_versions(self, model: str) -> list[ModelVersion]:
        """Every version of ``model``, oldest first."""
        with self._read() as s:
            m = self._model_row(s, model)
            rows = s.scalars(
                select(VersionRow).where(VersionRow.model_id == m.id).order_by(VersionRow.version)
            ).all()
            by_version: dict[int, list[str]] = {}
            for name, v in self._aliases(s, m.id).items():
                by_version.setdefault(v, []).append(name)
            return [convert.version(r, m.name, by_version.get(r.version, [])) for r in rows]

    def resolve(self, ref: str) -> ModelVersion:
        """Resolve ``name/3``, ``name@alias``, ``name@latest`` or ``name`` (= ``@production``).

        Raises:
            InvalidArgument: if the reference is malformed, or a bare name has no
                production alias.
            NotFound: if the model, version or alias does not exist.
        """
        match = _REF.match(ref) if isinstance(ref, str) else None
        if not match:
            raise InvalidArgument(
                "A model reference must be 'name/VERSION', 'name@ALIAS' or 'name'. "
                f"Got {ref!r}."
            )
        name = validate_name(match["name"], "model name")
        if match["version"]:
            return self.get_version(name, int(match["version"]))
        alias = match["alias"] or "production"
        with self._read() as s:
            m = self._model_row(s, name)
            if alias == "latest":
                if not m.last_version:
                    raise NotFound(f"Model {name!r} has no versions yet.")
                return self._version_entity(s, m, self._version_row(s, m, m.last_version))
            validate_alias(alias)
            held = self._aliases(s, m.id)
            if alias not in held:
                hint = (f" Known aliases: {sorted(held)}." if held else " It has no aliases.")
                if match["alias"] is None:
                    raise InvalidArgument(
                        f"Model {name!r} has no 'production' alias, so a bare name is "
                        f"ambiguous. Say '{name}/N' or '{name}@latest'.{hint}"
                    )
                raise NotFound(f"Model {name!r} has no alias {alias!r}.{hint}")
            return self._version_entity(s, m, self._version_row(s, m, held[alias]))

    def archive_version(self, model: str, version: int, *, reason: str = "") -> ModelVersion:
        """Mark a version archived (it stays loadable; it can no longer take aliases).

        Raises:
            Conflict: if an alias or a deployment still points at it.
        """
        with self._write() as s:
            m = self._model_row(s, model)
            row = self._version_row(s, m, version)
            held = [n for n, v in self._aliases(s, m.id).items() if v == version]
            if held:
                raise Conflict(
                    f"Version {model}/{version} still holds alias(es) {held}; move them first."
                )
            for dep in s.scalars(select(DeploymentRow).where(DeploymentRow.model_id == m.id)):
                if any(r["version"] == version for r in dep.routes):
                    raise Conflict(
                        f"Version {model}/{version} is routed by deployment {dep.name!r}; "
                        "change the deployment first."
                    )
            row.status = VersionStatus.ARCHIVED.value
            self._emit(s, "version.archive", "version", f"{model}/{version}", reason=reason)
        return self.get_version(model, version)

    def annotate_version(
        self,
        model: str,
        version: int,
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        check_report: dict[str, Any] | None = None,
        model_card: str | None = None,
        reason: str = "",
    ) -> ModelVersion:
        """Attach mutable annotations (the artifact itself never changes)."""
        with self._write() as s:
            m = self._model_row(s, model)
            row = self._version_row(s, m, version)
            changes = {
                "description": description,
                "tags": {**row.tags, **tags} if tags else None,
                "check_report": check_report,
                "model_card": model_card,
            }
            changed = [field for field, value in changes.items() if value is not None]
            for field in changed:
                setattr(row, field, changes[field])
            self._emit(s, "version.annotate", "version", f"{model}/{version}", reason=reason,
                       payload={"changed": changed})
        return self.get_version(model, version)

    # -- aliases --------------------------------------------------------------------
    def set_alias(
        self,
        model: str,
        alias: str,
        version: int,
        *,
        expected: int | None | Any = ANY,
        reason: str = "",
    ) -> ModelVersion:
        """Point ``alias`` at ``version`` atomically.

        Args:
            expected: the version the caller believes holds the alias now (``None``:
                nobody). If another writer moved it first, nothing changes and
                :class:`AliasConflict` names the current holder. ``ANY`` skips the check.

        Raises:
            AliasConflict: if ``expected`` does not match, or a concurrent writer won.
            Conflict: if the version is archived.
            NotFound: if the model or version does not exist.
        """
        validate_alias(alias)
        try:
            with self._write() as s:
                m = self._model_row(s, model)
                target = self._version_row(s, m, version)
                if target.status == VersionStatus.ARCHIVED.value:
                    raise Conflict(
                        f"Version {model}/{version} is archived and cannot take alias {alias!r}."
                    )
                current = s.scalars(
                    select(AliasRow)
                    .where(AliasRow.model_id == m.id, AliasRow.name == alias)
                    .with_for_update()
                ).one_or_none()
                holder = current.version if current else None
                if expected is not ANY and holder != expected:
                    raise _alias_conflict(model, alias, holder, expected)
                now = utcnow()
                if current is None:
                    s.add(AliasRow(model_id=m.id, name=alias, version=version, revision=1,
                                   updated_at=now))
                    s.flush()
                else:
                    moved = s.execute(
                        update(AliasRow)
                        .where(AliasRow.id == current.id, AliasRow.revision == current.revision)
                        .values(version=version, revision=current.revision + 1, updated_at=now)
                    ).rowcount
                    if moved != 1:
                        raise _alias_conflict(model, alias, None, expected)
                self._emit(s, "alias.set", "model", model, reason=reason,
                           payload={"alias": alias, "from": holder, "to": version})
        except sa_exc.IntegrityError as exc:
            holder = self.get_model(model).aliases.get(alias)
            raise _alias_conflict(model, alias, holder, expected) from exc
        return self.get_version(model, version)

    def delete_alias(
        self, model: str, alias: str, *, expected: int | None | Any = ANY, reason: str = ""
    ) -> None:
        """Remove an alias.

        Raises:
            NotFound: if the model has no such alias.
            AliasConflict: if ``expected`` does not match the holder.
        """
        validate_alias(alias)
        with self._write() as s:
            m = self._model_row(s, model)
            current = s.scalars(
                select(AliasRow)
                .where(AliasRow.model_id == m.id, AliasRow.name == alias)
                .with_for_update()
            ).one_or_none()
            if current is None:
                raise NotFound(f"Model {model!r} has no alias {alias!r}.")
            if expected is not ANY and current.version != expected:
                raise _alias_conflict(model, alias, current.version, expected)
            s.delete(current)
            self._emit(s, "alias.delete", "model", model, reason=reason,
                       payload={"alias": alias, "from": current.version})

    # -- helpers --------------------------------------------------------------------
    def _model_row(self, s: Session, name: str) -> ModelRow:
        validate_name(name, "model name")
        row = s.scalars(select(ModelRow).where(ModelRow.name == name)).one_or_none()
        if row is None:
            known = s.scalars(select(ModelRow.name).order_by(ModelRow.name).limit(10)).all()
            hint = f" Known models: {list(known)}." if known else " No models are registered yet."
            raise NotFound(f"No model named {name!r}.{hint}", model=name)
        return row

    def _version_row(self, s: Session, m: ModelRow, version: int) -> VersionRow:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidArgument(f"A version must be a positive integer. Got {version!r}.")
        row = s.scalars(
            select(VersionRow).where(VersionRow.model_id == m.id, VersionRow.version == version)
        ).one_or_none()
        if row is None:
            latest = f"; the latest is {m.last_version}" if m.last_version else " (it has none)"
            raise NotFound(f"Model {m.name!r} has no version {version}{latest}.")
        return row

    def _aliases(self, s: Session, model_id: int) -> dict[str, int]:
        return {
            a.name: a.version
            for a in s.scalars(select(AliasRow).where(AliasRow.model_id == model_id))
        }

    def _version_entity(self, s: Session, m: ModelRow, row: VersionRow) -> ModelVersion:
        held = [n for n, v in self._aliases(s, m.id).items() if v == row.version]
        return convert.version(row, m.name, held)


def _new_model_values(name: str) -> dict[str, Any]:
    now = utcnow()
    return {"name": name, "description": "", "tags": {}, "last_version": 0,
            "created_at": now, "updated_at": now}


def _alias_conflict(model: str, alias: str, holder: int | None, expected: Any) -> AliasConflict:
    held = f"version {holder}" if holder is not None else "no version"
    want = "no version" if expected is None else f"version {expected}"
    if expected is ANY:
        want = "the state read before the move"
    return AliasConflict(
        f"Alias {alias!r} of model {model!r} is held by {held}, not {want}: another writer "
        "moved it first. Re-read the alias and retry if the move still makes sense.",
        model=model, alias=alias, holder=holder,
    )


def _finite_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidArgument(f"Version metric {key!r} must be a number. Got {value!r}.") \
                from None
        if not math.isfinite(number):
            raise InvalidArgument(f"Version metric {key!r} must be finite. Got {value!r}.")
        out[str(key)] = number
    return out


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
