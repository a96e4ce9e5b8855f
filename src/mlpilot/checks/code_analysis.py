"""The ``code`` check: static analysis of the training code a run recorded.

Runs record their training script as ``code/<file>`` artifacts (the ``__main__``
script automatically, ``start_run(code_paths=[...])`` or ``run.log_code(path)``).
This check writes them into a temporary directory under their artifact names and
runs three analysers on it, none of which executes the code:

- **ruff** (``--select E9,F,B``: syntax errors, pyflakes, bugbear);
- **bandit** (security), severity and confidence kept;
- **ml**: the ML smells of :mod:`mlpilot.checks._ml_smells` (ML000-ML004).

Every finding gets one of three severities:

==========  ==================================================================
high        ML001 (preprocessing fitted before the split), ML002 (fit on test
            data); bandit severity HIGH with confidence MEDIUM or HIGH
medium      ML000 / ruff syntax errors (E9, ``invalid-syntax``); ruff undefined
            names (F821, F822, F823) and statements that cannot run (F63x, F70x);
            ML004 (deserialising a non-literal path); bandit HIGH with LOW
            confidence, or MEDIUM with confidence MEDIUM or HIGH
low         everything else: ML003 (no seed), other ruff rules (unused imports,
            bugbear), other bandit findings
==========  ==================================================================

The verdict is FAIL when a finding is at or above ``fail_on``, WARN for any
other finding (or when an analyser timed out or crashed), PASS when clean, and
SKIP when the run recorded no code. An analyser that is not installed is noted
in the evidence and the others still run. A line flagged by bandit and by the ML
rules for the same thing (``pickle.load``: B301/B614 and ML004) is reported once.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess  # nosec B404
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mlpilot.checks._base import Check, CheckResult, Severity, Verdict
from mlpilot.checks._ml_smells import find_smells
from mlpilot.core.errors import InvalidArgument
from mlpilot.store.artifacts import safe_join

TOOLS = ("ruff", "bandit", "ml")
LEVELS = ("low", "medium", "high")
FAIL_ON = ("high", "medium", "low", "never")
CODE_PREFIX = "code/"
DETAILS_FILE = "code_findings.json"
_RANK = {level: i for i, level in enumerate(LEVELS)}
# Rules that report the same problem on the same line; only one is kept.
_FAMILY = {"ML004": "deserialisation", "B301": "deserialisation",
           "B614": "deserialisation", "ML000": "syntax", "E999": "syntax",
           "invalid-syntax": "syntax", "syntax-error": "syntax"}
_RUFF_MEDIUM = ("E9", "F821", "F822", "F823", "F63", "F70", "invalid-syntax",
                "syntax-error")


@dataclass(frozen=True)
class Finding:
    """One problem in one file, from one tool."""

    tool: str
    rule: str
    severity: str
    file: str
    line: int
    message: str
    column: int = 0
    also: tuple[str, ...] = ()  # ``tool:rule`` of duplicates merged into this one

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["also"] = list(self.also)
        return data


@dataclass
class _ToolRun:
    status: str  # ok | unavailable | timeout | error
    findings: list[Finding]
    detail: str | None = None


def ruff_severity(code: str | None) -> str:
    """The severity of a ruff rule (see the module docstring)."""
    if not code or code.startswith(_RUFF_MEDIUM):
        return "medium"
    return "low"


def bandit_severity(severity: str, confidence: str) -> str:
    """The severity of a bandit finding from its own severity and confidence."""
    severity, confidence = severity.upper(), confidence.upper()
    if severity == "HIGH":
        return "high" if confidence in ("MEDIUM", "HIGH") else "medium"
    if severity == "MEDIUM" and confidence in ("MEDIUM", "HIGH"):
        return "medium"
    return "low"


def _relative(filename: str, root: Path) -> str:
    """The artifact name of a file a tool reported under ``root``."""
    try:
        return Path(filename).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return filename


def _execute(tool: str, argv: list[str], root: Path, timeout_s: float) -> tuple[_ToolRun, Any]:
    """Run ``python -m <tool> ...``; (status, parsed JSON stdout or None)."""
    if importlib.util.find_spec(tool) is None:
        return _ToolRun("unavailable", [], f"{tool} is not installed (pip install {tool})"), None
    try:
        # A fixed argv and no shell: the analysed code is read, never executed.
        proc = subprocess.run(  # nosec B603
            [sys.executable, "-m", tool, *argv], cwd=root, capture_output=True, text=True,
            timeout=timeout_s, stdin=subprocess.DEVNULL, check=False,
        )
    except subprocess.TimeoutExpired:
        return _ToolRun("timeout", [], f"{tool} did not finish within {timeout_s} s"), None
    try:
        return _ToolRun("ok", []), json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout).strip()[-500:]
        return _ToolRun("error", [], f"{tool} exited {proc.returncode}: {tail}"), None


def run_ruff(root: Path, timeout_s: float) -> _ToolRun:
    """Ruff's syntax-error, pyflakes and bugbear findings on the files under ``root``."""
    run, payload = _execute("ruff", ["check", "--output-format", "json", "--no-cache",
                                     "--isolated", "--select", "E9,F,B", str(root)],
                            root, timeout_s)
    for item in payload or []:
        code = item.get("code") or "invalid-syntax"
        location = item.get("location") or {}
        run.findings.append(Finding(
            tool="ruff", rule=code, severity=ruff_severity(code),
            file=_relative(item.get("filename", ""), root), line=int(location.get("row") or 0),
            column=max(int(location.get("column") or 1) - 1, 0),
            message=str(item.get("message", "")),
        ))
    return run


def run_bandit(root: Path, timeout_s: float) -> _ToolRun:
    """Bandit's security findings on the files under ``root``."""
    run, payload = _execute("bandit", ["-f", "json", "-q", "-r", str(root)], root, timeout_s)
    if payload is None:
        return run
    for item in payload.get("results", []):
        sev, conf = item.get("issue_severity", "LOW"), item.get("issue_confidence", "LOW")
        run.findings.append(Finding(
            tool="bandit", rule=str(item.get("test_id", "")), severity=bandit_severity(sev, conf),
            file=_relative(item.get("filename", ""), root), line=int(item.get("line_number", 0)),
            column=int(item.get("col_offset", 0)),
            message=f"{item.get('issue_text', '')} (severity {sev}, confidence {conf})",
        ))
    errors = [f"{_relative(e.get('filename', ''), root)}: {e.get('reason', '')}"
              for e in payload.get("errors", [])]
    if errors:
        run.detail = "; ".join(errors)[:500]
    return run


def run_ml(root: Path, names: Sequence[str]) -> _ToolRun:
    """The ML smells of every Python file among ``names`` (artifact names under ``root``)."""
    run = _ToolRun("ok", [])
    for name in names:
        if not name.endswith(".py"):
            continue
        source = safe_join(root, name).read_text(encoding="utf-8", errors="replace")
        run.findings.extend(
            Finding(tool="ml", rule=s.rule, severity=s.severity, file=name, line=s.line,
                    column=s.column, message=s.message)
            for s in find_smells(source, name))
    return run


def deduplicate(findings: Sequence[Finding]) -> list[Finding]:
    """Merge findings of one family on one line (e.g. bandit B301 and ML004), keeping the
    most severe; sorted by severity (high first), file and line."""
    kept: dict[tuple[Any, ...], Finding] = {}
    for finding in findings:
        family = _FAMILY.get(finding.rule)
        key: tuple[Any, ...] = ((finding.file, finding.line, family) if family else
                                (finding.file, finding.line, finding.tool, finding.rule,
                                 finding.column))
        other = kept.get(key)
        if other is None:
            kept[key] = finding
            continue
        first, second = sorted((other, finding), key=lambda f: -_RANK[f.severity])
        if second.tool == first.tool and second.rule == first.rule:
            kept[key] = first
        else:
            kept[key] = replace(first, also=(*first.also, f"{second.tool}:{second.rule}"))
    return sorted(kept.values(),
                  key=lambda f: (-_RANK[f.severity], f.file, f.line, f.column, f.rule))


class CodeAnalysisCheck(Check):
    """Static analysis (ruff, bandit, ML smells) of the training code the run recorded.

    Args:
        tools: analysers to run, any of ``"ruff"``, ``"bandit"``, ``"ml"``.
        fail_on: the lowest finding severity that fails the check: ``"high"``,
            ``"medium"``, ``"low"``, or ``"never"`` (findings only warn).
        timeout_s: seconds each external analyser may run.
        max_findings: how many findings the evidence lists (most severe first); the
            full list is saved as ``code_findings.json`` in the output directory.
        severity: ``"advisory"`` (default) or ``"blocking"``.

    Raises:
        InvalidArgument: for an unknown tool or ``fail_on`` level, or a non-positive
            timeout or negative ``max_findings``.
    """

    name = "code"
    description = ("Static analysis of the recorded training code: ruff, bandit and ML smells "
                   "(leakage, fit on test data, missing seeds, unsafe pickle loads).")
    default_severity = Severity.ADVISORY

    def __init__(self, *, tools: Sequence[str] = TOOLS, fail_on: str = "high",
                 timeout_s: float = 60, max_findings: int = 100,
                 severity: Severity | str | None = None) -> None:
        super().__init__(severity=severity)
        self.tools = tools
        self.fail_on = fail_on
        self.timeout_s = timeout_s
        self.max_findings = max_findings
        if isinstance(tools, str) or not tools or any(t not in TOOLS for t in tools):
            raise InvalidArgument(
                f"The 'tools' parameter of check 'code' must be a non-empty list drawn from "
                f"{list(TOOLS)}. Got {tools!r}."
            )
        if fail_on not in FAIL_ON:
            raise InvalidArgument(
                f"The 'fail_on' parameter of check 'code' must be one of {list(FAIL_ON)}. "
                f"Got {fail_on!r}."
            )
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or \
                not timeout_s > 0:
            raise InvalidArgument(
                f"The 'timeout_s' parameter of check 'code' must be a positive number of "
                f"seconds. Got {timeout_s!r}."
            )
        if isinstance(max_findings, bool) or not isinstance(max_findings, int) or \
                max_findings < 0:
            raise InvalidArgument(
                f"The 'max_findings' parameter of check 'code' must be an integer >= 0. "
                f"Got {max_findings!r}."
            )

    def _run(self, ctx: Any) -> CheckResult:
        run = ctx.run
        if run is None:
            return self.skip("The version has no producing run, so no recorded code to analyse; "
                             "register it with run=... from `mlpilot.start_run(...)`.")
        code = [a for a in run.artifacts if a.name.startswith(CODE_PREFIX)]
        if not code:
            return self.skip(
                f"Run {run.id} recorded no code. Training scripts are recorded automatically "
                "when run as __main__, or with `mlpilot.start_run(code_paths=[...])` or "
                "`run.log_code(path)`."
            )
        runs: dict[str, _ToolRun] = {}
        names = sorted(a.name for a in code)
        with tempfile.TemporaryDirectory(prefix="mlpilot-code-") as tmp:
            root = Path(tmp)
            for artifact in code:
                path = safe_join(root, artifact.name)
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                path.write_bytes(ctx.context.artifacts.get_bytes(artifact.digest,
                                                                 name=artifact.name))
            for tool in dict.fromkeys(self.tools):
                if tool == "ruff":
                    runs[tool] = run_ruff(root, self.timeout_s)
                elif tool == "bandit":
                    runs[tool] = run_bandit(root, self.timeout_s)
                else:
                    runs[tool] = run_ml(root, names)
        findings = deduplicate([f for r in runs.values() for f in r.findings])
        return self._verdict(ctx, names, runs, findings)

    def _verdict(self, ctx: Any, names: list[str], runs: dict[str, _ToolRun],
                 findings: list[Finding]) -> CheckResult:
        counts = {level: sum(f.severity == level for f in findings) for level in LEVELS[::-1]}
        tools = {tool: {"status": r.status, "findings": sum(f.tool == tool for f in findings),
                        "detail": r.detail} for tool, r in runs.items()}
        details_file = None
        if len(findings) > self.max_findings and ctx.output_dir is not None:
            out = Path(ctx.output_dir)
            out.mkdir(mode=0o700, parents=True, exist_ok=True)
            details_file = str(out / DETAILS_FILE)
            Path(details_file).write_text(json.dumps([f.to_dict() for f in findings], indent=1))
        evidence = {
            "files": names, "tools": tools, "fail_on": self.fail_on, "counts": counts,
            "total_findings": len(findings), "truncated": len(findings) > self.max_findings,
            "findings": [f.to_dict() for f in findings[: self.max_findings]],
            "details_file": details_file,
        }
        ran = [t for t, r in runs.items() if r.status != "unavailable"]
        if not ran:
            return self.result(Verdict.SKIP, "None of the requested analysers is installed: "
                               + "; ".join(r.detail or t for t, r in runs.items()), **evidence)
        missing = [t for t, r in runs.items() if r.status == "unavailable"]
        note = f" ({', '.join(missing)} not installed)" if missing else ""
        failing = ([] if self.fail_on == "never" else
                   [f for f in findings if _RANK[f.severity] >= _RANK[self.fail_on]])
        if failing:
            first = failing[0]
            return self.result(
                Verdict.FAIL,
                f"{len(failing)} finding(s) at or above {self.fail_on!r} in the training code; "
                f"first: {first.file}:{first.line} {first.rule} {first.message}{note}",
                **evidence,
            )
        broken = [f"{t} {r.status}" for t, r in runs.items() if r.status in ("timeout", "error")]
        if findings or broken:
            parts = [f"{n} {level}" for level, n in counts.items() if n]
            summary = (f"{len(findings)} finding(s) below {self.fail_on!r} ({', '.join(parts)})"
                       if findings else "No findings")
            if broken:
                summary += f"; analysis incomplete: {', '.join(broken)}"
            return self.result(Verdict.WARN, summary + note, **evidence)
        return self.result(Verdict.PASS, f"No findings in {len(names)} recorded file(s) "
                           f"by {', '.join(ran)}{note}", **evidence)
