"""Load test of ``prodcat serve``: throughput and latency of POST /v1/categorize.

Starts the real server (``python -m prodcat serve``) in its own process on 127.0.0.1, then sends
requests from this process with a pool of threads, each a closed loop (send, wait for the answer,
send again) on its own keep-alive connection. Every scenario (items per request x concurrency) runs
for ``--seconds``; it reports requests/s, items/s and p50/p95/p99 latency, plus the CPU seconds the
server and this load generator used, since on a small machine they compete for the same cores.

    python benchmarks/service_load.py --model models/shop
    python benchmarks/service_load.py --model models/shop --seconds 5 --batch-sizes 1,64 --concurrency 1,8,32

Writes ``service_load.json`` (every number and the machine) and ``service_load.md`` (a table) into
``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "ecommerce" / "ecommerce_sample.csv"
READY_TIMEOUT_S = 120
WARM_UP_REQUESTS = 20
SEED = 42


@dataclass
class Scenario:
    batch_size: int
    concurrency: int
    seconds: float
    requests: int
    errors: int
    requests_per_s: float
    items_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_s: float | None
    server_cpu_ms_per_request: float | None
    client_cpu_s: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="A model directory made by 'prodcat train'.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Catalog whose texts are sent (default: the ecommerce sample).")
    parser.add_argument("--seconds", type=float, default=10.0, help="How long each scenario runs.")
    parser.add_argument("--batch-sizes", default="1,64", help="Items per request, comma-separated.")
    parser.add_argument("--concurrency", default="1,8,32", help="Simultaneous clients, comma-separated.")
    parser.add_argument("--workers", type=int, default=1, help="Server worker processes (prodcat serve --workers).")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="Where to write service_load.json and .md.")
    return parser.parse_args(argv)


def integers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def load_texts(path: Path, limit: int = 2_000) -> list[str]:
    from prodcat.data.reading import read_catalog

    texts = [t for t in read_catalog(path).texts if t]
    random.Random(SEED).shuffle(texts)
    return texts[:limit]


# -- the server ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "prodcat", "serve", "--model", str(model), "--port", str(port),
               "--workers", str(workers), "--log-level", "warning"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode}: {server.stderr.read().strip()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return server, base_url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"the server did not become ready within {READY_TIMEOUT_S} s")


def server_cpu_seconds(server: subprocess.Popen) -> float | None:
    """CPU seconds of the server and its worker processes so far (None without psutil)."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        process = psutil.Process(server.pid)
        processes = [process, *process.children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in processes)
    except psutil.Error:
        return None


# -- the load --------------------------------------------------------------------------------------
def request_bodies(texts: list[str], batch_size: int, count: int = 200) -> list[bytes]:
    rng = random.Random(SEED + batch_size)
    return [
        json.dumps({"items": [{"id": str(i), "text": rng.choice(texts)} for i in range(batch_size)], "top_k": 3}).encode()
        for _ in range(count)
    ]


def client_loop(base_url: str, bodies: list[bytes], stop_at: float, offset: int) -> tuple[list[float], int]:
    """Send requests back to back until ``stop_at``; the latency of each answer in seconds, and the errors."""
    latencies, errors = [], 0
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        i = offset
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            response = client.post("/v1/categorize", content=bodies[i % len(bodies)], headers=headers)
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200
            i += 1
    return latencies, errors


def run_scenario(base_url: str, server: subprocess.Popen, texts: list[str], batch_size: int, concurrency: int, seconds: float) -> Scenario:
    bodies = request_bodies(texts, batch_size)
    client_loop(base_url, bodies, time.perf_counter() + 0.5, 0)  # warm-up, not counted
    cpu_before, client_before = server_cpu_seconds(server), time.process_time()
    started = time.perf_counter()
    stop_at = started + seconds
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda n: client_loop(base_url, bodies, stop_at, n * 7), range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu_after = server_cpu_seconds(server)
    server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    latencies = np.array([x for lat, _ in results for x in lat]) * 1000
    errors = sum(e for _, e in results)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) if len(latencies) else (float("nan"),) * 3
    return Scenario(
        batch_size=batch_size,
        concurrency=concurrency,
        seconds=round(elapsed, 2),
        requests=len(latencies),
        errors=errors,
        requests_per_s=round(len(latencies) / elapsed, 1),
        items_per_s=round(len(latencies) * batch_size / elapsed, 1),
        p50_ms=round(float(p50), 2),
        p95_ms=round(float(p95), 2),
        p99_ms=round(float(p99), 2),
        max_ms=round(float(latencies.max()), 2) if len(latencies) else float("nan"),
        server_cpu_s=None if server_cpu is None else round(server_cpu, 2),
        server_cpu_ms_per_request=None if server_cpu is None or not len(latencies) else round(1000 * server_cpu / len(latencies), 2),
        client_cpu_s=round(time.process_time() - client_before, 2),
    )


# -- reporting -------------------------------------------------------------------------------------
def machine() -> dict:
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}


def markdown(report: dict) -> str:
    lines = [
        f"Model `{report['model']['name']}` ({report['model']['family']}), {report['workers']} worker(s), "
        f"{report['machine']['cpus']} CPUs shared by the server and the load generator; "
        f"load average {report['machine']['load_average_before']} before the run.",
        "",
        "| items/request | concurrency | requests/s | items/s | p50 ms | p95 ms | p99 ms | errors | server CPU s | server CPU ms/request | client CPU s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in report["scenarios"]:
        lines.append(
            f"| {s['batch_size']} | {s['concurrency']} | {s['requests_per_s']:,.1f} | {s['items_per_s']:,.0f} | "
            f"{s['p50_ms']:.1f} | {s['p95_ms']:.1f} | {s['p99_ms']:.1f} | {s['errors']} | {s['server_cpu_s']} | {s['server_cpu_ms_per_request']} | {s['client_cpu_s']} |"
        )
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    texts = load_texts(args.data)
    host = machine()
    server, base_url = start_server(args.model, args.workers)
    try:
        model = httpx.get(f"{base_url}/v1/model").json()
        scenarios = []
        for batch_size in integers(args.batch_sizes):
            for concurrency in integers(args.concurrency):
                scenario = run_scenario(base_url, server, texts, batch_size, concurrency, args.seconds)
                print(json.dumps(asdict(scenario)), file=sys.stderr, flush=True)
                scenarios.append(asdict(scenario))
    finally:
        server.terminate()
        server.wait(timeout=30)
    report = {
        "model": {"name": model.get("name"), "family": model.get("family"), "path": str(args.model)},
        "workers": args.workers,
        "seconds_per_scenario": args.seconds,
        "data": str(args.data),
        "machine": host,
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "scenarios": scenarios,
    }
    write_atomically(args.out / "service_load.json", json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    write_atomically(args.out / "service_load.md", table)
    print(table)
    return report


if __name__ == "__main__":
    main()
