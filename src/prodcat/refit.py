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
import os
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
# Families that train in one thread (liblinear, NumPy's neighbour table): their fold trainings and the
# refit on all rows run side by side in worker processes. The Keras families use every core themselves.
SIDE_BY_SIDE_FAMILIES = ("linear", "neighbors")
SIDE_BY_SIDE_ROWS = (2_000, 20_000)  # below: starting processes costs more than it saves; from the top
# on, a linear model trains its labels in parallel processes itself (``linear.PARALLEL_ROWS``)
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

    workers = 1 if holdout else side_by_side_workers(evaluated.family, params, texts, n_folds + 1)
    refit_on_all = _Training(recipe, texts, labels, label_paths=evaluated.tree_ is not None, verbose=verbose)
    if holdout:
        oof = held_out(evaluated, *validation, sorted(set(labels)))
        source = (f"the evaluated model's predictions of the {len(oof.y)} validation rows it never trained on "
                  f"(a catalog of {HOLDOUT_ROWS:,} rows or more is not cross-fitted)")
        labels_scored = list(validation[1])
        shipped = refit_on_all()
    else:
        oof, shipped = out_of_fold(recipe, texts, labels, n_folds, evaluated.seed, workers=workers, also=refit_on_all)
        source = f"out-of-fold predictions ({n_folds} grouped folds over {len(texts)} rows)"
        labels_scored = list(labels)
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
        "processes": workers,
    }
    return shipped, info


def side_by_side_workers(family: str, params: dict, texts: Sequence[str], n_trainings: int) -> int:
    """How many of ``n_trainings`` trainings of ``family`` on ``texts`` (or most of them) run at once:
    one per CPU (at most 4) that the free memory holds, for families that train in one thread and
    catalogs of ``SIDE_BY_SIDE_ROWS``; else 1."""
    from prodcat.models.linear import available_memory

    families = params.get("members", ()) if family == "ensemble" else [params.get("base", "linear")] if family == "hierarchical" else [family]
    if not families or any(f not in SIDE_BY_SIDE_FAMILIES for f in families) or not SIDE_BY_SIDE_ROWS[0] <= len(texts) < SIDE_BY_SIDE_ROWS[1]:
        return 1
    # A training holds its features: 2.2-3.3 stored values per character on the benchmark's catalogs,
    # 28 bytes each as liblinear's doubles and indices; 200 bytes a character leaves room for the rest.
    per_training = 200 * sum(min(len(t), 500) for t in texts) + 100_000_000
    by_memory = int(0.5 * available_memory() // per_training)
    return max(1, min(n_trainings, 4, os.cpu_count() or 1, by_memory))


@dataclass
class _Training:
    """One training of the recipe on some of the rows; called where it runs (here or in a worker)."""

    recipe: Callable[[], Categorizer]
    texts: Sequence[str]
    labels: Sequence[str]
    label_paths: bool = False
    verbose: int = 0

    def __call__(self) -> Categorizer:
        return self.recipe().fit(self.texts, self.labels, log_dir=None, verbose=self.verbose, label_paths=self.label_paths)


def out_of_fold(recipe: Callable[[], Categorizer], texts: Sequence[str], labels: Sequence[str], n_folds: int,
                seed: int, *, workers: int = 1, also: Callable[[], Categorizer] | None = None) -> tuple[OutOfFold, Categorizer | None]:
    """Train ``recipe()`` once per fold on the other folds' rows and keep its logits of the fold's rows;
    with ``also``, one more training, whose model is returned beside them. ``workers`` processes train
    side by side (the same models as one after another)."""
    groups = product_groups(list(texts))
    if len(np.unique(groups)) < n_folds:
        raise DataError(f"too few distinct products ({len(np.unique(groups))}) for {n_folds} calibration folds; "
                        "pass a smaller --calibration-folds or --no-refit")
    folds = group_folds(np.asarray(labels, dtype=object), groups, n_folds, seed)
    names = sorted(set(labels))
    column = {label: i for i, label in enumerate(names)}
    member_logits: list[np.ndarray] = []
    y = np.full(len(texts), -1, dtype=np.int64)
    fold_ids = [fold for fold in range(n_folds) if np.any(folds == fold)]
    tasks = []
    for fold in fold_ids:
        kept, held = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        training = _Training(recipe, [texts[i] for i in kept], [labels[i] for i in kept])
        tasks.append(_FoldLogits(training, [texts[i] for i in held]))
    results = run_trainings([*([also] if also else []), *tasks], workers)  # the longest training first
    trained_on_all, results = (results[0], results[1:]) if also else (None, results)
    for fold, (learned_labels, logits) in zip(fold_ids, results):
        held = np.flatnonzero(folds == fold)
        for m, part_logits in enumerate(logits):
            if len(member_logits) <= m:
                member_logits.append(np.zeros((len(texts), len(names))))
            member_logits[m][held] = in_label_order(part_logits, [column[label] for label in learned_labels], len(names))
        learned = set(learned_labels)
        y[held] = [column[labels[i]] if labels[i] in learned else -1 for i in held]
    return OutOfFold(member_logits, y, folds), trained_on_all


@dataclass
class _FoldLogits:
    """A fold model's labels and its logits (one array per ensemble member) of its held-out texts."""

    training: _Training
    held_texts: list[str]

    def __call__(self) -> tuple[list[str], list[np.ndarray]]:
        model = self.training()
        normalized = [normalize_text(t) for t in self.held_texts]
        parts = model.model_.members_ if model.family == "ensemble" else [model.model_]
        return model.labels_, [part.logits(normalized) for part in parts]


def run_trainings(tasks: list[Callable], workers: int) -> list:
    """Each task's result, in order: one after another, or in ``workers`` processes (joblib's loky)."""
    if workers <= 1:
        return [task() for task in tasks]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=workers, backend="loky")(delayed(task)() for task in tasks)


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
