"""How good a categorizer is on labelled rows: accuracy, per-class and averaged F1, the confusion
matrix, calibration error and the coverage at the review threshold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prodcat import calibration
from prodcat.categorizer import Categorizer


def scores(true: Sequence[str], predicted: Sequence[str]) -> dict:
    """Rows, accuracy, weighted and macro F1. The averages run over the labels that occur (true or
    predicted): a trained label absent from the rows is not counted as an error."""
    from sklearn.metrics import accuracy_score, f1_score  # here: a command that fails early answers without it

    occurring = sorted(set(true) | set(predicted))
    return {
        "rows": len(true),
        "accuracy": float(accuracy_score(true, predicted)),
        "weighted_f1": float(f1_score(true, predicted, labels=occurring, average="weighted", zero_division=0)),
        "macro_f1": float(f1_score(true, predicted, labels=occurring, average="macro", zero_division=0)),
    }


def evaluate(categorizer: Categorizer, texts: Sequence[str], labels: Sequence[str]) -> dict:
    """Metrics of ``categorizer`` on ``texts`` with true ``labels``, as plain JSON-ready data.

    Labels the model does not know count as errors (reported under ``unknown_labels``).
    """
    from sklearn.metrics import classification_report, confusion_matrix

    probs = categorizer.predict_proba(texts)
    known = categorizer.labels
    predicted = categorizer.labels_from_proba(probs)
    every_label = sorted(set(known) | set(labels))
    report = classification_report(labels, predicted, labels=every_label, output_dict=True, zero_division=0)
    index = {label: i for i, label in enumerate(known)}
    y = np.array([index.get(label, -1) for label in labels])
    correct = np.asarray(predicted) == np.asarray(labels)
    confidence = probs[np.arange(len(predicted)), [index[p] for p in predicted]]  # of the label predicted
    metrics = {
        **scores(labels, predicted),
        "per_class": {
            label: {
                "precision": float(report[label]["precision"]),
                "recall": float(report[label]["recall"]),
                "f1": float(report[label]["f1-score"]),
                "support": int(report[label]["support"]),
            }
            for label in every_label
        },
        "confusion_matrix": {
            "labels": every_label,
            "matrix": confusion_matrix(labels, predicted, labels=every_label).tolist(),
        },
        "unknown_labels": sorted(set(labels) - set(known)),
        "calibration": {
            "ece": calibration.expected_calibration_error(probs, y) if (y >= 0).all() else None,
            "reliability": calibration.reliability(probs, y),
        },
    }
    if categorizer.threshold_ is not None:
        metrics["review"] = {
            "target_precision": categorizer.target_precision,
            **calibration.coverage_at(confidence, correct, categorizer.threshold_),
        }
    if categorizer.tree_ is not None:
        metrics["hierarchy"] = hierarchical_metrics(categorizer, probs, labels)
    return metrics


def hierarchical_metrics(categorizer: Categorizer, probs: np.ndarray, labels: Sequence[str]) -> dict:
    """Per level: accuracy, weighted and macro F1 of the full decoded path, and the coverage and
    precision of the back-off at that level's threshold; plus hierarchical F1 over ancestors."""
    from sklearn.metrics import accuracy_score, f1_score

    tree = categorizer.tree_
    paths, confidences = tree.decode(probs)
    truths = [_prefixes(label) for label in labels]
    thresholds = categorizer.level_thresholds_ or [0.0] * tree.depth
    depths = [int(np.argmin(np.r_[c[: len(p)] >= thresholds[: len(p)], False])) for p, c in zip(paths, confidences)]
    levels = []
    for d in range(tree.depth):
        rows = [i for i, t in enumerate(truths) if len(t) > d]
        true = [truths[i][d] for i in rows]
        pred = [paths[i][d] if len(paths[i]) > d else "" for i in rows]
        level = {
            "level": d + 1,
            "rows": len(rows),
            "accuracy": float(accuracy_score(true, pred)),
            "weighted_f1": float(f1_score(true, pred, average="weighted", zero_division=0)),
            "macro_f1": float(f1_score(true, pred, average="macro", zero_division=0)),
        }
        if categorizer.level_thresholds_:
            # Decided automatically at this level: the back-off reaches it (every level above is confident too).
            reached = np.array([depths[i] > d for i in rows])
            correct = np.array([p == t for p, t in zip(pred, true)])
            level["review"] = {
                "threshold": float(categorizer.level_thresholds_[d]),
                "coverage": float(reached.mean()) if len(rows) else 0.0,
                "precision": float(correct[reached].mean()) if reached.any() else None,
            }
        levels.append(level)
    overlap = sum(len(set(p) & set(t)) for p, t in zip(paths, truths))
    h_precision = overlap / max(1, sum(len(p) for p in paths))
    h_recall = overlap / max(1, sum(len(t) for t in truths))
    return {
        "levels": levels,
        "mean_level_weighted_f1": float(np.mean([lv["weighted_f1"] for lv in levels])),
        "hierarchical_precision": h_precision,
        "hierarchical_recall": h_recall,
        "hierarchical_f1": 2 * h_precision * h_recall / max(1e-12, h_precision + h_recall),
        "tree": tree.describe(),
    }


def _prefixes(label: str) -> list[str]:
    from prodcat.data.reading import PATH_SEPARATOR

    parts = label.split(PATH_SEPARATOR)
    return [PATH_SEPARATOR.join(parts[: d + 1]) for d in range(len(parts))]


def evaluate_file(model, path, *, report_dir=None, **reading) -> dict:
    """Evaluate the model directory (or ``Categorizer``) ``model`` on a labelled file.

    Rows with an empty text or label are not evaluated and are counted under ``skipped``.
    With ``report_dir``, the report files are written there.
    """
    from collections import Counter

    from prodcat.errors import DataError

    # The labels and columns come from the manifest: a file that cannot be scored is refused before
    # the model's network is loaded (seconds for a Keras model).
    manifest = None if isinstance(model, Categorizer) else _manifest(model)
    model_labels = model.labels if manifest is None else list(manifest["labels"])
    training = (model.metadata if manifest is None else manifest).get("training") or {}
    catalog = _read_with_model_columns(training, path, reading)
    if catalog.labels is None:
        raise DataError(f"{path}: has no label column to evaluate against; pass --label-col NAME")
    skipped = Counter("empty text" if not t else "empty label" for t, lab in zip(catalog.texts, catalog.labels) if not (t and lab))
    rows = [i for i, (t, lab) in enumerate(zip(catalog.texts, catalog.labels)) if t and lab]
    if not rows:
        raise DataError(f"{path}: no row has both a text and a label")
    labels = [catalog.labels[i] for i in rows]
    _check_label_overlap(model_labels, path, labels, catalog.label_columns)
    categorizer = model if manifest is None else Categorizer.load(model)
    metrics = evaluate(categorizer, [catalog.texts[i] for i in rows], labels)
    known = set(model_labels)
    metrics["skipped"] = dict(skipped)
    metrics["rows_with_unknown_labels"] = sum(label not in known for label in labels)
    metrics["columns"] = {"text": catalog.text_columns, "label": catalog.label_columns}
    if report_dir is not None:
        from prodcat.reporting import write_report
        from prodcat.training import report_context

        made = categorizer.metadata.get("training", {})
        context = report_context(categorizer, str(path), made.get("split"), dict(skipped))
        context["from_training"] = True  # the split and the epoch plots describe the model's training, not this file
        context["refit_rows"] = (made.get("refit") or {}).get("rows")
        write_report(report_dir, metrics, context=context, history=categorizer.history_)
    return metrics


def _read_with_model_columns(training: dict, path, reading: dict):
    """The catalog read with the model's own text and label columns (``training``: the model's
    training metadata) when none are given and the file has columns of those names; otherwise as
    ``reading`` says."""
    from prodcat.data.reading import read_catalog
    from prodcat.errors import DataError

    text_names, label_names = training.get("text_columns") or [], training.get("label_columns") or []
    by_name = all(not str(name).isdigit() for name in text_names + label_names)  # not positions of a headerless file
    if reading.get("text_cols") is None and reading.get("label_cols") is None and text_names and label_names and by_name:
        try:
            return read_catalog(path, **{**reading, "text_cols": text_names, "label_cols": label_names})
        except DataError:
            pass  # the file names its columns otherwise: read it as the options say
    return read_catalog(path, **reading)


def _check_label_overlap(model_labels: list[str], path, labels: list[str], label_columns: list[str]) -> None:
    """Refuse a file none of whose labels the model knows: its scores would say nothing."""
    from prodcat.errors import DataError

    known = set(model_labels)
    if any(label in known for label in labels):
        return
    theirs = ", ".join(repr(label) for label in sorted(set(labels))[:3])
    ours = ", ".join(repr(label) for label in model_labels[:3])
    column = ",".join(label_columns) or "?"
    raise DataError(f"{path}: none of the labels in column {column} ({theirs}, ...) is one the model knows ({ours}, ...); "
                    "pass --label-col with the right column, or a model trained on these labels")


def _manifest(model) -> dict:
    """The checked manifest of the model directory ``model``, with the errors loading it would give."""
    from prodcat import artifacts
    from prodcat.errors import ModelError

    if model is None:
        raise ModelError("no model given; pass --model DIR (a directory made by 'prodcat train')")
    manifest = artifacts.read_manifest(model)
    artifacts.check_manifest(model, manifest)
    return manifest
