"""scikit-learn compatible estimators and pipelines, stored with skops (never pickle)."""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from typing import Any

from mlpilot.core.errors import InvalidArgument, UntrustedArtifact
from mlpilot.formats._base import LoadedModel, ModelFormat, Trust, resolve_trust

#: Modules whose *classes* are trusted without asking (installed, well-known code).
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")

#: Classes under those modules that can touch files or build new classes when
#: constructed, so they still need explicit trust.
_DENIED = frozenset(
    {
        "builtins.type",
        "builtins.super",
        "numpy.memmap",
        "numpy.core.memmap.memmap",
        "numpy._core.memmap.memmap",
        "numpy.DataSource",
        "numpy.lib.npyio.DataSource",
        "numpy.lib._datasource.DataSource",
        "numpy.lib.format.open_memmap",
    }
)


def _resolve(qualified: str) -> object | None:
    """Import ``a.b.C`` (longest importable module prefix, then attributes)."""
    parts = qualified.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def is_auto_trusted(qualified: str) -> bool:
    """True if ``qualified`` names a class that mlpilot trusts without being asked.

    Only classes count, never functions: skops can *call* a trusted name while
    loading, and calling e.g. ``builtins.eval`` would run code. The module is
    imported only when it is under one of :data:`TRUSTED_MODULE_PREFIXES`.
    """
    if qualified in _DENIED or not qualified.startswith(TRUSTED_MODULE_PREFIXES):
        return False
    obj = _resolve(qualified)
    if not isinstance(obj, type):
        return False
    import numpy as np

    return not issubclass(obj, np.memmap)


class SklearnFormat(ModelFormat):
    """Estimators and pipelines with ``fit`` and ``predict``, saved as skops zip files.

    Loading audits every type in the file first: classes from scikit-learn,
    NumPy, SciPy, ``builtins`` and ``collections`` plus whatever skops trusts
    by default load freely; anything else (your own transformer, a function)
    needs ``trust=["pkg.mod.Type", ...]`` or ``trust="<artifact digest>"``.
    Pickle and joblib blobs are refused outright.
    """

    name = "sklearn"

    def accepts(self, model: object) -> bool:
        return (
            not isinstance(model, type)
            and callable(getattr(model, "fit", None))
            and callable(getattr(model, "predict", None))
        )

    def dump(self, model: object) -> bytes:
        if not self.accepts(model):
            raise InvalidArgument(
                "The sklearn format saves estimators with fit and predict methods. Got "
                f"{type(model).__name__}; use the 'pyfunc' format for plain functions.",
                field="model",
            )
        import skops.io

        try:
            return skops.io.dumps(model)
        except Exception as exc:  # skops raises TypeError/… for unsupported objects
            raise InvalidArgument(
                f"skops cannot save this {type(model).__name__}: {exc}. Save it with the "
                "'pyfunc' format instead, or make its attributes skops-serializable.",
                field="model",
            ) from exc

    def _load(self, data: bytes, *, digest: str, trust: Trust) -> LoadedModel:
        import skops.io
        from skops.io.exceptions import UntrustedTypesFoundException

        full_trust, extra = resolve_trust(trust, digest)
        _refuse_non_skops(data, digest)
        try:
            untrusted = skops.io.get_untrusted_types(data=data)
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
            raise InvalidArgument(
                f"Artifact {digest} is not a valid skops file ({exc}). Re-save the model "
                "with the sklearn format.",
                digest=digest,
            ) from exc
        remaining = [t for t in untrusted if t not in extra and not is_auto_trusted(t)]
        if remaining and not full_trust:
            raise UntrustedArtifact(
                f"Artifact {digest} contains types that are not trusted: {remaining}. "
                "Loading them could run their code. If you trust them, load with "
                f"trust={remaining!r}, or trust this exact artifact with trust={digest!r}.",
                digest=digest,
                untrusted_types=remaining,
            )
        try:
            model = skops.io.loads(data, trusted=list(untrusted))
        except UntrustedTypesFoundException as exc:  # defence in depth; not expected
            raise UntrustedArtifact(
                f"Artifact {digest} contains untrusted types: {exc}. Trust them explicitly "
                f"or with trust={digest!r}.",
                digest=digest,
            ) from exc
        except Exception as exc:
            raise InvalidArgument(
                f"Artifact {digest} is a skops file that could not be loaded: "
                f"{type(exc).__name__}: {exc}. Check that the installed scikit-learn "
                "version matches the one that saved it.",
                digest=digest,
            ) from exc
        return LoadedModel(model, format=self.name, digest=digest)


def _refuse_non_skops(data: bytes, digest: str) -> None:
    """Refuse anything that is not a zip with a skops schema, pickles above all."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                schema = json.loads(archive.read("schema.json"))
            if isinstance(schema, dict) and "protocol" in schema:
                return
        except (KeyError, ValueError, zipfile.BadZipFile):
            pass
        raise InvalidArgument(
            f"Artifact {digest} is a zip file but not a skops model (no valid schema.json). "
            "Re-save the model with the sklearn format.",
            digest=digest,
        )
    if data[:1] == b"\x80" or data[:2] in (b"x\x9c", b"x\xda", b"\x1f\x8b"):
        raise UntrustedArtifact(
            f"Artifact {digest} looks like a pickle or joblib file. The sklearn format only "
            "loads skops files, because unpickling runs arbitrary code. Re-save the model "
            "with mlpilot (skops), or store a trusted function with the 'pyfunc' format.",
            digest=digest,
        )
    raise InvalidArgument(
        f"Artifact {digest} is not a skops file (it is not a zip archive). Re-save the "
        "model with the sklearn format.",
        digest=digest,
    )
