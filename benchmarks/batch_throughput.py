"""Throughput and memory of ``prodcat predict --input`` on a big catalog, one run per model.

    python benchmarks/batch_throughput.py --model /tmp/bench/linear --rows 1000000

Makes ``benchmarks/out/catalog_ROWS.csv`` if needed (see make_big_catalog.py), runs the real CLI
as a child process, polls the child's resident memory, checks that the output has exactly ROWS
rows with ``id`` 0..ROWS-1 in order, writes ``benchmarks/out/batch_throughput.json`` and prints
one markdown table row per model.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil

from make_big_catalog import OUT, catalog_path, make_catalog

HEADER = "| model | family | rows | chunk rows | seconds | rows/s | peak RSS (MiB) |\n|---|---|---:|---:|---:|---:|---:|"


def run_predict(model: Path, catalog: Path, output: Path, chunk_rows: int) -> dict:
    """Run ``prodcat predict`` on ``catalog``; wall time and the child's peak RSS (polled every 50 ms)."""
    command = [sys.executable, "-m", "prodcat", "predict", "--model", str(model), "--input", str(catalog),
               "--output", str(output), "--chunk-rows", str(chunk_rows), "--quiet"]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        try:
            peak = max(peak, process.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    stdout, stderr = child.communicate()
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"prodcat predict failed (exit {child.returncode}): {stderr.strip()}")
    return {"command": " ".join(command), "seconds": seconds, "peak_rss_mib": peak / 2**20, "cli_summary": stdout.strip()}


def check_output(output: Path, rows: int) -> None:
    """The output must have exactly ``rows`` rows, ``id`` 0..rows-1 in order, each with a category or a reason."""
    expected = 0
    for chunk in pd.read_csv(output, usecols=["id", "predicted_category", "predicted_reason"], dtype=str, keep_default_na=False, chunksize=100_000):
        ids = chunk["id"].astype(int).tolist()
        if ids != list(range(expected, expected + len(ids))):
            raise SystemExit(f"{output}: rows out of order near id {expected}")
        if ((chunk["predicted_category"] == "") & (chunk["predicted_reason"] == "")).any():
            raise SystemExit(f"{output}: a row near id {expected} has neither a category nor a reason")
        expected += len(ids)
    if expected != rows:
        raise SystemExit(f"{output}: {expected} rows, expected {rows}")


def family_of(model: Path) -> str:
    return json.loads((model / "prodcat.json").read_text(encoding="utf-8"))["family"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", required=True, help="model directory (repeatable)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="catalog rows (default 1,000,000)")
    parser.add_argument("--chunk-rows", type=int, default=20_000, help="prodcat predict --chunk-rows")
    parser.add_argument("--json", type=Path, default=OUT / "batch_throughput.json", help="result file")
    args = parser.parse_args()
    catalog = catalog_path(args.rows)
    if not catalog.exists():
        make_catalog(args.rows, catalog)
    results = []
    print(HEADER)
    for model in args.model:
        output = OUT / f"predictions_{model.name}_{args.rows}.csv"
        result = run_predict(model, catalog, output, args.chunk_rows)
        check_output(output, args.rows)
        output.unlink()
        result.update(model=str(model), family=family_of(model), rows=args.rows, chunk_rows=args.chunk_rows,
                      rows_per_second=args.rows / result["seconds"])
        results.append(result)
        print(f"| {model.name} | {result['family']} | {args.rows:,} | {args.chunk_rows:,} | {result['seconds']:.1f} | "
              f"{result['rows_per_second']:,.0f} | {result['peak_rss_mib']:,.0f} |", flush=True)
    machine = {"python": platform.python_version(), "cpus": psutil.cpu_count(), "platform": platform.platform()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
