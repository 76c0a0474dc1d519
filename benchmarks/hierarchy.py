"""Hierarchical rows of the benchmark: category trees, scored per level on one leakage-free split.

For MWPD2020 (train.jsonl → validation.jsonl, lvl1 > lvl2 > lvl3) and BigBasket (category >
sub_category > type), it trains prodcat's tree models (``linear`` over full paths, and
``hierarchical``: one linear model per level combined over the tree's paths) and reports, per level,
weighted F1 of the full decoded path, the average of the per-level weighted F1, hierarchical F1,
and the back-off coverage and precision per level at the 0.98 target.

Beside them, for comparison, it lists the mean of the per-level weighted F1 of the flat models (one
prodcat model or peer per level) that ``models.py`` wrote to ``--flat-results`` (its ``models.json``
per dataset, e.g. ``benchmarks/results/mwpd``): those are separate runs, one split per level.

    python benchmarks/hierarchy.py [--datasets mwpd,bigbasket] [--families linear,hierarchical] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import DATA_DIR, bigbasket, mwpd  # noqa: E402

import prodcat  # noqa: E402

TREES = {
    "mwpd": lambda data_dir: mwpd("lvl1,lvl2,lvl3", data_dir),
    "bigbasket": lambda data_dir: bigbasket("category,sub_category,type", data_dir),
}


def run(dataset_name: str, family: str, data_dir: Path) -> dict:
    dataset = TREES[dataset_name](data_dir)
    started = time.perf_counter()
    categorizer = prodcat.Categorizer(family, seed=42).fit(
        dataset.train.texts, dataset.train.labels, validation=(dataset.validation.texts, dataset.validation.labels), verbose=0
    )
    seconds = time.perf_counter() - started
    (test,) = dataset.tests.values()
    metrics = prodcat.evaluate(categorizer, test.texts, test.labels)
    tree = metrics["hierarchy"]
    return {
        "dataset": dataset_name,
        "family": family,
        "train_seconds": seconds,
        "data": dataset.describe(),
        "mean_level_weighted_f1": tree["mean_level_weighted_f1"],
        "hierarchical_f1": tree["hierarchical_f1"],
        "levels": tree["levels"],
        "level_thresholds": categorizer.level_thresholds_,
    }


FLAT_LEVELS = {"mwpd": ["mwpd-lvl1", "mwpd-lvl2", "mwpd-lvl3"],
               "bigbasket": ["bigbasket-category", "bigbasket-sub_category", "bigbasket-type"]}


def flat_rows(dataset_name: str, results_dir: Path) -> list[dict]:
    """Per model, the weighted F1 of its flat per-level runs in ``results_dir/models.json`` (every
    level needed; models missing a level are left out)."""
    path = results_dir / "models.json"
    if not path.exists():
        return []
    datasets = json.loads(path.read_text())["datasets"]
    levels = FLAT_LEVELS[dataset_name]
    if not all(level in datasets for level in levels):
        return []
    scores: dict[str, list[float]] = {}
    for level in levels:
        for model in datasets[level]["models"]:
            if model.get("status") == "ok":
                scores.setdefault(model["model"], []).append(model["tests"][level]["weighted_f1"])
    return [{"model": name, "levels": f1s} for name, f1s in scores.items() if len(f1s) == len(levels)]


def markdown(results: list[dict], command: str, flat: dict[str, list[dict]] | None = None) -> str:
    lines = [f"Command: `{command}`", ""]
    for name in dict.fromkeys(r["dataset"] for r in results):
        rows = [r for r in results if r["dataset"] == name]
        test_rows = sum(rows[0]["data"]["test_rows"].values())
        lines += [f"#### {name} (category tree, {test_rows:,} test rows)", "",
                  "| model | lvl1 wF1 | lvl2 wF1 | lvl3 wF1 | **mean of levels** | hierarchical F1 | back-off coverage (precision) per level at 0.98 | train s |",
                  "|---|---:|---:|---:|---:|---:|---|---:|"]
        for r in rows:
            wf1 = " | ".join(f"{lv['weighted_f1']:.4f}" for lv in r["levels"])
            cover = ", ".join(f"{lv['review']['coverage']:.1%} ({(lv['review']['precision'] or 0):.3f})" for lv in r["levels"])
            lines.append(f"| prodcat-{r['family']} | {wf1} | **{r['mean_level_weighted_f1']:.4f}** | {r['hierarchical_f1']:.4f} | {cover} | {r['train_seconds']:.0f} |")
        for row in (flat or {}).get(name, []):
            wf1 = " | ".join(f"{f1:.4f}" for f1 in row["levels"])
            lines.append(f"| {row['model']}, flat, one model per level | {wf1} | {sum(row['levels']) / len(row['levels']):.4f} | | | |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mwpd,bigbasket")
    parser.add_argument("--families", default="linear,hierarchical")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--flat-results", type=Path, default=Path("benchmarks/results"),
                        help="directory with one folder per dataset (mwpd, bigbasket) holding models.py's models.json")
    args = parser.parse_args()
    results = [run(d, f, args.data_dir) for d in args.datasets.split(",") for f in args.families.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/hierarchy.py " + " ".join(sys.argv[1:])
    flat = {name: flat_rows(name, args.flat_results / name) for name in args.datasets.split(",")}
    summary = {"date": datetime.now(timezone.utc).isoformat(), "command": command.strip(), "results": results, "flat_per_level": flat}
    (args.out / "hierarchy.json").write_text(json.dumps(summary, indent=2))
    table = markdown(results, command.strip(), flat)
    (args.out / "hierarchy.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
