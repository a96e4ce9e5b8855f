"""Benchmark model serving: the mlpilot gateway vs ``mlflow models serve`` vs bare Starlette.

One run, one model, the same requests for every server. Servers (each a separate
process on 127.0.0.1, one worker, started, warmed up, measured and stopped in turn):

* ``mlpilot``        -- ``python -m mlpilot.cli.main serve`` with the inference log on
                        (the default), ``POST /v1/models/<name>/predict`` with
                        ``{"records": [...]}``; the model registered with
                        ``mlpilot.register(..., alias="production")`` in a temporary home;
* ``mlpilot-nolog``  -- the same with ``--no-log``;
* ``mlflow``         -- ``mlflow models serve -m runs:/<id>/model --env-manager local``
                        (the same fitted model, logged with ``mlflow.sklearn.log_model``),
                        ``POST /invocations`` with ``{"dataframe_records": [...]}``;
* ``bare``           -- the limit: a Starlette app under uvicorn that parses the JSON,
                        builds a DataFrame, calls ``model.predict`` and returns JSON.

Models: a 20-feature LogisticRegression and (unless ``--no-forest``) a 100-tree
RandomForest, fitted on seeded synthetic numeric data. Cells: 1-row and 100-row
requests at concurrency 8 and 64 (closed loop: each of the C connections sends its next
request when the previous answer is in).

The load generator is a separate process (this script with ``--_loadgen``): a minimal
asyncio HTTP/1.1 keep-alive client, far cheaper per request than httpx, so that on a
small machine the client takes as little CPU from the server as possible. Every answer
is checked: status 200 and a ``predictions`` list of the right length; anything else
(other status, bad body, timeout, dropped connection) counts as an error. Each cell has
a fixed number of requests and a time cap (the row says when the cap cut it short).
Each server gets a warm-up round per cell shape before measuring.

Run (from the repository root, in the benchmark venv, which has MLflow)::

    .venv-bench/bin/python benchmarks/serving.py [--quick] [--json out.json]
        [--no-forest] [--no-mlflow] [--repeat 1] [--profile-mlpilot DIR]
"""

from __future__ import annotations

import os

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

SEED = 20240601
HOST = "127.0.0.1"
N_FEATURES = 20
FEATURES = [f"f{i}" for i in range(N_FEATURES)]
SERVERS = ("mlpilot", "mlpilot-nolog", "mlflow", "bare")
# (rows per request, concurrency) -> requests per cell (full run)
FULL_CELLS = {(1, 8): 1000, (1, 64): 1000, (100, 8): 300, (100, 64): 300}
QUICK_CELLS = {(1, 8): 200, (1, 64): 200, (100, 8): 50, (100, 64): 50}
CELL_TIME_CAP_S = 90.0
REQUEST_TIMEOUT_S = 30.0
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
ONE_BLAS_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1"}
TARGETS = {"vs_mlflow": 3.0, "vs_bare": 0.8, "p99_vs_bare_c8": 1.5, "log_cost": 0.10}

# ----------------------------------------------------------------------------- load generator


async def _one_connection(cfg: dict[str, Any], bodies: list[bytes], state: dict[str, Any],
                          latencies: list[float], errors: dict[str, int]) -> None:
    host, port, deadline = cfg["host"], cfg["port"], state["deadline"]
    expected = cfg["rows"]
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    i = state["next_body"]
    state["next_body"] += 1

    def err(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    while state["remaining"] > 0 and time.perf_counter() < deadline:
        state["remaining"] -= 1
        body = bodies[i % len(bodies)]
        i += 1
        started = time.perf_counter()
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), REQUEST_TIMEOUT_S)
            assert reader is not None and writer is not None
            writer.write(body)
            status, payload = await asyncio.wait_for(_read_response(reader),
                                                     REQUEST_TIMEOUT_S)
        except TimeoutError:
            err("timeout")
            _close(writer)
            writer = None
            continue
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            err(type(exc).__name__)
            _close(writer)
            writer = None
            continue
        elapsed = time.perf_counter() - started
        if status != 200:
            err(f"http_{status}")
            continue
        try:
            n = len(json.loads(payload)["predictions"])
        except (ValueError, KeyError, TypeError):
            err("bad_body")
            continue
        if n != expected:
            err("wrong_count")
            continue
        latencies.append(elapsed)
    _close(writer)


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, b"".join(parts)
    if length is None:
        raise ValueError("response without Content-Length")
    return status, await reader.readexactly(length)


def _request_bytes(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: keep-alive\r\n\r\n")
    return head.encode("latin-1") + body


async def _load(cfg: dict[str, Any]) -> dict[str, Any]:
    bodies = [_request_bytes(cfg["host"], cfg["port"], cfg["path"], b.encode())
              for b in cfg["bodies"]]
    state = {"remaining": cfg["requests"], "next_body": 0,
             "deadline": time.perf_counter() + cfg["time_cap_s"]}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    await asyncio.gather(*(_one_connection(cfg, bodies, state, latencies, errors)
                           for _ in range(cfg["concurrency"])))
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"latencies": latencies, "errors": errors, "wall_s": wall,
            "sent": cfg["requests"] - state["remaining"],
            "truncated": state["remaining"] > 0,
            "client_cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)}


def loadgen_main(config_path: str) -> None:
    cfg = json.loads(Path(config_path).read_text())
    out = asyncio.run(_load(cfg))
    json.dump(out, sys.stdout)


# ----------------------------------------------------------------------------- bare server

BARE_APP = '''
import json, pickle, sys
import pandas as pd
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

with open(sys.argv[1], "rb") as fh:
    model = pickle.load(fh)  # our own file, written by the benchmark a moment ago

async def predict(request: Request) -> JSONResponse:
    payload = json.loads(await request.body())
    frame = pd.DataFrame(payload["records"])
    return JSONResponse({"predictions": model.predict(frame).tolist()})

app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]))
'''

# ----------------------------------------------------------------------------- orchestration


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    path: str
    key: str  # the JSON key holding the records
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    log_path: Path | None = None
    start_s: float = 0.0
    answered: int = 0  # correct answers it gave, warm-ups and probes included


@dataclass
class Cell:
    server: str
    model: str
    rows: int
    concurrency: int
    requests: int
    ok: int
    errors: dict[str, int]
    wall_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_s: float
    client_cpu_s: float
    truncated: bool
    repeat: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def group_cpu_seconds(pgid: int) -> float:
    """User+system CPU seconds of every live process in the process group."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:  # pgrp is the 5th field; fields[0] is the 3rd
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def bodies_for(key: str, rows_pool: list[list[dict[str, float]]]) -> list[str]:
    return [json.dumps({key: recs}) for recs in rows_pool]


def run_load(server: Server, bodies: list[str], rows: int, concurrency: int, requests: int,
             time_cap_s: float, work: Path) -> dict[str, Any]:
    cfg = {"host": HOST, "port": server.port, "path": server.path, "bodies": bodies,
           "rows": rows, "concurrency": concurrency, "requests": requests,
           "time_cap_s": time_cap_s}
    cfg_path = work / "loadgen.json"
    cfg_path.write_text(json.dumps(cfg))
    out = subprocess.run([sys.executable, __file__, "--_loadgen", str(cfg_path)],
                         capture_output=True, timeout=time_cap_s + REQUEST_TIMEOUT_S + 30,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr.decode()[-2000:]}")
    return json.loads(out.stdout)


def start(server: Server, work: Path, probe: str) -> None:
    server.port = free_port()
    argv = [a.replace("{PORT}", str(server.port)) for a in server.argv]
    server.log_path = work / f"{server.name}.log"
    env = {**os.environ, **server.env}
    t0 = time.perf_counter()
    with open(server.log_path, "wb") as log:
        server.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True,
                                       cwd=work)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n"
                               + server.log_path.read_text()[-3000:])
        if port_open(server.port):
            try:  # ready = answers a real prediction correctly
                res = run_load(server, [probe], 1, 1, 1, 10.0, work)
                if res["latencies"]:
                    server.answered += 1
                    server.start_s = time.perf_counter() - t0
                    return
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        time.sleep(0.5)
    stop(server)
    raise RuntimeError(f"{server.name} did not answer a prediction within "
                       f"{START_TIMEOUT_S:.0f} s:\n" + server.log_path.read_text()[-3000:])


def stop(server: Server) -> None:
    proc = server.proc
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"  {server.name}: no exit {STOP_TIMEOUT_S:.0f} s after SIGINT; killing",
                  file=sys.stderr)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    # children (mlflow's uvicorn) in the same session: make sure none outlive us
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        pass
    else:
        time.sleep(1.0)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while port_open(server.port) and time.monotonic() < deadline:
        time.sleep(0.2)
    server.proc = None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


def measure(server: Server, model: str, bodies: list[str], rows: int, concurrency: int,
            requests: int, work: Path, repeat: int, warmup: int) -> Cell:
    warm = run_load(server, bodies, rows, concurrency, warmup, 30.0, work)  # discarded
    server.answered += len(warm["latencies"])
    assert server.proc is not None
    cpu0 = group_cpu_seconds(server.proc.pid)
    res = run_load(server, bodies, rows, concurrency, requests, CELL_TIME_CAP_S, work)
    cpu1 = group_cpu_seconds(server.proc.pid)
    lat = res["latencies"]
    ok = len(lat)
    server.answered += ok
    errors = dict(res["errors"])
    unaccounted = res["sent"] - ok - sum(errors.values())
    if unaccounted:
        errors["unaccounted"] = unaccounted
    if res["truncated"]:
        errors["not_sent_time_cap"] = requests - res["sent"]
    return Cell(server=server.name, model=model, rows=rows, concurrency=concurrency,
                requests=requests, ok=ok, errors=errors, wall_s=res["wall_s"],
                rps=ok / res["wall_s"] if res["wall_s"] > 0 else 0.0,
                p50_ms=percentile(lat, 50) * 1000, p99_ms=percentile(lat, 99) * 1000,
                max_ms=max(lat) * 1000 if lat else float("nan"),
                server_cpu_s=cpu1 - cpu0, client_cpu_s=res["client_cpu_s"],
                truncated=res["truncated"], repeat=repeat)


# ----------------------------------------------------------------------------- setup


def make_models(work: Path, forest: bool) -> tuple[dict[str, Any], Any]:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(6000, N_FEATURES))
    w = rng.normal(size=N_FEATURES)
    y = ((x @ w + rng.normal(scale=2.0, size=len(x))) > 0).astype(int)
    frame = pd.DataFrame(x, columns=FEATURES)
    train, test = frame.iloc[:5000], frame.iloc[5000:]
    models: dict[str, Any] = {"logreg": LogisticRegression(max_iter=1000).fit(train, y[:5000])}
    if forest:
        models["forest"] = RandomForestClassifier(
            n_estimators=100, random_state=SEED, n_jobs=1).fit(train, y[:5000])
    return models, test.round(6)


def setup_mlpilot(home: Path, models: dict[str, Any], test: Any) -> dict[str, int]:
    os.environ["MLPILOT_HOME"] = str(home)
    import mlpilot

    versions = {}
    for name, model in models.items():
        mv = mlpilot.register(model, f"bench-{name}", input_example=test.head(5),
                              alias="production")
        versions[name] = mv.version
    return versions


def setup_mlflow(root: Path, models: dict[str, Any], test: Any) -> dict[str, str]:
    import logging

    import mlflow
    import mlflow.sklearn

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    exp = mlflow.create_experiment("serving-bench",
                                   artifact_location=(root / "artifacts").as_uri())
    uris = {}
    for name, model in models.items():
        # MLflow 3.17 saves scikit-learn models with skops and refuses tree internals
        # unless told to trust them (our own model, so we do; mlpilot trusts its own hash)
        trusted = ["sklearn.tree._tree.Tree"] if name == "forest" else None
        with mlflow.start_run(experiment_id=exp) as run:
            mlflow.sklearn.log_model(model, name="model", input_example=test.head(5),
                                     **({"skops_trusted_types": trusted} if trusted else {}))
        uris[name] = f"runs:/{run.info.run_id}/model"
    return uris


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    versions: dict[str, str | None] = {}
    for pkg in ("mlpilot", "mlflow", "uvicorn", "starlette", "fastapi", "scikit-learn",
                "pandas", "numpy", "skops"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory": mem, "python": platform.python_version(),
            "platform": platform.platform(), "load_avg_start": os.getloadavg(),
            "versions": versions}


# ----------------------------------------------------------------------------- report


def fmt_errors(c: Cell) -> str:
    n = sum(c.errors.values())
    if not n:
        return "0"
    return f"{n} (" + ", ".join(f"{k} {v}" for k, v in sorted(c.errors.items())) + ")"


def summarise(cells: list[Cell]) -> dict[tuple[str, str, int, int], Cell]:
    """Median (by requests/s) over repeats for every (server, model, rows, concurrency)."""
    groups: dict[tuple[str, str, int, int], list[Cell]] = {}
    for c in cells:
        groups.setdefault((c.server, c.model, c.rows, c.concurrency), []).append(c)
    out = {}
    for key, group in groups.items():
        group = sorted(group, key=lambda c: c.rps)
        out[key] = group[len(group) // 2]
    return out


def report(cells: list[Cell], servers: list[str], models: list[str],
           shapes: list[tuple[int, int]]) -> dict[str, Any]:
    best = summarise(cells)
    print()
    print("| model | rows | conc | server | req/s | p50 ms | p99 ms | max ms | errors "
          "| server CPU ms/req | client CPU ms/req |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---|---:|---:|")
    for m in models:
        for rows, conc in shapes:
            for s in servers:
                c = best.get((s, m, rows, conc))
                if c is None:
                    continue
                per = 1000 / max(c.ok, 1)
                print(f"| {m} | {rows} | {conc} | {s} | {c.rps:,.0f} | {c.p50_ms:.1f} | "
                      f"{c.p99_ms:.1f} | {c.max_ms:.1f} | {fmt_errors(c)} | "
                      f"{c.server_cpu_s * per:.2f} | {c.client_cpu_s * per:.2f} |")
    print()
    print("| model | rows | conc | mlpilot ÷ MLflow req/s | mlpilot ÷ bare req/s "
          "| log-on ÷ log-off req/s | mlpilot p99 ÷ bare p99 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    ratios = []
    for m in models:
        for rows, conc in shapes:
            g = {s: best.get((s, m, rows, conc)) for s in servers}
            mp = g.get("mlpilot")
            if mp is None:
                continue

            def ratio(other: str, attr: str = "rps", g: dict[str, Cell | None] = g,
                      mp: Cell = mp) -> float | None:
                o = g.get(other)
                if o is None or not getattr(o, attr):
                    return None
                return getattr(mp, attr) / getattr(o, attr)

            r: dict[str, Any] = {"model": m, "rows": rows, "concurrency": conc,
                 "vs_mlflow": ratio("mlflow"), "vs_bare": ratio("bare"),
                 "log_on_vs_off": ratio("mlpilot-nolog"),
                 "p99_vs_bare": ratio("bare", "p99_ms")}
            ratios.append(r)

            def f(v: float | None) -> str:
                return "—" if v is None else f"{v:.2f}×"

            print(f"| {m} | {rows} | {conc} | {f(r['vs_mlflow'])} | {f(r['vs_bare'])} | "
                  f"{f(r['log_on_vs_off'])} | {f(r['p99_vs_bare'])} |")
    print()
    print(f"Targets (mlpilot with log): ≥{TARGETS['vs_mlflow']}× MLflow req/s, "
          f"≥{TARGETS['vs_bare']}× bare req/s, p99 at c=8 ≤{TARGETS['p99_vs_bare_c8']}× "
          f"bare, log-on ≥{1 - TARGETS['log_cost']:.2f}× log-off req/s.")
    return {"ratios": ratios}


# ----------------------------------------------------------------------------- main


def inference_log_count(log_dir: Path) -> int | None:
    """Records in the gateway's inference log (None when it cannot be read here)."""
    try:
        from mlpilot.serve.inference_log import reader
    except ImportError:
        return None
    try:
        return sum(1 for _ in reader.read_records(log_dir))
    except Exception:  # noqa: BLE001 - a best-effort cross-check, reported as None
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--json", metavar="PATH", help="write every figure as JSON")
    ap.add_argument("--no-forest", action="store_true", help="only the logistic regression")
    ap.add_argument("--no-mlflow", action="store_true", help="skip the MLflow server")
    ap.add_argument("--servers", default=",".join(SERVERS),
                    help=f"comma-separated subset of {','.join(SERVERS)}")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds over all servers; the median round per cell is reported")
    ap.add_argument("--profile-mlpilot", metavar="DIR",
                    help="also record a py-spy profile of the gateway (log on) under "
                         "1-row c=8 load (needs py-spy)")
    args = ap.parse_args()

    cells_plan = QUICK_CELLS if args.quick else FULL_CELLS
    servers = [s for s in args.servers.split(",") if s]
    if args.no_mlflow and "mlflow" in servers:
        servers.remove("mlflow")
    info = machine()
    print(f"machine: {info['cpus']} CPUs ({info['cpu']}), {info['memory']}, Python "
          f"{info['python']}; load avg {info['load_avg_start']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))

    work = Path(tempfile.mkdtemp(prefix="mlpilot-serving-bench-"))
    print(f"work dir: {work}")
    t0 = time.perf_counter()
    models, test = make_models(work, forest=not args.no_forest and not args.quick)
    import pickle

    home = work / "mlpilot-home"
    versions = setup_mlpilot(home, models, test)
    mlflow_uris: dict[str, str] = {}
    mlflow_skip = None
    if "mlflow" in servers:
        try:
            mlflow_uris = setup_mlflow(work / "mlflow", models, test)
        except Exception as exc:  # noqa: BLE001 - reported, the other rows still run
            mlflow_skip = f"could not log the model to MLflow: {type(exc).__name__}: {exc}"
            servers.remove("mlflow")
            print(f"MLflow skipped: {mlflow_skip}", file=sys.stderr)
    print(f"setup {time.perf_counter() - t0:.1f} s (models: {', '.join(models)}; "
          f"mlpilot versions {versions})")

    records = test.to_dict(orient="records")
    pools: dict[int, list[list[dict[str, float]]]] = {}
    for rows in sorted({r for r, _ in cells_plan}):
        pools[rows] = [records[(i * rows) % (len(records) - rows):][:rows] for i in range(16)]

    cells: list[Cell] = []
    starts: dict[str, list[float]] = {}
    log_checks: list[dict[str, Any]] = []
    shapes = list(cells_plan)
    for rep in range(args.repeat):
        for m, model in models.items():
            pkl = work / f"{m}.pkl"
            pkl.write_bytes(pickle.dumps(model))
            bare_py = work / "bare_app.py"
            bare_py.write_text(BARE_APP)
            mp_env = {"MLPILOT_HOME": str(home)}
            # mlflow runs `uvicorn` from PATH: put this venv's bin first, as activating it would
            venv_path = os.pathsep.join([str(Path(sys.executable).parent),
                                         os.environ.get("PATH", "")])
            log_dir = work / f"inference-log-{m}-{rep}"
            defs = {
                "mlpilot": Server("mlpilot", [sys.executable, "-m", "mlpilot.cli.main", "serve",
                                              "--port", "{PORT}", "--log-dir", str(log_dir)],
                                  mp_env, f"/v1/models/bench-{m}/predict", "records"),
                "mlpilot-nolog": Server("mlpilot-nolog", [sys.executable, "-m",
                                                          "mlpilot.cli.main", "serve", "--port",
                                                          "{PORT}", "--no-log"],
                                        mp_env, f"/v1/models/bench-{m}/predict", "records"),
                "mlflow": Server("mlflow", [str(Path(sys.executable).with_name("mlflow")),
                                            "models", "serve", "-m", mlflow_uris.get(m, ""),
                                            "--env-manager", "local", "-p", "{PORT}",
                                            "--host", HOST],
                                 {**ONE_BLAS_THREAD, "PATH": venv_path, "MLFLOW_TRACKING_URI":
                                  f"sqlite:///{work / 'mlflow' / 'mlflow.db'}"},
                                 "/invocations", "dataframe_records"),
                "bare": Server("bare", [sys.executable, str(bare_py), str(pkl), "{PORT}"],
                               dict(ONE_BLAS_THREAD), "/predict", "records"),
            }
            for s in servers:
                server = defs[s]
                probe = json.dumps({server.key: pools[1][0]})
                print(f"[{rep + 1}/{args.repeat}] {m} / {s}: starting ...", flush=True)
                try:
                    start(server, work, probe)
                except BaseException as exc:
                    stop(server)  # also on Ctrl+C during start-up: no orphan server
                    if not isinstance(exc, RuntimeError):
                        raise
                    print(f"  {s} did not start: {exc}", file=sys.stderr)
                    if s == "mlflow":
                        mlflow_skip = str(exc)[:500]
                    continue
                starts.setdefault(s, []).append(server.start_s)
                try:
                    for rows, conc in shapes:
                        n = cells_plan[(rows, conc)]
                        bodies = bodies_for(server.key, pools[rows])
                        c = measure(server, m, bodies, rows, conc, n, work, rep,
                                    warmup=max(50, n // 10))
                        cells.append(c)
                        print(f"  rows={rows:3d} c={conc:2d}: {c.rps:8,.0f} req/s  "
                              f"p50 {c.p50_ms:7.1f} ms  p99 {c.p99_ms:7.1f} ms  "
                              f"errors {fmt_errors(c)}", flush=True)
                    if (s == "mlpilot" and args.profile_mlpilot and rep == 0
                            and m == "logreg"):
                        profile(server, pools[1], work, Path(args.profile_mlpilot))
                finally:
                    stop(server)
                if s == "mlpilot":
                    log_checks.append({"model": m, "repeat": rep,
                                       "log_dir": str(log_dir),
                                       "answered_200": server.answered,
                                       "records": inference_log_count(log_dir)})
                    print(f"  inference log: {log_checks[-1]['records']} records for "
                          f"{server.answered} correct answers", flush=True)

    models_list = list(models)
    summary = report(cells, servers, models_list, shapes)
    print("start-up to first correct prediction, s: "
          + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in starts.items()))
    if mlflow_skip:
        print(f"MLflow: {mlflow_skip}")
    total_errors = sum(sum(c.errors.values()) for c in cells)
    print(f"total errors: {total_errors}; wall {time.perf_counter() - t0:.0f} s; "
          f"load avg at end {os.getloadavg()}")
    if args.json:
        out = {"machine": info, "command": " ".join(shlex.quote(a) for a in sys.argv),
               "cells_plan": {f"{r}x{c}": n for (r, c), n in cells_plan.items()},
               "cells": [asdict(c) for c in cells], "summary": summary,
               "start_s": starts, "mlflow_skipped": mlflow_skip, "targets": TARGETS,
               "inference_log": log_checks, "load_avg_end": os.getloadavg()}
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    return 0


def profile(server: Server, pool: list[list[dict[str, float]]], work: Path, out: Path) -> None:
    """py-spy record of the gateway under 1-row c=8 load (best effort)."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("  py-spy not found; no profile", file=sys.stderr)
        return
    assert server.proc is not None
    out.mkdir(parents=True, exist_ok=True)
    target = out / "mlpilot-gateway.txt"
    rec = subprocess.Popen([spy, "record", "--pid", str(server.proc.pid), "--duration", "8",
                            "--format", "raw", "--output", str(target), "--nonblocking"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)
    res = run_load(server, bodies_for(server.key, pool), 1, 8, 100_000, 9.0, work)
    server.answered += len(res["latencies"])
    try:
        rec.wait(30)
    except subprocess.TimeoutExpired:
        rec.kill()
        rec.wait(5)
    print(f"  py-spy profile: {target}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--_loadgen":
        loadgen_main(sys.argv[2])
        sys.exit(0)
    sys.exit(main())
