"""The shipped model: the evaluated recipe refit on every usable row, calibrated out of fold.

A model trained on every row has no rows left to calibrate on. So the rows are dealt to k folds
(whole products: exact and near-duplicates stay in one fold, as in the grouped split), the same
recipe is trained k times, each time without one fold, and predicts that fold. Every row is then
predicted by a model that never trained on it or on a near-duplicate of it; the temperature, the
review threshold and an ensemble's member weights are chosen on those out-of-fold predictions, and
the model trained on every row uses them.

A large catalog (``HOLDOUT_ROWS`` usable rows or more) skips the k fold trainings: its evaluated
model's predictions of the validation rows, which that model never trained on, set the temperature,
threshold and weights instead. Those are thousands of rows, and a model trained on 80% of them
differs little from one trained on all; k more trainings of a million rows would cost hours.

Keras families train for a fixed number of epochs here: the epoch at which the evaluated model's
early stopping found the lowest validation loss (the folds and the refit have no validation rows).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from prodcat.calibration import expected_calibration_error, probabilities
from prodcat.categorizer import Categorizer
from prodcat.data.split import group_folds, product_groups
from prodcat.data.text import normalize_text
from prodcat.errors import DataError
from prodcat.evaluation import scores

SLOW_FAMILIES = ("lstm", "transformer")  # trained fewer times by default
MISSING_LABEL_MARGIN = 1e3  # a label a fold model never learned scores this far below its lowest logit
HOLDOUT_ROWS = 100_000  # from this many usable rows on, calibrate on the evaluated model's validation rows


def default_folds(family: str, params: dict) -> int:
    """5 folds; 3 when the family (or an ensemble member) is slow to train."""
    members = params.get("members", ()) if family == "ensemble" else ()
    return 3 if family in SLOW_FAMILIES or any(m in SLOW_FAMILIES for m in members) else 5


@dataclass
class OutOfFold:
    """Each row's logits from the fold model that did not train on it (one array per ensemble member,
    else one), in the label order of the whole data; ``y`` is -1 where that model never saw the label."""

    member_logits: list[np.ndarray]
    y: np.ndarray
    folds: np.ndarray


def refit(evaluated: Categorizer, texts: Sequence[str], labels: Sequence[str], *, n_folds: int | None = None,
          validation: tuple[Sequence[str], Sequence[str]] | None = None, verbose: int = 0) -> tuple[Categorizer, dict]:
    """``evaluated``'s recipe trained on every row of ``texts``, calibrated out of fold; and what was done.

    Without ``n_folds``, a catalog of ``HOLDOUT_ROWS`` rows or more is calibrated on ``validation``
    (texts and labels the evaluated model never trained on) when given, any other on default folds."""
    params = fixed_epochs(evaluated)
    holdout = n_folds is None and validation is not None and len(texts) >= HOLDOUT_ROWS
    n_folds = None if holdout else n_folds or default_folds(evaluated.family, params)

    def recipe() -> Categorizer:
        return Categorizer(evaluated.family, params=params, class_weight=evaluated.class_weight,
                           target_precision=evaluated.target_precision, seed=evaluated.seed)

    if holdout:
        oof = held_out(evaluated, *validation, sorted(set(labels)))
        source = (f"the evaluated model's predictions of the {len(oof.y)} validation rows it never trained on "
                  f"(a catalog of {HOLDOUT_ROWS:,} rows or more is not cross-fitted)")
        labels_scored = list(validation[1])
    else:
        oof = out_of_fold(recipe, texts, labels, n_folds, evaluated.seed)
        source = f"out-of-fold predictions ({n_folds} grouped folds over {len(texts)} rows)"
        labels_scored = list(labels)
    shipped = recipe().fit(texts, labels, log_dir=None, verbose=verbose, label_paths=evaluated.tree_ is not None)
    known = oof.y >= 0
    if shipped.family == "ensemble":
        shipped.model_.weigh([logits[known] for logits in oof.member_logits], oof.y[known])
        shipped.params = shipped.model_.get_params()
        logits = shipped.model_.mix(oof.member_logits)
    else:
        logits = oof.member_logits[0]
    shipped.calibrate_with(logits[known], oof.y[known], source)
    shipped.history_ = evaluated.history_  # the curve that chose the epochs
    probs = probabilities(logits, shipped.temperature_)
    info = {
        "rows": len(texts),
        "folds": n_folds,
        "calibration": source,
        "out_of_fold_scores": scores(labels_scored, shipped.labels_from_proba(probs)),
        "rows_of_labels_unseen_by_their_fold": int((~known).sum()),
        "out_of_fold_ece": expected_calibration_error(probs[known], oof.y[known]),
        "out_of_fold_review": shipped.calibration_["coverage"],
        "epochs": _epochs(params),
    }
    return shipped, info


def out_of_fold(recipe: Callable[[], Categorizer], texts: Sequence[str], labels: Sequence[str], n_folds: int,
                seed: int) -> OutOfFold:
    """Train ``recipe()`` once per fold on the other folds' rows and keep its logits of the fold's rows."""
    groups = product_groups(list(texts))
    if len(np.unique(groups)) < n_folds:
        raise DataError(f"too few distinct products ({len(np.unique(groups))}) for {n_folds} calibration folds; "
                        "pass a smaller --calibration-folds or --no-refit")
    folds = group_folds(np.asarray(labels, dtype=object), groups, n_folds, seed)
    names = sorted(set(labels))
    column = {label: i for i, label in enumerate(names)}
    member_logits: list[np.ndarray] = []
    y = np.full(len(texts), -1, dtype=np.int64)
    for fold in range(n_folds):
        held, kept = np.flatnonzero(folds == fold), np.flatnonzero(folds != fold)
        if len(held) == 0:
            continue
        model = recipe().fit([texts[i] for i in kept], [labels[i] for i in kept], log_dir=None, verbose=0)
        normalized = [normalize_text(texts[i]) for i in held]
        parts = model.model_.members_ if model.family == "ensemble" else [model.model_]
        for m, part in enumerate(parts):
            if len(member_logits) <= m:
                member_logits.append(np.zeros((len(texts), len(names))))
            member_logits[m][held] = in_label_order(part.logits(normalized), [column[label] for label in model.labels_], len(names))
        learned = set(model.labels_)
        y[held] = [column[labels[i]] if labels[i] in learned else -1 for i in held]
    return OutOfFold(member_logits, y, folds)


def held_out(evaluated: Categorizer, texts: Sequence[str], labels: Sequence[str], names: list[str]) -> OutOfFold:
    """The evaluated model's logits of rows it never trained on, as ``out_of_fold`` gives them, in the
    order of all labels ``names``."""
    normalized = [normalize_text(t) for t in texts]
    column = {label: i for i, label in enumerate(names)}
    columns = [column[label] for label in evaluated.labels_]
    parts = evaluated.model_.members_ if evaluated.family == "ensemble" else [evaluated.model_]
    learned = set(evaluated.labels_)
    y = np.array([column[label] if label in learned else -1 for label in labels], dtype=np.int64)
    return OutOfFold([in_label_order(part.logits(normalized), columns, len(names)) for part in parts], y, np.zeros(len(y), dtype=np.int64))


def in_label_order(logits: np.ndarray, columns: list[int], n_labels: int) -> np.ndarray:
    """A fold model's logits in the columns of all labels; a label it never learned scores far below the rest."""
    full = np.repeat(logits.min(axis=1, keepdims=True) - MISSING_LABEL_MARGIN, n_labels, axis=1)
    full[:, columns] = logits
    return full


def fixed_epochs(evaluated: Categorizer) -> dict:
    """``evaluated``'s settings, with each early-stopped Keras model's epochs set to its best epoch."""
    params = copy.deepcopy(evaluated.params)
    if evaluated.family == "ensemble":
        for member in evaluated.model_.members_:
            params["member_params"][member.name] = _best_epoch(member.history, params["member_params"][member.name])
        params["weights"] = params["temperatures"] = None
        return params
    return _best_epoch(evaluated.history_, params)


def _best_epoch(history: dict | None, params: dict) -> dict:
    if history and history.get("val_loss") and "patience" in params:
        params = {**params, "epochs": int(np.argmin(history["val_loss"])) + 1}
    return params


def _epochs(params: dict) -> dict | int | None:
    if "member_params" in params:
        epochs = {name: p["epochs"] for name, p in params["member_params"].items() if "epochs" in p}
        return epochs or None
    return params.get("epochs")
