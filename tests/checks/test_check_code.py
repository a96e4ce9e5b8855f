"""The ``code`` check: ML smells on snippets, the analysers, and the check end to end."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression

import mlpilot
from mlpilot.checks import Severity, Verdict, build_check, code_analysis, run_checks
from mlpilot.checks._ml_smells import find_smells, looks_like_test_data
from mlpilot.checks.code_analysis import (
    CodeAnalysisCheck,
    Finding,
    bandit_severity,
    deduplicate,
    ruff_severity,
)
from mlpilot.core.entities import RunArtifact
from mlpilot.core.errors import InvalidArgument
from mlpilot.store.artifacts import get_artifact_store

SCRIPTS = Path(mlpilot.__file__).parent / "demo" / "scripts"
IMPORTS = """\
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
"""
LEAKY = IMPORTS + """\
df = pd.read_csv("credit.csv")
X = df.drop(columns=["default"])
y = df["default"]
X_scaled = StandardScaler().fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(X_scaled, y, random_state=0)
model = LogisticRegression().fit(X_train, y_train)
"""
LEAKY_LINE = 10
CLEAN = IMPORTS + """\
df = pd.read_csv("credit.csv")
X = df.drop(columns=["default"])
y = df["default"]
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
pipe.fit(X_train, y_train)
print(pipe.score(X_test, y_test))
"""


def smells(body: str, rule: str | None = None) -> list[tuple[str, int]]:
    found = find_smells(IMPORTS + textwrap.dedent(body), "code/train.py")
    return [(s.rule, s.line - IMPORTS.count("\n")) for s in found
            if rule is None or s.rule == rule]


# -- ML001 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    # scaler fitted on X, its output split
    """
    scaler = StandardScaler()
    X = scaler.fit_transform(X)
    a, b, c, d = train_test_split(X, y, random_state=0)
    """,
    # fit, then transform into a new name that is split
    """
    scaler = StandardScaler()
    scaler.fit(X)
    Xs = scaler.transform(X)
    a, b, c, d = train_test_split(Xs, y, random_state=0)
    """,
    # fitted on the source the split data is derived from
    """
    s = StandardScaler().fit(df[["age"]])
    X = df[["age"]]
    a, b = train_test_split(X, random_state=0)
    """,
    # inside a function, before cross-validation
    """
    def train(X, y):
        X = StandardScaler().fit_transform(X)
        return cross_val_score(LogisticRegression(), X, y)
    """,
])
def test_ml001_flags_preprocessing_fitted_before_the_split(body: str) -> None:
    assert [r for r, _ in smells(body, "ML001")] == ["ML001"]


def test_ml001_names_the_line_of_the_fit() -> None:
    found = [s for s in find_smells(LEAKY, "code/leaky.py") if s.rule == "ML001"]
    assert [(s.file, s.line) for s in found] == [("code/leaky.py", LEAKY_LINE)]
    assert "StandardScaler" in found[0].message and "train_test_split" in found[0].message


@pytest.mark.parametrize("body", [
    # a Pipeline fitted after the split
    """
    a, b, c, d = train_test_split(X, y, random_state=0)
    pipe = Pipeline([("s", StandardScaler()), ("m", LogisticRegression())])
    pipe.fit(a, c)
    make_pipeline(StandardScaler(), LogisticRegression()).fit(a, c)
    """,
    # a scaler fitted on the training split only
    """
    a, b, c, d = train_test_split(X, y, random_state=0)
    s = StandardScaler().fit(a)
    """,
    # a scaler fitted on unrelated reference data before the split
    """
    ref_scaler = StandardScaler().fit(reference)
    a, b = train_test_split(X, random_state=0)
    """,
    # a Pipeline fitted before the split is not a preprocessor leak
    """
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    a, b = train_test_split(X, random_state=0)
    """,
])
def test_ml001_ignores_fits_after_the_split_or_on_other_data(body: str) -> None:
    assert smells(body, "ML001") == []


# -- ML002 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    "model = LogisticRegression()\nmodel.fit(X_test, y_test)\n",
    "LogisticRegression().fit(Xtest, labels)\n",
    "StandardScaler().fit_transform(test_df)\n",
    # the second output of train_test_split, whatever its name
    "tr, te = train_test_split(df, random_state=0)\nLogisticRegression().fit(te)\n",
    # derived from test data only
    "a, b, c, d = train_test_split(X, y, random_state=0)\n"
    "scaler = StandardScaler()\nbs = scaler.transform(b)\nLogisticRegression().fit(bs, c)\n",
])
def test_ml002_flags_fit_on_test_data(body: str) -> None:
    assert [r for r, _ in smells(body, "ML002")] == ["ML002"]


@pytest.mark.parametrize("body", [
    "a, b, c, d = train_test_split(X, y, random_state=0)\nLogisticRegression().fit(a, c)\n",
    "model = LogisticRegression().fit(X_train, y_train)\nmodel.score(X_test, y_test)\n",
    # refitting on train + test after evaluation is a deliberate choice
    "LogisticRegression().fit(pd.concat([X_train, X_test]), y_all)\n",
])
def test_ml002_ignores_fit_on_training_data(body: str) -> None:
    assert smells(body, "ML002") == []


@pytest.mark.parametrize(("name", "expected"), [
    ("X_test", True), ("y_test", True), ("Xtest", True), ("test_df", True),
    ("xTest", True), ("holdout", True), ("X_train", False), ("latest", False),
    ("contest_scores", False),
])
def test_test_data_names(name: str, expected: bool) -> None:
    assert looks_like_test_data(name) is expected


# -- ML003 ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "count"), [
    ("a, b = train_test_split(X)\n", 1),
    ("a, b = train_test_split(X, random_state=None)\n", 1),
    ("from sklearn.ensemble import RandomForestClassifier\nRandomForestClassifier(10)\n", 1),
    ("from sklearn.model_selection import KFold\nKFold(5, shuffle=True)\n", 1),
    ("noise = np.random.rand(3)\n", 1),
    ("rng = np.random.default_rng()\n", 1),
    ("import random\nrandom.shuffle(rows)\n", 1),
])
def test_ml003_flags_unseeded_randomness(body: str, count: int) -> None:
    assert len(smells(body, "ML003")) == count


@pytest.mark.parametrize("body", [
    "a, b = train_test_split(X, random_state=0)\n",
    "a, b = train_test_split(X, shuffle=False)\n",
    "from sklearn.ensemble import RandomForestClassifier\nRandomForestClassifier(random_state=1)\n",
    "from sklearn.model_selection import KFold\nKFold(5)\n",
    "np.random.seed(0)\nnoise = np.random.rand(3)\na, b = train_test_split(X)\n",
    "rng = np.random.default_rng(42)\nnoise = rng.normal(size=3)\n",
    "import random\nrandom.seed(1)\nrandom.shuffle(rows)\n",
    "from sklearn.ensemble import RandomForestClassifier\nRandomForestClassifier(**params)\n",
])
def test_ml003_accepts_seeded_randomness(body: str) -> None:
    assert smells(body, "ML003") == []


# -- ML004 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    "import pickle\nmodel = pickle.load(open(path, 'rb'))\n",
    "import pickle, sys\nmodel = pickle.loads(sys.stdin.buffer.read())\n",
    "import joblib\nmodel = joblib.load(path)\n",
    "import torch\nstate = torch.load(path)\n",
    "arr = np.load(path, allow_pickle=True)\n",
    "frame = pd.read_pickle(f'{root}/x.pkl')\n",
])
def test_ml004_flags_deserialising_untrusted_paths(body: str) -> None:
    assert [r for r, _ in smells(body, "ML004")] == ["ML004"]


@pytest.mark.parametrize("body", [
    "import pickle\nmodel = pickle.load(open('model.pkl', 'rb'))\n",
    "import pickle\nwith open('model.pkl', 'rb') as f:\n    model = pickle.load(f)\n",
    "import torch\nstate = torch.load(path, weights_only=True)\n",
    "arr = np.load(path)\n",
    "import joblib\nMODEL = 'm.joblib'\nmodel = joblib.load(MODEL)\n",
])
def test_ml004_accepts_literal_or_safe_loads(body: str) -> None:
    assert smells(body, "ML004") == []


def test_noqa_and_syntax_errors() -> None:
    assert smells("a, b = train_test_split(X)  # noqa: ML003\n") == []
    assert smells("a, b = train_test_split(X)  # noqa: ML001\n") == [("ML003", 1)]
    assert [s.rule for s in find_smells("def f(:\n", "code/x.py")] == ["ML000"]


def test_demo_scripts_leaky_fails_clean_passes() -> None:
    leaky = find_smells((SCRIPTS / "leaky_train.py").read_text(), "code/leaky_train.py")
    assert {s.rule for s in leaky} == {"ML001", "ML003"}
    assert find_smells((SCRIPTS / "clean_train.py").read_text(), "code/clean_train.py") == []


# -- severity mapping, deduplication, parameters ------------------------------------------
def test_severity_mapping() -> None:
    assert ruff_severity("F821") == ruff_severity("invalid-syntax") == "medium"
    assert ruff_severity(None) == ruff_severity("E999") == "medium"
    assert ruff_severity("F401") == ruff_severity("B006") == "low"
    assert bandit_severity("HIGH", "MEDIUM") == "high"
    assert bandit_severity("HIGH", "LOW") == bandit_severity("MEDIUM", "HIGH") == "medium"
    assert bandit_severity("MEDIUM", "LOW") == bandit_severity("LOW", "HIGH") == "low"


def test_deduplicate_merges_bandit_and_ml_on_one_line() -> None:
    ml = Finding("ml", "ML004", "medium", "code/t.py", 3, "unsafe load")
    bandit = Finding("bandit", "B301", "medium", "code/t.py", 3, "pickle")
    other = Finding("ruff", "F401", "low", "code/t.py", 3, "unused import")
    kept = deduplicate([bandit, other, ml])
    assert [(f.rule, f.also) for f in kept] == [("B301", ("ml:ML004",)), ("F401", ())]


@pytest.mark.parametrize(("params", "match"), [
    ({"tools": ["pylint"]}, "'tools'"), ({"tools": "ruff"}, "'tools'"), ({"tools": []}, "'tools'"),
    ({"fail_on": "critical"}, "'fail_on'.*'high', 'medium', 'low', 'never'"),
    ({"timeout_s": 0}, "'timeout_s'"), ({"max_findings": -1}, "'max_findings'"),
])
def test_invalid_parameters_are_refused(params: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        CodeAnalysisCheck(**params)  # type: ignore[arg-type]


def test_defaults_and_registry() -> None:
    check = build_check("code")
    assert isinstance(check, CodeAnalysisCheck)
    assert check.severity is Severity.ADVISORY
    assert (list(check.tools), check.fail_on, check.timeout_s, check.max_findings) == (
        ["ruff", "bandit", "ml"], "high", 60, 100)


# -- the check on recorded artifacts, without a registry ----------------------------------
def fake_ctx(tmp_path: Path, files: dict[str, str]) -> SimpleNamespace:
    store = get_artifact_store(tmp_path / "artifacts")
    artifacts = []
    for name, text in files.items():
        ref = store.put_bytes(text.encode())
        artifacts.append(RunArtifact(name=name, digest=ref.digest, size=ref.size))
    return SimpleNamespace(run=SimpleNamespace(id="run-1", artifacts=tuple(artifacts)),
                           context=SimpleNamespace(artifacts=store), output_dir=tmp_path / "out")


def test_all_tools_on_recorded_code(tmp_path: Path) -> None:
    code = IMPORTS + "import pickle\nm = pickle.load(open(path, 'rb'))\nprint(undefined)\n"
    ctx = fake_ctx(tmp_path, {"code/train.py": code, "warnings.json": "[]"})
    result = CodeAnalysisCheck(fail_on="medium").run(ctx)
    assert result.verdict is Verdict.FAIL
    ev = result.evidence
    json.dumps(ev)  # evidence is JSON
    assert ev["files"] == ["code/train.py"]
    assert {t: s["status"] for t, s in ev["tools"].items()} == {
        "ruff": "ok", "bandit": "ok", "ml": "ok"}
    by_rule = {f["rule"]: f for f in ev["findings"]}
    assert by_rule["F821"]["severity"] == "medium" and by_rule["F821"]["line"] == 9
    assert by_rule["F821"]["file"] == "code/train.py"
    # one finding for the pickle line, reported by bandit and the ML rules
    pickle_line = [f for f in ev["findings"] if f["line"] == 8 and f["tool"] != "ruff"]
    assert len(pickle_line) == 1 and pickle_line[0]["also"]
    assert ev["counts"]["medium"] >= 2 and ev["total_findings"] == len(ev["findings"])


def test_findings_below_fail_on_warn_and_the_evidence_is_capped(tmp_path: Path) -> None:
    code = "import os\nimport sys\nimport random\nrandom.shuffle(sys.argv)\n"
    ctx = fake_ctx(tmp_path, {"code/train.py": code})
    result = CodeAnalysisCheck(tools=["ruff", "ml"], max_findings=1).run(ctx)
    assert result.verdict is Verdict.WARN
    ev = result.evidence
    assert ev["truncated"] and len(ev["findings"]) == 1 and ev["total_findings"] == 2
    saved = json.loads(Path(ev["details_file"]).read_text())
    assert {f["rule"] for f in saved} == {"F401", "ML003"}


def test_missing_tool_is_recorded_and_timeouts_warn(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = fake_ctx(tmp_path, {"code/train.py": "print('hello')\n"})
    result = CodeAnalysisCheck(tools=["bandit"], timeout_s=1e-4).run(ctx)
    assert result.verdict is Verdict.WARN and "bandit timeout" in result.summary
    monkeypatch.setattr(code_analysis.importlib.util, "find_spec", lambda name: None)
    result = CodeAnalysisCheck(tools=["ruff", "ml"]).run(ctx)
    assert result.verdict is Verdict.PASS and "ruff not installed" in result.summary
    assert result.evidence["tools"]["ruff"]["status"] == "unavailable"
    assert CodeAnalysisCheck(tools=["ruff"]).run(ctx).verdict is Verdict.SKIP


def test_no_run_skips() -> None:
    result = CodeAnalysisCheck().run(SimpleNamespace(run=None))
    assert result.verdict is Verdict.SKIP and "no producing run" in result.summary


def test_unsafe_artifact_names_are_refused(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path, {"code/../escape.py": "x = 1\n"})
    with pytest.raises(InvalidArgument, match="'..'"):
        CodeAnalysisCheck(tools=["ml"]).run(ctx)


# -- end to end through the runner ---------------------------------------------------------
def register_with_code(env: Any, tmp_path: Path, script: str | None) -> str:
    cols = ["age", "income", "debt_ratio"]
    paths: list[str | Path] = []
    if script is not None:
        path = tmp_path / "train.py"
        path.write_text(script)
        paths = [path]
    model = LogisticRegression(max_iter=200).fit(env.train[cols], env.train["default"])
    with mlpilot.start_run(name="train", model="credit-risk", code_paths=paths,
                           context=env.context) as run:
        version = mlpilot.register(model, "credit-risk", run=run,
                                   training_data=env.train[cols], context=env.context)
    return version.ref


def test_end_to_end_leaky_clean_and_missing_code(check_env: Any, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    leaky = register_with_code(check_env, tmp_path / "a", LEAKY)
    report = run_checks(leaky, only=["code"], context=check_env.context)
    result = report.get("code")
    assert result.verdict is Verdict.FAIL
    assert f"code/train.py:{LEAKY_LINE} ML001" in result.summary
    first = result.evidence["findings"][0]
    assert (first["rule"], first["file"], first["line"]) == ("ML001", "code/train.py", LEAKY_LINE)
    assert not result.blocks  # advisory by default

    clean = register_with_code(check_env, tmp_path / "b", CLEAN)
    result = run_checks(clean, only=["code"], context=check_env.context).get("code")
    assert result.verdict in (Verdict.PASS, Verdict.WARN)
    assert result.evidence["counts"]["high"] == 0, result.evidence["findings"]

    result = run_checks(check_env.candidate_ref, only=["code"],
                        context=check_env.context).get("code")
    assert result.verdict is Verdict.SKIP and "code_paths" in result.summary
