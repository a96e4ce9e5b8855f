"""ONNX graphs, run with ONNX Runtime on CPU (an optional extra: ``mlpilot[onnx]``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.errors import InvalidArgument
from mlpilot.formats._base import LoadedModel, ModelFormat, Trust

_TENSOR_DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}
_CLASS_LABEL_ATTRIBUTES = (
    "classlabels_int64s",
    "classlabels_ints",
    "classlabels_strings",
)


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise InvalidArgument(
            "The onnx format needs ONNX Runtime, which is not installed. Install it with "
            "pip install 'mlpilot[onnx]'.",
        ) from exc
    return onnxruntime


def _parse(data: bytes) -> Any | None:
    """The ``onnx.ModelProto`` in ``data``, or None if it is not one (or onnx is absent)."""
    try:
        import onnx
        from google.protobuf.message import DecodeError
    except ImportError:
        return None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError):
        return None
    if model.ir_version <= 0 or not model.graph.node or not model.graph.output:
        return None
    return model


def _is_model_proto(model: object) -> bool:
    cls = type(model)
    return cls.__name__ == "ModelProto" and cls.__module__.startswith("onnx")


def _external_tensors(proto: Any) -> list[str]:
    """Names of tensors whose data lives in external files (never followed)."""
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    return [t.name for t in _get_all_tensors(proto) if uses_external_data(t)]


def _class_labels(proto: Any) -> list[Any] | None:
    for node in proto.graph.node:
        for attribute in node.attribute:
            if attribute.name in _CLASS_LABEL_ATTRIBUTES:
                if attribute.strings:
                    return [s.decode("utf-8") for s in attribute.strings]
                return list(attribute.ints)
    return None


class OnnxFormat(ModelFormat):
    """ONNX models (``onnx.ModelProto`` objects or their serialized bytes).

    ONNX graphs carry no Python code, so loading needs no trust; graphs that
    reference external data files are refused because those paths would be
    read from the serving machine.
    """

    name = "onnx"

    def accepts(self, model: object) -> bool:
        if _is_model_proto(model):
            return True
        if isinstance(model, bytes | bytearray):
            return _parse(bytes(model)) is not None
        return False

    def dump(self, model: object) -> bytes:
        if _is_model_proto(model):
            return model.SerializeToString()  # type: ignore[attr-defined]
        if isinstance(model, bytes | bytearray) and _parse(bytes(model)) is not None:
            return bytes(model)
        raise InvalidArgument(
            "The onnx format saves onnx.ModelProto objects or serialized ONNX bytes. Got "
            f"{type(model).__name__}; convert scikit-learn models with skl2onnx.to_onnx.",
            field="model",
        )

    def _load(self, data: bytes, *, digest: str, trust: Trust) -> LoadedModel:
        ort = _import_onnxruntime()
        proto = _parse(data)
        classes = None
        if proto is not None:
            external = _external_tensors(proto)
            if external:
                raise InvalidArgument(
                    f"ONNX artifact {digest} keeps tensors {external[:5]} in external files, "
                    "which would be read from this machine. Save the model with all tensors "
                    "embedded (onnx.save(model, path, save_as_external_data=False)).",
                    digest=digest,
                )
            classes = _class_labels(proto)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise InvalidArgument(
                f"Artifact {digest} is not a valid ONNX model: {exc}. Re-export it.",
                digest=digest,
            ) from exc
        runner = _OnnxRunner(session)
        return LoadedModel(
            session,
            format=self.name,
            digest=digest,
            predict=runner.predict,
            predict_proba=runner.predict_proba if runner.proba_output else None,
            classes=classes,
        )


class _OnnxRunner:
    """Feeds DataFrames to an inference session and shapes its outputs."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.inputs = session.get_inputs()
        outputs = session.get_outputs()
        self.label_output = outputs[0].name
        self.proba_output: str | None = None
        for output in outputs[1:]:
            if "prob" in output.name.lower() or output.type.startswith("seq(map"):
                self.proba_output = output.name
                break

    def _feed(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        names = [i.name for i in self.inputs]
        columns = [str(c) for c in X.columns]
        if len(self.inputs) == 1:
            spec = self.inputs[0]
            width = spec.shape[1] if len(spec.shape) == 2 else None
            if isinstance(width, int) and width != X.shape[1]:
                raise InvalidArgument(
                    f"The ONNX model's input {spec.name!r} takes {width} columns; the frame "
                    f"has {X.shape[1]}: {columns[:20]}. Send exactly the training columns.",
                    field="X",
                )
            return {spec.name: _cast(X.to_numpy(), spec)}
        missing = [n for n in names if n not in columns]
        if missing:
            raise InvalidArgument(
                f"The ONNX model takes one input per column {names}; the frame lacks "
                f"{missing}. Send those columns.",
                field="X",
                missing=missing,
            )
        by_name = dict(zip(columns, X.columns, strict=True))
        return {
            spec.name: _cast(X[by_name[spec.name]].to_numpy().reshape(-1, 1), spec)
            for spec in self.inputs
        }

    def _run(self, output: str, X: pd.DataFrame) -> Any:
        feed = self._feed(X)
        try:
            return self.session.run([output], feed)[0]
        except Exception as exc:  # onnxruntime's pybind exceptions
            raise InvalidArgument(
                f"ONNX Runtime rejected the input: {exc}. Check the column types and count "
                "against the model signature.",
                field="X",
            ) from exc

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        out = np.asarray(self._run(self.label_output, X))
        if out.ndim == 2 and out.shape[1] == 1:  # regressors answer shape (n, 1)
            out = out[:, 0]
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        out = self._run(str(self.proba_output), X)
        if isinstance(out, list):  # ZipMap: one {class: probability} dict per row
            if not out:
                return np.empty((0, 0))
            keys = list(out[0].keys())
            return np.array([[row[k] for k in keys] for row in out], dtype=np.float64)
        return np.asarray(out)


def _cast(values: np.ndarray, spec: Any) -> np.ndarray:
    dtype = _TENSOR_DTYPES.get(spec.type)
    if dtype is None:
        raise InvalidArgument(
            f"The ONNX model's input {spec.name!r} has type {spec.type}, which mlpilot "
            f"cannot feed from a DataFrame. Supported: {sorted(_TENSOR_DTYPES)}.",
            field="X",
        )
    try:
        if dtype is object:
            return values.astype(str).astype(object)
        return values.astype(dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"The ONNX model's input {spec.name!r} needs {spec.type} values; the frame "
            f"holds values that cannot be converted ({exc}). Send numbers.",
            field="X",
        ) from exc
