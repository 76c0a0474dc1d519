"""Write a big catalog for benchmarks: the reference rows repeated, with an ``id`` column.

    python benchmarks/make_big_catalog.py --rows 1000000

writes ``benchmarks/out/catalog_1000000.csv`` (git-ignored) with the header ``id,label,text``:
the rows of ``../shared/data/ecommerce/ecommerce_normalized.csv`` and ``ecommerce_sample.csv``
(quoted multi-line texts, emoji) repeated in order until there are ``--rows`` rows; ``id`` counts
0 to rows-1, so an output's row order can be checked.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
ECOMMERCE = ROOT.parent / "shared" / "data" / "ecommerce"
SOURCES = (ECOMMERCE / "ecommerce_normalized.csv", ECOMMERCE / "ecommerce_sample.csv")
OUT = ROOT / "benchmarks" / "out"


def catalog_path(rows: int) -> Path:
    return OUT / f"catalog_{rows}.csv"


def make_catalog(rows: int, path: Path | None = None) -> Path:
    """Write ``rows`` repeated reference rows to ``path`` (atomically) and return it."""
    path = path or catalog_path(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = pd.concat(
        [pd.read_csv(source, header=None, names=["label", "text"], dtype=str, keep_default_na=False) for source in SOURCES],
        ignore_index=True,
    )
    part = path.with_name(f".{path.name}.part")
    try:
        with open(part, "w", encoding="utf-8", newline="") as handle:
            for start in range(0, rows, len(base)):
                block = base.iloc[: min(len(base), rows - start)]
                block.insert(0, "id", range(start, start + len(block)))
                block.to_csv(handle, index=False, header=start == 0, lineterminator="\n")
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to write (default 1,000,000)")
    parser.add_argument("--out", type=Path, default=None, help="file to write (default benchmarks/out/catalog_ROWS.csv)")
    args = parser.parse_args()
    path = make_catalog(args.rows, args.out)
    print(f"wrote {args.rows:,} rows to {path} ({path.stat().st_size / 2**20:,.0f} MiB)")


if __name__ == "__main__":
    main()
