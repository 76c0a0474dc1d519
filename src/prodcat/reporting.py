"""A report directory: ``metrics.json``, ``report.md`` and the plots (confusion matrix, epoch loss and
accuracy, reliability diagram)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from prodcat.files import usual_mode

MAX_MATRIX_LABELS = 30


def write_report(report_dir: str | Path, metrics: dict, *, context: dict, history: dict | None = None) -> Path:
    """Write every report file into ``report_dir``. ``context`` says which model, data and split."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    _write_text(report_dir / "metrics.json", json.dumps({**context, "metrics": metrics}, indent=2, ensure_ascii=False))
    _write_text(report_dir / "report.md", markdown(metrics, context))
    import matplotlib

    matplotlib.use("Agg")
    plot_confusion_matrix(metrics["confusion_matrix"], report_dir / "confusion_matrix.png", context.get("title", ""))
    for level, confusion in level_confusions(metrics["confusion_matrix"]).items():
        plot_confusion_matrix(confusion, report_dir / f"confusion_matrix_level{level}.png", f"level {level} of the category paths")
    plot_reliability(metrics["calibration"]["reliability"], report_dir / "calibration.png", metrics["calibration"]["ece"])
    if history:
        source = " (from the model's training, not these rows)" if context.get("from_training") else ""
        for name in ("loss", "accuracy"):
            plot_epochs(history, name, report_dir / f"epoch_{name}.png", source)
    return report_dir


def level_confusions(confusion: dict) -> dict[int, dict]:
    """For category paths, the confusion matrix of each upper level (1 = top) that has at most
    ``MAX_MATRIX_LABELS`` nodes: the counts of the full paths summed by their ancestors."""
    from prodcat.data.reading import PATH_SEPARATOR

    labels, matrix = confusion["labels"], np.asarray(confusion["matrix"])
    parts = [label.split(PATH_SEPARATOR) for label in labels]
    depth = max(len(p) for p in parts)
    levels = {}
    for d in range(1, depth):
        nodes = [PATH_SEPARATOR.join(p[:d]) for p in parts]
        names = sorted(set(nodes))
        if len(names) > MAX_MATRIX_LABELS:
            continue
        member = np.zeros((len(labels), len(names)))
        member[np.arange(len(labels)), [names.index(n) for n in nodes]] = 1
        levels[d] = {"labels": names, "matrix": (member.T @ matrix @ member).astype(int).tolist()}
    return levels


def most_confused(confusion: dict, n: int = 15) -> list[tuple[str, str, int, float]]:
    """The ``n`` largest off-diagonal cells: true label, predicted label, rows, share of the true label's rows."""
    labels, matrix = confusion["labels"], np.asarray(confusion["matrix"])
    errors = matrix.copy()
    np.fill_diagonal(errors, 0)
    order = np.argsort(-errors, axis=None, kind="stable")[:n]
    pairs = []
    for flat in order:
        i, j = np.unravel_index(flat, errors.shape)
        if errors[i, j] == 0:
            break
        pairs.append((labels[i], labels[j], int(errors[i, j]), float(errors[i, j] / max(1, matrix[i].sum()))))
    return pairs


def _write_text(path: Path, text: str) -> None:
    """Write ``path`` atomically, with the mode a plain ``open`` would give it (0666 less the umask)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), usual_mode())  # mkstemp makes the file private
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise



def markdown(metrics: dict, context: dict) -> str:
    split = context.get("split") or {}
    lines = [f"# {context.get('title', 'Evaluation report')}", ""]
    for key in ("model", "family", "data", "evaluated_on"):
        if context.get(key):
            lines.append(f"- **{key.replace('_', ' ')}**: {context[key]}")
    lines += [
        "",
        "## Summary",
        "",
        "| rows | accuracy | weighted F1 | macro F1 |",
        "|---:|---:|---:|---:|",
        f"| {metrics['rows']} | {metrics['accuracy']:.4f} | {metrics['weighted_f1']:.4f} | {metrics['macro_f1']:.4f} |",
        *selection_lines(context),
        *shipped_model_lines(context),
        "",
        "## Per class",
        "",
        "| category | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, row in metrics["per_class"].items():
        lines.append(f"| {label} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |")
    if metrics.get("unknown_labels"):
        lines += ["", f"Labels the model was not trained on (always wrong): {', '.join(metrics['unknown_labels'])}"]
    if metrics.get("hierarchy"):
        lines += per_level_lines(metrics["hierarchy"])
    lines += ["", "## Confidence", ""]
    fitted = context.get("calibration") or {}
    if fitted.get("temperature"):
        rows = fitted.get("rows", "the validation rows")  # a model saved before calibration said which rows
        before, after = fitted.get("ece_before", fitted.get("validation_ece_before")), fitted.get("ece_after", fitted.get("validation_ece_after"))
        lines.append(
            f"- Calibration: temperature scaling (temperature {fitted['temperature']:.3f}) on {rows}; expected calibration "
            f"error there {before:.4f} before, {after:.4f} after"
        )
    ece = metrics["calibration"]["ece"]
    lines.append(f"- Expected calibration error on these rows: {ece:.4f}" if ece is not None else "- Expected calibration error on these rows: n/a")
    review = metrics.get("review")
    if review:
        precision = "n/a" if review["precision"] is None else f"{review['precision']:.4f}"
        lines.append(
            f"- Review threshold {review['threshold']:.4f} (chosen on {fitted.get('rows', 'the validation rows')} for precision {review['target_precision']}): "
            f"coverage {review['coverage']:.1%} of rows categorized automatically, at precision {precision}"
        )
    pairs = most_confused(metrics["confusion_matrix"])
    if pairs:
        lines += ["", "## Most confused categories", "", "| true category | predicted as | rows | share of its rows |", "|---|---|---:|---:|"]
        lines += [f"| {true} | {predicted} | {count} | {share:.1%} |" for true, predicted, count, share in pairs]
    split_lines = [f"- {key.replace('_', ' ')}: {value}" for key, value in split.items()]
    if split and context.get("from_training"):
        lines += ["", "## The model's training split (not these rows)", "",
                  "How the model was trained and tested when it was made; the rows evaluated here are the file above.", ""]
        lines += split_lines
        if context.get("refit_rows"):
            lines += ["", f"After that evaluation the model was refit on all {context['refit_rows']} usable rows: "
                          "this model trained on the test rows above too."]
    elif split:
        lines += ["", "## Split", ""] + split_lines
        if split.get("strategy") == "random":
            lines += ["", "**This split leaks**: it is a plain random split, so products seen in training (exact and near duplicates) come back in the test rows and inflate the scores. Use it only to compare with published numbers."]
        elif split.get("strategy") == "grouped":
            lines += ["", "Leakage-free: exact duplicates were collapsed and near-duplicates kept on one side before splitting; the test rows were never used to choose anything."]
    if context.get("untested_labels"):
        untested = context["untested_labels"]
        named = ", ".join(untested[:20]) + (f" and {len(untested) - 20} more" if len(untested) > 20 else "")
        lines += ["", "## Labels learned but not tested", "",
                  f"{len(untested)} labels have at most 2 rows: too few to test, so all their rows went into training: {named}."]
    if context.get("skipped"):
        lines += ["", "## Rows not used", ""] + [f"- {reason}: {count}" for reason, count in context["skipped"].items()]
    lines += plot_lines(metrics, context)
    return "\n".join(lines)


def plot_lines(metrics: dict, context: dict) -> list[str]:
    """The "Plots" section: every picture of the report directory, embedded."""
    lines = ["", "## Plots", "", "![Confusion matrix](confusion_matrix.png)", ""]
    for level in level_confusions(metrics["confusion_matrix"]):
        lines += [f"![Confusion matrix of level {level}](confusion_matrix_level{level}.png)", ""]
    lines += ["![Reliability diagram](calibration.png)", ""]
    if context.get("has_history"):
        if context.get("from_training"):
            lines += ["Training curves, from the model's training (not these rows):", ""]
        lines += ["![Loss per epoch](epoch_loss.png)", "", "![Accuracy per epoch](epoch_accuracy.png)", ""]
    return lines


def selection_lines(context: dict) -> list[str]:
    """How ``--family auto`` chose the family, when it did."""
    selection = context.get("selection")
    if not selection:
        return []
    tried = ", ".join(f"{family} {f1:.4f}" for family, f1 in selection["out_of_fold_weighted_f1"].items()) or "none"
    lines = ["", f"**Family chosen by cross-validation: {selection['chosen']}.** Out-of-fold weighted F1 over "
             f"{selection['folds']} grouped folds of the {selection['rows']} training rows (no validation or test row): {tried}."]
    if selection["not_tried"]:
        lines.append(f"Not tried within the {selection['time_budget_s']:.0f} s budget: {', '.join(selection['not_tried'])}.")
    return lines


def shipped_model_lines(context: dict) -> list[str]:
    """What the shipped model is, when it is not the model these scores are of: the same recipe refit
    on every usable row, calibrated out of fold."""
    refit = context.get("refit")
    if not refit:
        return []
    split = context.get("split") or {}
    review = refit.get("out_of_fold_review") or {}
    precision = "n/a" if review.get("precision") is None else f"{review['precision']:.4f}"
    lines = [
        "",
        f"These scores are of the model trained on the {split.get('train_rows', '?')} training rows and scored on the "
        f"{split.get('test_rows', '?')} test rows it never saw. **The shipped model was refit on all {refit['rows']} usable rows** "
        "(training, validation and test) with the same settings"
        + (f" (epochs: {refit['epochs']}, the best epoch of the evaluated fit)" if refit.get("epochs") else "") + ".",
        "",
        f"- Its calibration and review threshold come from {refit['calibration']}: each row predicted by a model that "
        "never trained on it or on a near-duplicate of it.",
        f"- {'Held-out' if refit.get('folds') is None else 'Out-of-fold'} expected calibration error {refit['out_of_fold_ece']:.4f}; review threshold {review.get('threshold', 0):.4f} "
        f"keeps {review.get('coverage', 0):.1%} of rows at precision {precision} {'on them' if refit.get('folds') is None else 'out of fold'}.",
    ]
    oof = refit.get("out_of_fold_scores")
    if oof and refit.get("folds") is None:  # a large catalog, calibrated on the validation rows
        lines.append(f"- On those {oof['rows']} validation rows: accuracy {oof['accuracy']:.4f}, weighted F1 {oof['weighted_f1']:.4f}, "
                     f"macro F1 {oof['macro_f1']:.4f}.")
    elif oof:
        lines.append(f"- Cross-validated over all {oof['rows']} rows (each predicted out of fold, before the refit): accuracy "
                     f"{oof['accuracy']:.4f}, weighted F1 {oof['weighted_f1']:.4f}, macro F1 {oof['macro_f1']:.4f}"
                     + (f"; steadier than the {split['test_rows']} test rows alone" if split.get("test_rows", 0) < 500 else "") + ".")
    if refit.get("rows_of_labels_unseen_by_their_fold"):
        lines.append(f"- {refit['rows_of_labels_unseen_by_their_fold']} rows were left out of calibration: their fold's model never saw their label.")
    return lines


def per_level_lines(hierarchy: dict) -> list[str]:
    """The "Per level" section for a model of category paths: one row per tree level, then the
    scores over the whole path and how the back-off works."""
    lines = [
        "",
        "## Per level",
        "",
        "Each level scores the decoded path's node at that depth against the true one.",
        "",
        "| level | rows | accuracy | weighted F1 | macro F1 | threshold | coverage | precision |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in hierarchy["levels"]:
        review = level.get("review")
        threshold = coverage = precision = "n/a"
        if review:
            threshold, coverage = f"{review['threshold']:.4f}", f"{review['coverage']:.1%}"
            precision = "n/a" if review["precision"] is None else f"{review['precision']:.4f}"
        lines.append(
            f"| {level['level']} | {level['rows']} | {level['accuracy']:.4f} | {level['weighted_f1']:.4f} | "
            f"{level['macro_f1']:.4f} | {threshold} | {coverage} | {precision} |"
        )
    lines += [
        "",
        f"- Mean of the per-level weighted F1: {hierarchy['mean_level_weighted_f1']:.4f}",
        f"- Hierarchical F1 (over each path's ancestors): {hierarchy['hierarchical_f1']:.4f} "
        f"(precision {hierarchy['hierarchical_precision']:.4f}, recall {hierarchy['hierarchical_recall']:.4f})",
    ]
    if any(level.get("review") for level in hierarchy["levels"]):
        lines.append(
            "- Back-off: a prediction stops at the deepest level whose confidence reaches that level's threshold "
            "(chosen on validation for the target precision); coverage is the share of rows whose confidence at that level "
            "reaches its threshold, and a prediction that stops above the leaves needs review."
        )
    else:
        lines.append("- Back-off: no per-level thresholds (the model was trained without validation rows), so every prediction goes down to a leaf.")
    return lines


def plot_confusion_matrix(confusion: dict, path: Path, title: str = "") -> None:
    import matplotlib.pyplot as plt

    labels, matrix = confusion["labels"], np.asarray(confusion["matrix"])
    note = ""
    if len(labels) > MAX_MATRIX_LABELS:
        keep = np.sort(np.argsort(-matrix.sum(axis=1), kind="stable")[:MAX_MATRIX_LABELS])
        labels, matrix = [labels[i] for i in keep], matrix[np.ix_(keep, keep)]
        note = f" ({MAX_MATRIX_LABELS} most frequent categories)"
    size = max(6.0, 0.45 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    row_sums = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, row_sums, out=np.zeros(matrix.shape, dtype=float), where=row_sums > 0)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true category")
    names = tick_names(labels)
    ax.set_xticks(range(len(labels)), names, rotation=40, ha="right")
    ax.set_yticks(range(len(labels)), names)
    for i, j in zip(*np.nonzero(matrix)):  # the rows in every cell that has any
        ax.text(j, i, f"{matrix[i, j]}", ha="center", va="center", fontsize=10 if len(labels) <= 15 else 7,
                color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted category")
    ax.set_ylabel("true category")
    ax.set_title(f"Confusion matrix{note}" + (f"\n{title}" if title else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tick_names(labels: list[str], width: int = 32) -> list[str]:
    """Short, distinct axis labels: a category path's leaf, with as many of its ancestors as it takes
    to tell it from the others; a name longer than ``width`` loses its start, never its leaf."""
    from collections import Counter

    from prodcat.data.reading import PATH_SEPARATOR

    parts = [label.split(PATH_SEPARATOR) for label in labels]
    kept = [1] * len(labels)
    while True:
        names = [PATH_SEPARATOR.join(p[-k:]) for p, k in zip(parts, kept)]
        counts = Counter(names)
        clashing = [i for i, name in enumerate(names) if counts[name] > 1 and kept[i] < len(parts[i])]
        if not clashing:
            break
        for i in clashing:
            kept[i] += 1
    return [name if len(name) <= width else "…" + name[-(width - 1):] for name in names]


def plot_epochs(history: dict, name: str, path: Path, source: str = "") -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label in ((name, "training"), (f"val_{name}", "validation")):
        if key in history:
            values = history[key]
            ax.plot(range(1, len(values) + 1), values, marker="o", label=label)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(name)
    ax.set_title(f"Epoch {name}{source}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(bins: list[dict], path: Path, ece: float | None) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    filled = [b for b in bins if b["count"]]
    ax.bar([b["low"] for b in filled], [b["accuracy"] for b in filled], width=bins[0]["high"] - bins[0]["low"],
           align="edge", alpha=0.7, edgecolor="black", label="accuracy in bin")
    ax.plot([b["confidence"] for b in filled], [b["accuracy"] for b in filled], marker="o", color="C1", label="bin: mean confidence vs accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram" + (f" (ECE {ece:.3f})" if ece is not None else ""))
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
