"""Saving and loading models in every format, and refusing what must not load."""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlpilot.core.errors import IntegrityError, InvalidArgument, UntrustedArtifact
from mlpilot.formats import (
    LoadedModel,
    ModelFormat,
    OnnxFormat,
    PyfuncFormat,
    SklearnFormat,
    available_formats,
    format_for,
    get_format,
)
from mlpilot.store.artifacts import LocalArtifactStore, sha256_digest

# -- helpers defined at module level so they are importable by qualified name ---------


class ThresholdClassifier(ClassifierMixin, BaseEstimator):
    """A custom estimator: not trusted by default."""

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = threshold

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> ThresholdClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (np.asarray(X)[:, 0] > self.threshold).astype(int)


def double_first_column(df: pd.DataFrame) -> np.ndarray:
    return df.iloc[:, 0].to_numpy() * 2


class Exploit:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _load(fmt: ModelFormat, data: bytes, **kwargs: object) -> LoadedModel:
    return fmt.load(data, digest=sha256_digest(data), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def numeric_data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = (X["a"] + 0.5 * X["b"] > 0).astype(int).to_numpy()
    return X, y


@pytest.fixture(scope="module")
def mixed_data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 80, size=300),
            "income": rng.normal(50, 10, size=300),
            "city": rng.choice(["oslo", "lima", "pune"], size=300),
        }
    )
    y = ((X["age"] > 40) ^ (X["city"] == "lima")).astype(int).to_numpy()
    return X, y


# -- registry ------------------------------------------------------------------------


def test_registry_lists_and_finds_formats() -> None:
    assert available_formats() == ["onnx", "pyfunc", "sklearn"]
    assert isinstance(get_format("sklearn"), SklearnFormat)
    assert isinstance(get_format("onnx"), OnnxFormat)
    assert isinstance(get_format("pyfunc"), PyfuncFormat)


def test_unknown_format_lists_valid_names() -> None:
    with pytest.raises(InvalidArgument) as info:
        get_format("x")
    assert str(info.value) == "No model format named 'x'. Available: ['onnx', 'pyfunc', 'sklearn']."


def test_format_for_picks_in_order(numeric_data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = numeric_data
    assert format_for(LogisticRegression()).name == "sklearn"
    assert format_for(double_first_column).name == "pyfunc"
    assert format_for(lambda df: df).name == "pyfunc"

    class PredictOnly:
        def predict(self, df: pd.DataFrame) -> np.ndarray:
            return np.zeros(len(df))

    assert format_for(PredictOnly()).name == "pyfunc"
    onnx_model = _to_onnx(LogisticRegression().fit(X, y), X)
    assert format_for(onnx_model).name == "onnx"
    assert format_for(onnx_model.SerializeToString()).name == "onnx"


@pytest.mark.parametrize("model", [42, "model.pkl", b"not onnx", LogisticRegression, None])
def test_format_for_rejects_unsupported(model: object) -> None:
    with pytest.raises(InvalidArgument, match="Supported: scikit-learn"):
        format_for(model)


# -- sklearn -----------------------------------------------------------------------------


def test_sklearn_logistic_regression_round_trip(
    numeric_data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = numeric_data
    clf = LogisticRegression().fit(X, y)
    fmt = get_format("sklearn")
    data = fmt.dump(clf)
    loaded = _load(fmt, data)
    assert loaded.format == "sklearn"
    assert isinstance(loaded.raw, LogisticRegression)
    assert loaded.digest == sha256_digest(data)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)


def test_sklearn_pipeline_round_trip_through_store(
    mixed_data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X, y = mixed_data
    pipeline = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["age", "income"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                    ]
                ),
            ),
            ("clf", HistGradientBoostingClassifier(max_iter=15, random_state=0)),
        ]
    ).fit(X, y)
    fmt = format_for(pipeline)
    store = LocalArtifactStore(tmp_path)
    ref = store.put_bytes(fmt.dump(pipeline))
    loaded = fmt.load(store.get_bytes(ref.digest), digest=ref.digest)
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))


def test_sklearn_untrusted_custom_class_needs_trust(
    numeric_data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = numeric_data
    model = ThresholdClassifier(threshold=0.1).fit(X, y)
    fmt = get_format("sklearn")
    data = fmt.dump(model)
    digest = sha256_digest(data)
    type_name = f"{ThresholdClassifier.__module__}.ThresholdClassifier"

    with pytest.raises(UntrustedArtifact) as info:
        fmt.load(data, digest=digest)
    message = str(info.value)
    assert type_name in message
    assert "trust=[" in message and f"trust={digest!r}" in message
    assert info.value.details["untrusted_types"] == [type_name]

    for trust in ([type_name], (type_name,), {type_name}, digest, [digest]):
        loaded = fmt.load(data, digest=digest, trust=trust)  # type: ignore[arg-type]
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
        assert loaded.predict_proba(X) is None

    with pytest.raises(UntrustedArtifact):
        fmt.load(data, digest=digest, trust=["some.other.Type"])


def test_trust_argument_is_validated(numeric_data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = numeric_data
    fmt = get_format("sklearn")
    data = fmt.dump(ThresholdClassifier().fit(X, y))
    digest = sha256_digest(data)
    with pytest.raises(InvalidArgument, match="did you mean trust="):
        fmt.load(data, digest=digest, trust="mypkg.MyType")
    with pytest.raises(UntrustedArtifact, match="different artifact"):
        fmt.load(data, digest=digest, trust="sha256:" + "0" * 64)
    with pytest.raises(InvalidArgument, match="trust must be"):
        fmt.load(data, digest=digest, trust=[1, 2])  # type: ignore[list-item]


def test_load_checks_data_against_digest(numeric_data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = numeric_data
    fmt = get_format("sklearn")
    data = fmt.dump(LogisticRegression().fit(X, y))
    other = "sha256:" + "1" * 64
    with pytest.raises(IntegrityError) as info:
        fmt.load(data, digest=other, trust=other)
    assert other in str(info.value) and sha256_digest(data) in str(info.value)


def test_sklearn_dump_rejects_non_estimators() -> None:
    with pytest.raises(InvalidArgument, match="pyfunc"):
        get_format("sklearn").dump(double_first_column)


@pytest.mark.parametrize("fmt_name", ["sklearn", "pyfunc"])
def test_raw_pickle_with_code_is_never_unpickled(fmt_name: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payloads = [pickle.dumps(Exploit(marker), protocol=p) for p in (2, 4, 5)]
    payloads.append(pickle.dumps(Exploit(marker), protocol=0))
    import joblib

    joblib.dump(Exploit(marker), tmp_path / "model.joblib")
    payloads.append((tmp_path / "model.joblib").read_bytes())
    joblib.dump(Exploit(marker), tmp_path / "model.joblib.gz", compress=3)
    payloads.append((tmp_path / "model.joblib.gz").read_bytes())
    fmt = get_format(fmt_name)
    for data in payloads:
        digest = sha256_digest(data)
        for trust in (None, digest):
            with pytest.raises((UntrustedArtifact, InvalidArgument)):
                fmt.load(data, digest=digest, trust=trust)
    assert not marker.exists()


def test_sklearn_refuses_non_skops_data() -> None:
    fmt = get_format("sklearn")
    with pytest.raises(UntrustedArtifact, match="pickle"):
        _load(fmt, pickle.dumps({"a": 1}))
    with pytest.raises(InvalidArgument, match="not a zip"):
        _load(fmt, b"hello")
    with pytest.raises(InvalidArgument, match="not a zip"):
        _load(fmt, b"")
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("other.txt", "x")
    with pytest.raises(InvalidArgument, match="not a skops model"):
        _load(fmt, buffer.getvalue())


def test_skops_file_calling_builtins_eval_is_refused(tmp_path: Path) -> None:
    """A hand-made skops file whose loader would call builtins.eval is not auto-trusted."""
    import io
    import zipfile

    marker = tmp_path / "pwned-eval"
    schema = {
        "__class__": "eval",
        "__module__": "builtins",
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [
                {
                    "__class__": "str",
                    "__module__": "builtins",
                    "__loader__": "JsonNode",
                    "content": json.dumps(f"open({str(marker)!r}, 'w')"),
                    "is_json": True,
                }
            ],
        },
        "protocol": 2,
        "_skops_version": "0.16.0",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
    data = buffer.getvalue()
    with pytest.raises(UntrustedArtifact, match=r"\['builtins.eval'\]"):
        _load(get_format("sklearn"), data)
    assert not marker.exists()


# -- onnx ----------------------------------------------------------------------------------


def _to_onnx(clf: object, X: pd.DataFrame, zipmap: bool = False) -> object:
    skl2onnx = pytest.importorskip("skl2onnx")
    sample = X.to_numpy()[:1].astype(np.float32)
    return skl2onnx.to_onnx(clf, sample, options={id(clf): {"zipmap": zipmap}})


@pytest.mark.parametrize("zipmap", [False, True])
def test_onnx_round_trip_matches_sklearn(
    numeric_data: tuple[pd.DataFrame, np.ndarray], zipmap: bool
) -> None:
    pytest.importorskip("onnxruntime")
    X, y = numeric_data
    clf = LogisticRegression().fit(X, y)
    fmt = get_format("onnx")
    data = fmt.dump(_to_onnx(clf, X, zipmap=zipmap))
    loaded = _load(fmt, data)
    assert loaded.format == "onnx"
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    proba = loaded.predict_proba(X)
    assert proba is not None and proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(loaded.classes_, [0, 1])
    assert fmt.dump(data) == data  # bytes pass through unchanged


def test_onnx_one_input_per_column() -> None:
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"])],
        "add",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [None, 1]),
        ],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    loaded = _load(get_format("onnx"), get_format("onnx").dump(model))
    X = pd.DataFrame({"b": [1.0, 2.0, 3.0], "a": [10, 20, 30]})
    np.testing.assert_allclose(loaded.predict(X), [11.0, 22.0, 33.0])
    assert loaded.predict_proba(X) is None
    assert loaded.classes_ is None
    with pytest.raises(InvalidArgument, match=r"lacks \['b'\]"):
        loaded.predict(X[["a"]])


def test_onnx_rejects_bad_input(numeric_data: tuple[pd.DataFrame, np.ndarray]) -> None:
    pytest.importorskip("onnxruntime")
    X, y = numeric_data
    loaded = _load(
        get_format("onnx"), _to_onnx(LogisticRegression().fit(X, y), X).SerializeToString()
    )
    with pytest.raises(InvalidArgument, match="takes 3 columns"):
        loaded.predict(X[["a", "b"]])
    with pytest.raises(InvalidArgument, match="cannot be converted"):
        loaded.predict(X.assign(c="text"))
    with pytest.raises(InvalidArgument, match="pandas DataFrame"):
        loaded.predict(X.to_numpy())  # type: ignore[arg-type]


def test_onnx_refuses_invalid_bytes_and_external_data(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    fmt = get_format("onnx")
    with pytest.raises(InvalidArgument, match="not a valid ONNX model"):
        _load(fmt, b"definitely not onnx")
    with pytest.raises(InvalidArgument, match="onnx.ModelProto"):
        fmt.dump(b"definitely not onnx")

    weight = helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "../../../etc/passwd"
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(InvalidArgument, match="external files"):
        _load(fmt, model.SerializeToString())


def test_onnx_without_runtime_says_how_to_install(
    numeric_data: tuple[pd.DataFrame, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = numeric_data
    data = _to_onnx(LogisticRegression().fit(X, y), X).SerializeToString()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(InvalidArgument, match=r"pip install 'mlpilot\[onnx\]'"):
        _load(get_format("onnx"), data)


# -- pyfunc ---------------------------------------------------------------------------------


def test_pyfunc_import_kind_round_trip() -> None:
    fmt = get_format("pyfunc")
    data = fmt.dump(double_first_column)
    assert json.loads(data) == {
        "kind": "import",
        "target": f"{double_first_column.__module__}:double_first_column",
    }
    loaded = _load(fmt, data)  # no trust needed: it imports installed code
    X = pd.DataFrame({"x": [1, 2, 3], "y": [0, 0, 0]})
    np.testing.assert_array_equal(loaded.predict(X), [2, 4, 6])
    assert loaded.predict_proba(X) is None
    assert loaded.raw is double_first_column


@pytest.mark.parametrize(
    ("target", "match"),
    [
        ("no_such_package_for_mlpilot.sub:predict", "cannot be imported"),
        (f"{__name__}:no_such_function", "does not exist"),
        ("os:system", "standard library"),
        ("subprocess:run", "standard library"),
        ("builtins:eval", "standard library"),
        ("__main__:predict", "standard library"),
        ("not a target", "package.module:function"),
        ("json:loads\n", "package.module:function"),
        (42, "package.module:function"),
    ],
)
def test_pyfunc_refuses_bad_import_targets(target: object, match: str) -> None:
    data = json.dumps({"kind": "import", "target": target}).encode()
    with pytest.raises(InvalidArgument, match=match):
        _load(get_format("pyfunc"), data)


def test_pyfunc_pickle_kind_requires_trust_by_digest() -> None:
    fmt = get_format("pyfunc")
    offset = 5

    def local_predict(df: pd.DataFrame) -> np.ndarray:
        return df["x"].to_numpy() + offset

    for model in (local_predict, lambda df: df["x"] * 3):
        data = fmt.dump(model)
        header = json.loads(data.partition(b"\n")[0])
        assert header["kind"] == "pickle"
        digest = sha256_digest(data)
        with pytest.raises(UntrustedArtifact) as info:
            fmt.load(data, digest=digest)
        assert "arbitrary Python code" in str(info.value) and f"trust={digest!r}" in str(info.value)
        with pytest.raises(UntrustedArtifact):
            fmt.load(data, digest=digest, trust=["builtins.function"])
        loaded = fmt.load(data, digest=digest, trust=digest)
        assert loaded.predict(pd.DataFrame({"x": [1, 2]})).tolist() in ([6, 7], [3, 6])


def test_pyfunc_object_with_predict_and_proba() -> None:
    class Scorer:
        classes_ = np.array(["no", "yes"])

        def predict(self, df: pd.DataFrame) -> list[str]:
            return ["yes" if v > 0 else "no" for v in df["x"]]

        def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
            p = (df["x"].to_numpy() > 0).astype(float)
            return np.column_stack([1 - p, p])

    fmt = format_for(Scorer())
    data = fmt.dump(Scorer())
    loaded = fmt.load(data, digest=sha256_digest(data), trust=sha256_digest(data))
    X = pd.DataFrame({"x": [-1.0, 2.0]})
    assert loaded.predict(X).tolist() == ["no", "yes"]
    np.testing.assert_array_equal(loaded.predict_proba(X), [[1.0, 0.0], [0.0, 1.0]])
    assert loaded.classes_.tolist() == ["no", "yes"]


def test_pyfunc_wrapped_exploit_without_trust_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    header = json.dumps({"kind": "pickle", "serializer": "pickle"}).encode()
    data = header + b"\n" + pickle.dumps(Exploit(marker))
    with pytest.raises(UntrustedArtifact):
        _load(get_format("pyfunc"), data)
    with pytest.raises(UntrustedArtifact):
        _load(get_format("pyfunc"), data, trust=["os.system"])
    assert not marker.exists()


def test_pyfunc_refuses_unknown_kind_and_wrong_length_output() -> None:
    fmt = get_format("pyfunc")
    with pytest.raises(InvalidArgument, match="unknown kind"):
        _load(fmt, json.dumps({"kind": "shell"}).encode())
    with pytest.raises(InvalidArgument, match="estimators|predict function"):
        fmt.dump(LogisticRegression())
    data = fmt.dump(lambda df: [1])
    loaded = fmt.load(data, digest=sha256_digest(data), trust=sha256_digest(data))
    from mlpilot.core.errors import MlpilotError

    with pytest.raises(MlpilotError, match="one prediction per row"):
        loaded.predict(pd.DataFrame({"x": [1, 2, 3]}))
