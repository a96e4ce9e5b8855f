"""The check report's renderings: console, HTML, SVG charts, JSON and model cards.

Most tests render hand-made results (the checks' own tests cover the checks);
one small registry (two logistic regressions on 600 rows) covers the model card's
lineage and a real ``run_checks`` report.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlpilot
from mlpilot.checks import CheckReport, CheckResult, Severity, Verdict, run_checks
from mlpilot.core.settings import Settings
from mlpilot.demo.credit import FEATURES, TARGET, make_credit_data
from mlpilot.reports import (
    model_card,
    model_card_html,
    print_report,
    render_html,
    report_json,
    write_reports,
)
from mlpilot.reports.model_card import PLACEHOLDER_LIMITS, split_description
from mlpilot.reports.svg import Interval, bar_chart, grouped_bar_chart, interval_plot
from mlpilot.sdk._context import Context
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store

EVIL = "<script>alert(1)</script>"
NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "loan_amount",
           "employment_years"]
CATEGORICAL = ["purpose", "home_ownership", "sex"]


# -- hand-made reports ----------------------------------------------------------------
def _results(*, failing: bool) -> tuple[CheckResult, ...]:
    performance = CheckResult(
        "performance", Verdict.FAIL if failing else Verdict.PASS, Severity.BLOCKING,
        "roc_auc dropped [bold]beyond[/bold] the margin" if failing else "roc_auc improved",
        {"primary_metric": "roc_auc", "margin": 0.01, "metrics": {
            "roc_auc": {"candidate": 0.80, "baseline": 0.83, "difference": -0.03,
                        "improvement": -0.03, "ci": [-0.05, -0.012], "ci_of": "improvement",
                        "higher_is_better": True},
            "log_loss": {"candidate": 0.45, "baseline": 0.44, "difference": 0.01,
                         "improvement": -0.01, "ci": [-0.02, 0.004], "ci_of": "improvement",
                         "higher_is_better": False}}},
        duration_s=0.5)
    fairness = CheckResult(
        "fairness", Verdict.WARN, Severity.BLOCKING, "selection rate gap 0.05",
        {"groups": {"sex": [{"group": "female", "n": 95, "selection_rate": 0.30, "tpr": 0.61},
                            {"group": f"male {EVIL}", "n": 105, "selection_rate": 0.35,
                             "tpr": 0.70}]},
         "max_gap": 0.1})
    explain = CheckResult(
        "explainability", Verdict.PASS, Severity.ADVISORY, "top feature: income",
        {"importances": {EVIL: 0.5, "income": 0.3, "age": 0.2}, "method": "linear"})
    broken = CheckResult("robustness", Verdict.ERROR, Severity.ADVISORY,
                         "ValueError: boom", {})
    data = CheckResult("data_quality", Verdict.PASS, Severity.ADVISORY, "ok", {
        "examples": [{"row": i, "values": {"age": i}} for i in range(30)],
        "histogram": list(range(100)), "nested": {"a": {"b": {"c": {"d": 1}}}},
        "empty": {}, "none": None, "ratio": math.nan})
    return (performance, fairness, explain, broken, data)


def _report(*, failing: bool = False) -> CheckReport:
    return CheckReport(candidate="credit-risk/2", baseline="credit-risk/1",
                       results=_results(failing=failing),
                       created_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
                       data={"rows": 200, "target": "default", "task": "classification"})


def test_html_escapes_user_data_and_draws_charts() -> None:
    html = render_html(_report())
    assert EVIL not in html and "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert html.count("<svg") == 3  # metric intervals, fairness groups, importances
    assert 'class="bar"' in html and 'class="ci"' in html and 'class="margin"' in html
    assert 'class="zero"' in html
    # standalone: no scripts, no external resources (the SVG namespace is not a fetch)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "BLESSED" in html and "NOT BLESSED" not in html
    assert "… 5 more rows" in html and "… 80 more" in html  # long lists are cut


def test_html_of_a_failing_report_names_the_blocking_check() -> None:
    html = render_html(_report(failing=True))
    assert "NOT BLESSED — 1 blocking failure" in html
    assert "<li>performance: roc_auc dropped [bold]beyond[/bold] the margin</li>" in html
    assert 'id="check-performance"' in html and "<details open>" in html


def test_svg_charts_escape_labels_and_survive_missing_values() -> None:
    bars = bar_chart([(EVIL, 0.5), ("nan", math.nan), ("none", None), ("neg", -0.2)],
                     title='a "title" & more')
    assert EVIL not in bars and "&lt;script&gt;" in bars
    assert "&quot;title&quot; &amp; more" in bars
    assert bars.count('class="bar"') == 2 and bars.count("n/a") == 2
    grouped = grouped_bar_chart(["a", EVIL], {"tpr": [0.5, None], "fpr": [0.1, 0.2]})
    assert EVIL not in grouped and grouped.count('class="bar"') == 3
    with pytest.raises(ValueError, match="one value per group"):
        grouped_bar_chart(["a", "b"], {"tpr": [0.5]})
    intervals = interval_plot([Interval("auc", 0.02, 0.01, 0.03),
                               Interval(EVIL, None, None, None)], margin=-0.01)
    assert EVIL not in intervals and intervals.count('class="estimate"') == 1
    assert 'class="margin"' in intervals and "margin -0.01" in intervals
    assert 'class="margin"' not in interval_plot([Interval("auc", 0.0, -0.1, 0.1)])
    assert "<svg" in bar_chart([])  # nothing to draw still makes a valid element


def test_console_summary_is_literal_and_ends_with_the_verdict() -> None:
    buffer = io.StringIO()
    print_report(_report(failing=True), Console(file=buffer, width=160, color_system=None))
    text = buffer.getvalue()
    assert "[bold]beyond[/bold]" in text  # user text, not Rich markup
    for name in ("performance", "fairness", "explainability", "robustness", "data_quality"):
        assert name in text
    assert "ERROR" in text and "WARN" in text and "FAIL" in text
    assert "allowed degradation 0.01" in text  # the metric table of the failing check
    assert text.rstrip().splitlines()[-1].startswith("NOT BLESSED")
    assert "blocking failures: performance" in text

    buffer = io.StringIO()
    print_report(_report(), Console(file=buffer, width=160, color_system=None))
    assert buffer.getvalue().rstrip().splitlines()[-1].startswith("BLESSED")


def test_report_json_is_strict_and_versioned() -> None:
    data = json.loads(report_json(_report()))
    assert data["schema_version"] == 1 and data["blessed"] is True
    quality = next(r for r in data["results"] if r["check"] == "data_quality")
    assert quality["evidence"]["ratio"] is None  # NaN is not JSON
    assert CheckReport.from_dict(data).results[0].check == "performance"


def test_split_description() -> None:
    overview, use, limits = split_description(
        "Scores applicants.\n\nIntended use: pre-screening.\nSecond line.\n\n"
        "## Limitations\nNot for minors.")
    assert overview == "Scores applicants."
    assert use == "pre-screening.\nSecond line." and limits == "Not for minors."
    assert split_description("Limitations of trees are many.") == (
        "Limitations of trees are many.", None, None)


# -- a small registry -----------------------------------------------------------------
@dataclass
class Registry:
    context: Context
    holdout: pd.DataFrame
    baseline_ref: str
    candidate_ref: str


def _pipeline() -> Pipeline:
    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    return Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=300))])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    home = tmp_path_factory.mktemp("reports") / "home"
    settings = Settings(home=home, store_url=f"sqlite:///{home}/m.db",
                        artifact_url=str(home / "artifacts"), actor="tester")
    settings.ensure_home()
    ctx = Context(settings=settings, store=Store.open(settings.store_url, actor="tester"),
                  artifacts=get_artifact_store(settings.artifact_url))
    data = make_credit_data(800, seed=1)
    train, holdout = data[:600], data[600:].reset_index(drop=True)
    refs = []
    for c in (1.0, 0.5):
        model = _pipeline().set_params(model__C=c).fit(train[FEATURES], train[TARGET])
        with mlpilot.start_run(name=f"C={c}", model="credit-risk", context=ctx) as run:
            run.log_params({"C": c})
            run.log_dataset(holdout, "credit-holdout", role="validation")
            v = mlpilot.register(model, "credit-risk", run=run, training_data=train[FEATURES],
                                 metrics={"auc": 0.8 + c / 100}, context=ctx,
                                 alias="production" if c == 1.0 else "candidate")
        refs.append(v.ref)
    ctx.store.update_model("credit-risk", description=f"Scores {EVIL} applicants.\n\n"
                                                      "Intended use: pre-screening only.")
    yield Registry(ctx, holdout, refs[0], refs[1])
    ctx.store.close()


def test_write_reports_from_run_checks(registry: Registry, tmp_path: Path) -> None:
    ctx = registry.context
    report = run_checks(registry.candidate_ref, only=["model_sanity", "data_validation"],
                        output_dir=tmp_path / "out", context=ctx)
    version = ctx.store.resolve(registry.candidate_ref)
    paths = write_reports(report, version, tmp_path / "out", ctx.store)
    assert sorted(paths) == ["model_card.html", "model_card.md", "report.html", "report.json"]
    assert all(p.is_file() and p.parent == tmp_path / "out" for p in paths.values())
    assert json.loads(paths["report.json"].read_text())["schema_version"] == 1

    card = paths["model_card.md"].read_text()
    assert card == ctx.store.resolve(registry.candidate_ref).model_card  # stored on the version
    assert "# Model card: credit-risk/2" in card
    assert "| auc | 0.805 |" in card  # version metrics
    assert "| credit-risk-training | training, trained | 600 | 10 |" in card  # lineage
    assert "| credit-holdout | validation | 200 | 11 |" in card
    assert "| C | 0.5 |" in card  # run params
    assert "Blessed: yes — every blocking check passed." in card
    assert "| model_sanity | pass | blocking |" in card
    assert "pre-screening only." in card and PLACEHOLDER_LIMITS in card
    assert EVIL not in card and "&lt;script&gt;" in card
    assert "| age | integer | no |" in card  # the signature
    assert "candidate" in card  # aliases

    html = paths["model_card.html"].read_text()
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "credit-risk-training" in html
    assert "Blessed: yes" in paths["model_card.html"].read_text()
    assert "<svg" not in html  # no fairness or importances in this report: no charts


def test_model_card_shows_fairness_importances_and_failures(registry: Registry) -> None:
    store = registry.context.store
    version = store.resolve(registry.candidate_ref)
    report = _report(failing=True)
    card = model_card(store, version, report)
    assert "Blessed: no — blocking failures: performance." in card
    assert "| roc_auc | 0.8 | 0.83 | -0.03 | [-0.05, -0.012] |" in card
    assert "## Fairness" in card and "| female | 95 | 0.3 | 0.61 |" in card
    assert "## Feature importance" in card and "| income | 30.0% |" in card
    assert "Found by the checks:" in card  # failures and warnings listed as limitations
    html = model_card_html(store, registry.candidate_ref, report)  # a reference works too
    assert html.count("<svg") == 2 and EVIL not in html


def test_model_card_without_a_report(registry: Registry) -> None:
    store = registry.context.store
    card = model_card(store, registry.baseline_ref)  # never checked
    assert "No check report recorded" in card
    assert "production" in card
