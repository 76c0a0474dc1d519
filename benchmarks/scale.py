"""Past one machine: streaming training and Dask batch prediction on generated catalogs.

    python benchmarks/scale.py train --rows 100000,1000000            # prodcat train --family streaming
    python benchmarks/scale.py predict --rows 1000000 --workers 1,2 --model models/scale-1000000

``train`` runs ``prodcat train --family streaming`` on ``benchmarks/out/catalog_ROWS.csv`` (made by
make_big_catalog.py when missing) and records wall time and the peak resident memory of the
process. ``predict`` writes the catalog as Parquet parts (``--part-rows`` rows each), then runs
``prodcat predict`` once in one process (``--engine local``) and once per ``--workers`` value with
``--engine dask`` on a local cluster, polling the resident memory of every process of the run (the
client, the scheduler's process, each worker), and checks that the output has every ``id`` in order.
Results go to ``benchmarks/results/scale/`` as JSON; each run also prints a markdown table row.
Every run is a fresh child process running the real CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil

from make_big_catalog import OUT, catalog_path, make_catalog

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "scale"


def run_measured(command: list[str]) -> dict:
    """Run ``command``; wall time, its output's last line, the peak RSS of it and of each of its
    descendants (polled every 100 ms), in MiB, and their CPU seconds (the machine is shared: wall
    time depends on what else runs, CPU time much less)."""
    load_before, started = os.getloadavg()[0], time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root, peaks, cpu = psutil.Process(child.pid), {}, {}
    while child.poll() is None:
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for process in processes:
            try:
                rss = process.memory_info().rss
                times = process.cpu_times()
                cpu[process.pid] = times.user + times.system
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            peaks[process.pid] = max(peaks.get(process.pid, 0), rss)
        time.sleep(0.1)
    out, err = child.communicate()
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{err[-3000:]}")
    mib = {pid: rss / 2**20 for pid, rss in peaks.items()}
    return {
        "command": " ".join(command),
        "seconds": seconds,
        "peak_rss_mib": mib.get(child.pid, 0.0),
        "peak_rss_mib_children": sorted((round(v, 1) for pid, v in mib.items() if pid != child.pid), reverse=True),
        "cpu_seconds": sum(cpu.values()),  # user + system of every process of the run, as last polled
        "load_average_before": load_before,
        "cli_summary": (out.strip().splitlines() or [""])[-1],
    }


def ensure_catalog(rows: int) -> Path:
    path = catalog_path(rows)
    return path if path.exists() else make_catalog(rows)


def train(rows: int, model_dir: Path) -> dict:
    catalog = ensure_catalog(rows)
    shutil.rmtree(model_dir, ignore_errors=True)  # this benchmark's own model from an earlier run
    command = [sys.executable, "-m", "prodcat", "train", str(catalog), "--family", "streaming", "--text-col", "text",
               "--label-col", "label", "--out", str(model_dir), "--quiet"]
    result = run_measured(command)
    metrics = json.loads((model_dir / "prodcat.json").read_text())
    split = metrics["training"]["split"]
    result.update(rows=rows, family="streaming", train_rows=split["train_rows"], test_rows=split["test_rows"],
                  test_weighted_f1=metrics["metrics"]["test"]["weighted_f1"], rows_per_second=rows / result["seconds"])
    print(f"| train streaming | {rows:,} | {result['seconds']:.0f} | {result['cpu_seconds']:.0f} | {result['rows_per_second']:,.0f} | "
          f"{result['peak_rss_mib']:,.0f} |", flush=True)
    return result


def parquet_parts(rows: int, part_rows: int) -> Path:
    """The catalog as Parquet files of ``part_rows`` rows, ``part-00000.parquet`` ... (made once)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    folder = OUT / f"catalog_{rows}_parts_{part_rows}"
    if (folder / "_SUCCESS").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    options = pacsv.ConvertOptions(column_types={"id": pa.int64(), "label": pa.string(), "text": pa.string()})
    reader = pacsv.open_csv(ensure_catalog(rows), convert_options=options, read_options=pacsv.ReadOptions(block_size=1 << 22))
    buffered, index, pending = [], 0, 0
    for batch in reader:
        buffered.append(batch)
        pending += batch.num_rows
        while pending >= part_rows:
            table = pa.Table.from_batches(buffered)
            pq.write_table(table.slice(0, part_rows), folder / f"part-{index:05d}.parquet")
            rest = table.slice(part_rows)
            buffered, pending, index = rest.to_batches(), rest.num_rows, index + 1
    if pending:
        pq.write_table(pa.Table.from_batches(buffered), folder / f"part-{index:05d}.parquet")
    with pq.ParquetWriter(folder / "whole.parquet", pq.read_schema(folder / "part-00000.parquet")) as whole:  # for --engine local
        for part in sorted(folder.glob("part-*.parquet")):
            whole.write_table(pq.read_table(part))
    (folder / "_SUCCESS").touch()
    return folder


def predict(rows: int, model: Path, engine: str, workers: int, part_rows: int) -> dict:
    """One prediction run over the Parquet parts; checks every id comes back once, in order."""
    import pyarrow.dataset as ds

    parts = parquet_parts(rows, part_rows)
    output = OUT / f"predictions_{rows}_{engine}_{workers}"
    command = [sys.executable, "-m", "prodcat", "predict", "--model", str(model), "--text-col", "text", "--quiet"]
    if engine == "dask":
        command += ["--input", str(parts / "part-*.parquet"), "--output", str(output), "--engine", "dask", "--workers", str(workers)]
    else:
        output = output.with_suffix(".parquet")
        command += ["--input", str(parts / "whole.parquet"), "--output", str(output), "--chunk-rows", "50000"]
    result = run_measured(command)
    ids = ds.dataset(output if engine == "local" else sorted(output.glob("part-*.parquet")), format="parquet").to_table(columns=["id"])["id"].to_numpy()
    if len(ids) != rows or not (ids.astype("int64") == np.arange(rows)).all():
        raise SystemExit(f"{output}: the ids are not 0..{rows - 1} in order")
    worker_peaks = result["peak_rss_mib_children"]
    result.update(rows=rows, engine=engine, workers=workers, model=str(model), part_rows=part_rows,
                  rows_per_second=rows / result["seconds"], output_checked="every id once, in order")
    peak_worker = f"{worker_peaks[0]:,.0f}" if worker_peaks else "-"
    print(f"| predict {engine} | {workers} | {rows:,} | {result['seconds']:.0f} | {result['cpu_seconds']:.0f} | {result['rows_per_second']:,.0f} | "
          f"{result['peak_rss_mib']:,.0f} | {peak_worker} |", flush=True)
    return result


def machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)}


def save(name: str, results: list[dict]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), "results": results}, indent=2) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["train", "predict"])
    parser.add_argument("--rows", default="100000,1000000", help="catalog sizes, comma-separated")
    parser.add_argument("--model", type=Path, help="predict: the model directory (default: the train run's models/scale-ROWS)")
    parser.add_argument("--workers", default="1,2", help="predict: Dask worker counts, comma-separated")
    parser.add_argument("--part-rows", type=int, default=50_000, help="predict: rows per Parquet part (one Dask partition each)")
    parser.add_argument("--no-single", action="store_true", help="predict: skip the one-process (--engine local) run")
    args = parser.parse_args()
    sizes = [int(n) for n in args.rows.split(",")]
    results = []
    if args.what == "train":
        print("| run | rows | seconds | CPU seconds | rows/s | peak RSS (MiB) |\n|---|---:|---:|---:|---:|---:|")
        for rows in sizes:
            results.append(train(rows, ROOT / "models" / f"scale-{rows}"))
            save(f"train_streaming_{args.rows.replace(',', '_')}", results)
        return
    print("| run | workers | rows | seconds | CPU seconds | rows/s | peak RSS client (MiB) | peak RSS per worker (MiB) |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for rows in sizes:
        model = args.model or ROOT / "models" / f"scale-{rows}"
        if not args.no_single:
            results.append(predict(rows, model, "local", 1, args.part_rows))
            save(f"predict_{args.rows.replace(',', '_')}", results)
        for workers in (int(n) for n in args.workers.split(",")):
            results.append(predict(rows, model, "dask", workers, args.part_rows))
            save(f"predict_{args.rows.replace(',', '_')}", results)


if __name__ == "__main__":
    main()
