"""``family="auto"``: the family chosen by grouped cross-validation on the training rows, within a time budget.

The training rows are dealt to ``FOLDS`` grouped folds (near-duplicates in one fold, as in the
split). Each candidate family is trained once per fold on the other folds (less a grouped tenth of
them, its validation rows for early stopping) and predicts the fold. The ensemble of the candidates
that finished is scored from their out-of-fold logits, its member weights chosen on the other folds'
rows, so it costs no training of its own. The family with the best out-of-fold weighted F1 is chosen;
on a tie, the one listed first (the cheaper). Neither the validation nor the test split is read.

The budget is checked before each fold training: a candidate whose next fold would end past it, by
the time its earlier folds took (or, for its first fold, the time the previous candidate's folds took
times ``SLOWER``), is not tried further, nor are the candidates after it. A family that trains in
one thread trains its folds side by side on a catalog of ``refit.SIDE_BY_SIDE_ROWS`` (the same logits,
see ``refit.side_by_side_workers``); the budget is then checked once, for all of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from prodcat.categorizer import Categorizer
from prodcat.data.split import group_folds, product_groups
from prodcat.data.text import normalize_text
from prodcat.errors import DataError
from prodcat.evaluation import scores
from prodcat.refit import in_label_order, run_trainings, side_by_side_workers

CANDIDATES = ("linear", "bag", "neighbors")  # in order of cost on most catalogs; each trained per fold
ENSEMBLE = "ensemble"  # of the candidates that finished, scored from their out-of-fold logits
FOLDS = 3
DEFAULT_TIME_BUDGET = 300.0  # seconds for the choice (the training of the chosen family comes after)
SLOWER = 4.0  # a candidate's first fold is assumed to take this many times the previous candidate's fold


@dataclass
class Selection:
    """The chosen ``family`` and its ``params``; each candidate's out-of-fold weighted F1 and seconds."""

    family: str
    params: dict
    scores: dict[str, float]
    seconds: dict[str, float]
    rows: int
    folds: int
    time_budget: float
    not_tried: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        return {"chosen": self.family, "params": self.params, "out_of_fold_weighted_f1": self.scores, "seconds": self.seconds,
                "rows": self.rows, "folds": self.folds, "time_budget_s": self.time_budget, "not_tried": self.not_tried}


def choose_family(texts: Sequence[str], labels: Sequence[str], *, time_budget: float = DEFAULT_TIME_BUDGET, seed: int = 42,
                  class_weight: str | None = None, candidates: Sequence[str] = CANDIDATES,
                  progress: Callable[[str], None] | None = None) -> Selection:
    """The candidate family (or their ensemble) with the best grouped out-of-fold weighted F1 on ``texts``."""
    progress = progress or (lambda stage: None)
    texts, labels = list(texts), list(labels)
    groups = product_groups(texts)
    if len(np.unique(groups)) < 2 * FOLDS:
        raise DataError(f"too few distinct products ({len(np.unique(groups))}) in the training rows to choose a family "
                        f"by {FOLDS}-fold cross-validation; pass --family linear")
    folds = group_folds(np.asarray(labels, dtype=object), groups, FOLDS, seed)
    names = sorted(set(labels))
    column = {label: i for i, label in enumerate(names)}
    y = np.array([column[label] for label in labels])
    normalized = [normalize_text(t) for t in texts]
    start, logits, seconds, not_tried = time.perf_counter(), {}, {}, []
    previous_fold_seconds = None
    for family in candidates:
        fold_seconds, family_logits = [], np.zeros((len(texts), len(names)))
        fold = partial(_fold_logits, family, texts, labels, folds, normalized=normalized, column=column, class_weight=class_weight, seed=seed)
        workers = side_by_side_workers(family, {}, texts, FOLDS)
        if workers > 1:  # all folds at once, if they would end in time
            rounds = -(-FOLDS // workers)
            expected = rounds * (SLOWER * previous_fold_seconds if previous_fold_seconds else 0.0)
            if time.perf_counter() - start + expected <= time_budget:
                progress(f"choosing the family: {family}, {FOLDS} folds side by side")
                began = time.perf_counter()
                for k, fold_logits in enumerate(run_trainings([partial(fold, fold=k) for k in range(FOLDS)], workers)):
                    family_logits[folds == k] = fold_logits
                fold_seconds = [(time.perf_counter() - began) / rounds] * rounds  # the wall time, a round a fold
        else:
            for k in range(FOLDS):
                expected = np.mean(fold_seconds) if fold_seconds else (SLOWER * previous_fold_seconds if previous_fold_seconds else 0.0)
                if time.perf_counter() - start + expected > time_budget:
                    break
                progress(f"choosing the family: {family}, fold {k + 1} of {FOLDS}")
                began = time.perf_counter()
                family_logits[folds == k] = fold(fold=k)
                fold_seconds.append(time.perf_counter() - began)
        if not fold_seconds or (workers == 1 and len(fold_seconds) < FOLDS):
            not_tried = list(candidates[list(candidates).index(family):])
            break
        logits[family], seconds[family] = family_logits, float(sum(fold_seconds))
        previous_fold_seconds = float(np.mean(fold_seconds))
    if not logits:  # not even the first candidate fits the budget: it is the choice, untested
        return Selection(candidates[0], {}, {}, {}, len(texts), FOLDS, time_budget, not_tried)
    f1 = {family: _weighted_f1(y, family_logits, names) for family, family_logits in logits.items()}
    params = {family: {} for family in logits}
    if len(logits) >= 2:
        f1[ENSEMBLE] = _weighted_f1(y, _ensemble_out_of_fold(list(logits.values()), y, folds), names)
        params[ENSEMBLE] = {"members": list(logits)}
    chosen = max(f1, key=f1.get)  # the first of equals: candidates are listed cheapest first
    return Selection(chosen, params[chosen], f1, seconds, len(texts), FOLDS, time_budget, not_tried)


def _fold_logits(family, texts, labels, folds, fold, normalized, column, class_weight, seed) -> np.ndarray:
    """The fold's rows scored by ``family`` trained on the other folds (a grouped tenth of them for validation)."""
    kept = np.flatnonzero(folds != fold)
    kept_labels = np.asarray([labels[i] for i in kept], dtype=object)
    inner = group_folds(kept_labels, product_groups([texts[i] for i in kept]), 10, seed)
    train, validation = kept[inner != 0], kept[inner == 0]
    model = Categorizer(family, class_weight=class_weight, seed=seed).fit(
        [texts[i] for i in train], [labels[i] for i in train],
        validation=([texts[i] for i in validation], [labels[i] for i in validation]), verbose=0)
    held = np.flatnonzero(folds == fold)
    return in_label_order(model.model_.logits([normalized[i] for i in held]), [column[label] for label in model.labels_], len(column))


def _ensemble_out_of_fold(member_logits: list[np.ndarray], y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each fold's ensemble logits, its member temperatures and weights chosen on the other folds' rows."""
    from prodcat.models.ensemble import EnsembleModel

    mixed = np.zeros_like(member_logits[0])
    for fold in np.unique(folds):
        other, this = folds != fold, folds == fold
        ensemble = EnsembleModel(members=()).weigh([logits[other] for logits in member_logits], y[other])
        mixed[this] = ensemble.mix([logits[this] for logits in member_logits])
    return mixed


def _weighted_f1(y: np.ndarray, logits: np.ndarray, names: list[str]) -> float:
    return float(scores([names[i] for i in y], [names[i] for i in logits.argmax(axis=1)])["weighted_f1"])


def parse_duration(text: str) -> float:
    """Seconds in ``"300"``, ``"90s"``, ``"5m"`` or ``"1h"``."""
    value = str(text).strip().lower()
    unit = {"s": 1, "m": 60, "h": 3600}.get(value[-1:], None)
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise DataError(f"--time-budget {text!r} is not a duration; give seconds or a number with s, m or h, e.g. 5m") from None
    if seconds <= 0:
        raise DataError(f"--time-budget must be positive; got {text!r}")
    return seconds
