"""Plain Python predict functions (or objects with ``.predict``) that are not estimators.

Two blob kinds:

* ``{"kind": "import", "target": "pkg.mod:func"}`` — a small JSON document for
  a function importable by name; loading imports installed code, so it is safe.
* a JSON header line ``{"kind": "pickle", ...}`` followed by a cloudpickle
  payload, for lambdas, closures and objects; loading runs arbitrary code, so it
  requires ``trust`` equal to the artifact's digest.
"""

from __future__ import annotations

import importlib
import json
import pickle
import platform
import re
import sys
from typing import Any

from mlpilot.core.errors import InvalidArgument, UntrustedArtifact
from mlpilot.formats._base import LoadedModel, ModelFormat, Trust, resolve_trust

_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
MAX_HEADER = 4096


def import_target(model: object) -> str | None:
    """``"module:qualname"`` if importing that gives back ``model`` itself, else None."""
    module = getattr(model, "__module__", None)
    qualname = getattr(model, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if module == "__main__" or "<" in qualname:  # <lambda>, <locals>
        return None
    target = f"{module}:{qualname}"
    try:
        return target if _resolve_target(target) is model else None
    except Exception:
        return None


def _resolve_target(target: str) -> Any:
    module_name, qualname = target.split(":", 1)
    obj: Any = importlib.import_module(module_name)
    for attr in qualname.split("."):
        obj = getattr(obj, attr)
    return obj


def _serializer() -> tuple[str, Any]:
    try:
        import cloudpickle
    except ImportError:
        return "pickle", pickle
    return "cloudpickle", cloudpickle


class PyfuncFormat(ModelFormat):
    """A predict function ``f(df) -> array-like``, or an object with ``.predict``.

    Estimators (objects with both ``fit`` and ``predict``) belong to the sklearn
    format and are not accepted here.
    """

    name = "pyfunc"

    def accepts(self, model: object) -> bool:
        if isinstance(model, type | str | bytes | bytearray):
            return False
        has_predict = callable(getattr(model, "predict", None))
        if has_predict and callable(getattr(model, "fit", None)):
            return False
        return has_predict or callable(model)

    def dump(self, model: object) -> bytes:
        if not self.accepts(model):
            raise InvalidArgument(
                "The pyfunc format saves a predict function f(df) -> array or an object "
                f"with a predict method (and no fit). Got {type(model).__name__}.",
                field="model",
            )
        target = import_target(model)
        if target is not None:
            return json.dumps({"kind": "import", "target": target}).encode("utf-8")
        serializer, module = _serializer()
        try:
            payload = module.dumps(model, protocol=pickle.DEFAULT_PROTOCOL)
        except Exception as exc:
            raise InvalidArgument(
                f"This {type(model).__name__} cannot be pickled with {serializer}: {exc}. "
                "Define the function at module level in an installed package instead.",
                field="model",
            ) from exc
        header = {
            "kind": "pickle",
            "serializer": serializer,
            "python": platform.python_version(),
        }
        return json.dumps(header).encode("utf-8") + b"\n" + payload

    def _load(self, data: bytes, *, digest: str, trust: Trust) -> LoadedModel:
        full_trust, _ = resolve_trust(trust, digest)
        header, payload = _split(data, digest)
        kind = header.get("kind")
        if kind == "import":
            model = _import(header.get("target"), digest)
        elif kind == "pickle":
            if not full_trust:
                raise UntrustedArtifact(
                    f"Artifact {digest} is a pyfunc stored as a pickle: loading it runs "
                    "arbitrary Python code from the artifact. If you trust whoever produced "
                    f"this exact artifact, load it with trust={digest!r}.",
                    digest=digest,
                )
            model = _unpickle(header, payload, digest)
        else:
            raise InvalidArgument(
                f"Artifact {digest} is a pyfunc of unknown kind {kind!r}; expected "
                "'import' or 'pickle'. Re-save it with the pyfunc format.",
                digest=digest,
            )
        if callable(getattr(model, "predict", None)):
            return LoadedModel(model, format=self.name, digest=digest)
        return LoadedModel(model, format=self.name, digest=digest, predict=model)


def _split(data: bytes, digest: str) -> tuple[dict[str, Any], bytes]:
    line, _, payload = data.partition(b"\n")
    header: Any = None
    if len(line) <= MAX_HEADER and line.startswith(b"{"):
        try:
            header = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            header = None
    if not isinstance(header, dict):
        raise InvalidArgument(
            f"Artifact {digest} is not a pyfunc artifact (it has no JSON header); raw "
            "pickle or joblib files are never loaded. Re-save the model with the pyfunc "
            "format.",
            digest=digest,
        )
    return header, payload


def _import(target: object, digest: str) -> Any:
    if not isinstance(target, str) or not _TARGET.fullmatch(target):
        raise InvalidArgument(
            f"Artifact {digest} names the pyfunc import target {target!r}, which is not "
            "of the form 'package.module:function'. Re-save the model.",
            digest=digest,
        )
    module_name = target.split(":", 1)[0]
    top = module_name.split(".", 1)[0]
    if top == "__main__" or top in sys.stdlib_module_names:
        raise InvalidArgument(
            f"Artifact {digest} names the pyfunc import target {target!r} in the standard "
            "library; a pyfunc target must be your own installed code. Re-save the model "
            "from a module of your package.",
            digest=digest,
        )
    try:
        model = _resolve_target(target)
    except ImportError as exc:
        raise InvalidArgument(
            f"The pyfunc target {target!r} of artifact {digest} cannot be imported: module "
            f"{module_name!r} is not installed here ({exc}). Install the package that "
            "provides it in this environment.",
            digest=digest,
            target=target,
        ) from exc
    except AttributeError as exc:
        raise InvalidArgument(
            f"The pyfunc target {target!r} of artifact {digest} does not exist in the "
            f"installed module {module_name!r} ({exc}). Install the version of the package "
            "the model was saved with.",
            digest=digest,
            target=target,
        ) from exc
    if not callable(model) and not callable(getattr(model, "predict", None)):
        raise InvalidArgument(
            f"The pyfunc target {target!r} of artifact {digest} is not callable. It must be "
            "a predict function or an object with a predict method.",
            digest=digest,
        )
    return model


def _unpickle(header: dict[str, Any], payload: bytes, digest: str) -> Any:
    if header.get("serializer") == "cloudpickle":
        try:
            import cloudpickle  # noqa: F401  (needed by the payload's references)
        except ImportError as exc:
            raise InvalidArgument(
                f"Artifact {digest} was saved with cloudpickle, which is not installed. "
                "Install it with pip install cloudpickle.",
                digest=digest,
            ) from exc
    try:
        return pickle.loads(payload)
    except Exception as exc:
        raise InvalidArgument(
            f"Artifact {digest} could not be unpickled: {type(exc).__name__}: {exc}. It was "
            f"saved with Python {header.get('python')}; load it with the same Python and "
            "packages.",
            digest=digest,
        ) from exc
