"""``Categorizer``: the one object every face of prodcat uses (Python, CLI, batch, HTTP, notebook).

Raw text in, probabilities out. It normalizes the text, asks its model family for scores, turns them
into calibrated probabilities, and flags predictions below the review threshold.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from prodcat import artifacts, calibration
from prodcat.data.reading import PATH_SEPARATOR
from prodcat.data.text import NORMALIZATION_VERSION, normalize_text
from prodcat.hierarchy import Tree, is_hierarchical
from prodcat.errors import DataError, ModelError, NotFittedError, ProdcatError
from prodcat.models.base import FitData
from prodcat.models.registry import DEFAULT_FAMILY, FAMILIES, family_class

EMPTY_TEXT_REASON = "empty text: give a title or description"


@dataclass
class Prediction:
    """One product's category, its calibrated probability, and the next-best categories."""

    category: str | None
    confidence: float | None
    needs_review: bool
    top_k: list[tuple[str, float]] = field(default_factory=list)
    reason: str | None = None
    depth: int | None = None
    path: list[str] | None = None
    path_confidence: list[float] | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["top_k"] = [{"category": c, "confidence": p} for c, p in self.top_k]
        return data


def _load_family(path: Path, family: str, params: dict):
    """The family's model read from ``path``; any failure to read it is one ``ModelError`` line."""
    try:
        return family_class(family).load(path, params)
    except ProdcatError:
        raise
    except Exception as exc:  # a damaged file fails in the reading library, with whatever error it has
        raise ModelError(f"{path}: the {family} model files are missing or damaged ({artifacts.one_line(exc)}); retrain or restore it") from None


class Categorizer:
    """Learns a shop's categories from labelled texts and categorizes new ones.

    ``family`` picks the model (``"lstm"``, the reference; ``"linear"``, TF-IDF n-grams with a linear
    SVM; ``"bag"``, ``"neighbors"``, ``"ensemble"``, ``"hierarchical"``); ``params`` are that family's
    settings. ``class_weight="balanced"`` weighs rare categories up. After ``fit`` with validation
    data, probabilities are calibrated and a prediction whose confidence is below ``threshold_``
    (chosen to reach ``target_precision`` on the validation rows) carries ``needs_review=True``.
    """

    def __init__(
        self,
        family: str = DEFAULT_FAMILY,
        *,
        params: dict | None = None,
        class_weight: str | None = None,
        target_precision: float = 0.98,
        seed: int = 42,
    ):
        self.family = family
        self.params = dict(params or {})
        self.class_weight = class_weight
        self.target_precision = target_precision
        self.seed = seed
        self.metadata: dict = {}

    # -- learning -------------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        validation: tuple[Sequence[str], Sequence[str]] | None = None,
        log_dir: str | Path | None = None,
        verbose: int = 1,
        callbacks: list | None = None,
        label_paths: bool | None = None,
    ) -> "Categorizer":
        """Learn from ``texts`` and their ``labels``; calibrate on ``validation`` when given.

        ``label_paths`` says whether the labels are category paths (``"A > B"``); ``None``: whether
        any label contains `` > ``. A catalog read from a file says it explicitly.
        """
        self._check_settings()
        if len(texts) != len(labels):
            raise DataError(f"got {len(texts)} texts but {len(labels)} labels; give one label per text")
        self.labels_ = sorted(set(labels))
        self.label_paths_ = is_hierarchical(self.labels_) if label_paths is None else bool(label_paths)
        if len(self.labels_) < 2:
            raise DataError(f"only one label ({self.labels_[0] if self.labels_ else 'none'}) in the training data; a categorizer needs at least 2")
        y = self._encode(labels)
        data = FitData(
            texts=[normalize_text(t) for t in texts],
            y=y,
            n_labels=len(self.labels_),
            label_names=self.labels_,
            class_weight=self._class_weights(y),
            seed=self.seed,
            log_dir=str(log_dir) if log_dir else None,
            verbose=verbose,
            extra={"callbacks": callbacks or []},
        )
        if validation is not None:
            data.validation_texts, data.validation_y = self._validation_rows(validation)
        from sklearn.utils._param_validation import InvalidParameterError  # lazily: predicting needs no scikit-learn

        try:
            self.model_ = family_class(self.family)(**self.params).fit(data)
        except InvalidParameterError as exc:
            raise DataError(f"a {self.family} setting is out of range: {exc}") from None
        return self._fitted(data.validation_texts, data.validation_y)

    @classmethod
    def combine(
        cls,
        members: Sequence["Categorizer"],
        validation: tuple[Sequence[str], Sequence[str]],
        *,
        target_precision: float | None = None,
    ) -> "Categorizer":
        """An ``"ensemble"`` of categorizers already fitted on the same labels, each of another family.

        The same as fitting ``Categorizer("ensemble", params={"members": [...]})`` on their training
        data, without training the members again: member weights, calibration and the review
        threshold are chosen on ``validation``.
        """
        if len(members) < 2:
            raise DataError(f"an ensemble needs at least 2 fitted categorizers; got {len(members)}")
        for member in members:
            member._check_fitted()
            if member.labels_ != members[0].labels_:
                raise DataError(f"the {member.family} categorizer has other labels than the {members[0].family} one; combine categorizers fitted on the same labels")
        first = members[0]
        ensemble = cls("ensemble", class_weight=first.class_weight, seed=first.seed,
                       target_precision=first.target_precision if target_precision is None else target_precision)
        ensemble._check_settings()
        ensemble.labels_ = list(first.labels_)
        ensemble.label_paths_ = first.tree_ is not None
        validation_texts, validation_y = ensemble._validation_rows(validation)
        try:
            ensemble.model_ = family_class("ensemble").of([m.model_ for m in members], validation_texts, validation_y)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        return ensemble._fitted(validation_texts, validation_y)

    def _validation_rows(self, validation: tuple[Sequence[str], Sequence[str]]) -> tuple[list[str], np.ndarray]:
        """Normalized validation texts and their label ids; rows of labels not learned are left out."""
        y = self._encode(validation[1], unknown_ok=True)
        texts = [normalize_text(t) for t, known in zip(validation[0], y >= 0) if known]
        return texts, y[y >= 0]

    def _fitted(self, validation_texts: list[str] | None, validation_y: np.ndarray | None) -> "Categorizer":
        """Record what the model learned, and calibrate on the validation rows."""
        self.params = self.model_.get_params()
        self.history_ = self.model_.history
        self.tree_ = Tree(self.labels_) if self.label_paths_ else None
        self.temperature_, self.threshold_, self.level_thresholds_, self.calibration_ = 1.0, None, None, {}
        if validation_texts:
            self.calibrate_with(self.model_.logits(validation_texts), validation_y, f"the validation split ({len(validation_y)} rows)")
        return self

    def check_settings(self) -> "Categorizer":
        """Check the family's name and settings before any data is read (``fit`` checks them too)."""
        self._check_settings()
        try:
            family_class(self.family)(**self.params)
        except (TypeError, ValueError) as exc:  # scikit-learn's InvalidParameterError is both
            raise DataError(f"a {self.family} setting is not valid: {exc}") from None
        return self

    def _check_settings(self) -> None:
        if self.family not in FAMILIES:
            raise DataError(f"unknown model family {self.family!r}; use one of {', '.join(FAMILIES)}")
        if self.class_weight not in (None, "balanced"):
            raise DataError(f"class_weight must be None or 'balanced'; got {self.class_weight!r}")
        if not 0.0 < self.target_precision <= 1.0:
            raise DataError(f"target_precision must be in (0, 1]; got {self.target_precision}")
        settings = inspect.signature(family_class(self.family)).parameters
        unknown = sorted(set(self.params) - set(settings))
        if unknown:
            raise DataError(f"{unknown[0]!r} is not a {self.family} setting; the settings are {', '.join(settings)}")

    def _encode(self, labels: Sequence[str], unknown_ok: bool = False) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels_)}
        if not unknown_ok:
            return np.array([index[label] for label in labels], dtype=np.int64)
        return np.array([index.get(label, -1) for label in labels], dtype=np.int64)

    def _class_weights(self, y: np.ndarray) -> dict[int, float] | None:
        if self.class_weight is None:
            return None
        from sklearn.utils.class_weight import compute_class_weight

        classes = np.arange(len(self.labels_))
        weights = compute_class_weight("balanced", classes=classes, y=y)
        return {int(c): float(w) for c, w in zip(classes, weights)}

    def calibrate_with(self, logits: np.ndarray, y: np.ndarray, rows: str) -> None:
        """Fit the temperature and the review threshold on the model's ``logits`` of rows it never
        trained on, whose label ids are ``y``; ``rows`` says which rows, for the manifest and report."""
        before = calibration.expected_calibration_error(calibration.probabilities(logits), y)
        self.temperature_ = calibration.fit_temperature(logits, y)
        probs = calibration.probabilities(logits, self.temperature_)
        confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == y
        self.threshold_ = calibration.threshold_for_precision(confidence, correct, self.target_precision)
        self.calibration_ = {
            "method": f"temperature scaling on {rows}",
            "rows": rows,
            "temperature": self.temperature_,
            "ece_before": before,
            "ece_after": calibration.expected_calibration_error(probs, y),
            "target_precision": self.target_precision,
            "threshold": self.threshold_,
            "coverage": calibration.coverage_at(confidence, correct, self.threshold_),
        }
        if self.tree_ is not None:
            self._calibrate_levels(probs, y)

    def _calibrate_levels(self, probs: np.ndarray, y: np.ndarray) -> None:
        """One threshold per tree level, each reaching the target precision at that level."""
        paths, confidences = self.tree_.decode(probs)
        truths = [self.labels_[i].split(PATH_SEPARATOR) for i in y]
        self.level_thresholds_ = []
        for d in range(self.tree_.depth):
            correct = np.array([len(p) > d and len(t) > d and p[d] == PATH_SEPARATOR.join(t[: d + 1]) for p, t in zip(paths, truths)])
            self.level_thresholds_.append(calibration.threshold_for_precision(confidences[:, d], correct, self.target_precision))
        self.threshold_ = self.level_thresholds_[-1]
        self.calibration_["level_thresholds"] = self.level_thresholds_

    # -- predicting -----------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """The categories, in the order of ``predict_proba``'s columns."""
        self._check_fitted()
        return list(self.labels_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this Categorizer is not fitted yet; call fit(texts, labels) or Categorizer.load(path)")

    def predict_proba(self, texts: Iterable[str] | str) -> np.ndarray:
        """Calibrated probabilities, one row per text, columns in the order of ``labels``."""
        self._check_fitted()
        texts = [texts] if isinstance(texts, str) else list(texts)
        return self._proba_of_normalized([normalize_text(t) if isinstance(t, str) else "" for t in texts])

    def _proba_of_normalized(self, normalized: list[str]) -> np.ndarray:
        if not normalized:
            return np.zeros((0, len(self.labels_)))
        return calibration.probabilities(self.model_.logits(normalized), self.temperature_)

    def predict(self, texts: Iterable[str] | str) -> list[str]:
        """The most probable category of each text."""
        return self.labels_from_proba(self.predict_proba(texts))

    def labels_from_proba(self, probs: np.ndarray) -> list[str]:
        """The category each row of ``predict_proba`` stands for (top-down through a tree, if any)."""
        if self.tree_ is not None:
            return [path[-1] for path in self.tree_.decode(probs)[0]]
        return [self.labels_[i] for i in probs.argmax(axis=1)]

    def categorize(self, texts: Iterable[str] | str, top_k: int = 1) -> list[Prediction]:
        """Category, confidence, review flag and the ``top_k`` best categories of each text.

        A text that is empty (or not a string) gets no category and a ``reason``; nothing is dropped.
        """
        self._check_fitted()
        texts = [texts] if isinstance(texts, str) else list(texts)
        normalized = [normalize_text(t) if isinstance(t, str) else "" for t in texts]
        usable = [i for i, t in enumerate(normalized) if t]
        predictions = [Prediction(None, None, True, [], EMPTY_TEXT_REASON) for _ in texts]
        if not usable:
            return predictions
        probs = self._proba_of_normalized([normalized[i] for i in usable])
        k = max(1, min(top_k, len(self.labels_)))
        best = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        if self.tree_ is not None:
            paths, confidences = self.tree_.decode(probs)
        for row, i in enumerate(usable):
            ranked = [(self.labels_[j], float(probs[row, j])) for j in best[row]]
            if self.tree_ is None:
                category, confidence = ranked[0]
                needs_review = self.threshold_ is not None and confidence < self.threshold_
                predictions[i] = Prediction(category, confidence, bool(needs_review), ranked)
            else:
                leaf = self.labels_.index(paths[row][-1])
                ranked = [(self.labels_[leaf], float(probs[row, leaf]))] + [pair for pair in ranked if pair[0] != self.labels_[leaf]]
                predictions[i] = self._back_off(paths[row], confidences[row], ranked[:k])
        return predictions

    def _back_off(self, path: list[str], confidences: np.ndarray, ranked: list) -> Prediction:
        """Stop at the deepest level whose confidence reaches that level's threshold."""
        thresholds = self.level_thresholds_ or [0.0] * len(path)
        depth = 0
        while depth < len(path) and confidences[depth] >= thresholds[depth]:
            depth += 1
        shown = max(depth, 1)
        return Prediction(
            category=path[shown - 1],
            confidence=float(confidences[shown - 1]),
            needs_review=depth < len(path),
            top_k=ranked,
            depth=depth,
            path=path,
            path_confidence=[float(c) for c in confidences[: len(path)]],
        )

    def explain(self, text: str, top: int = 10):
        """Why ``text`` gets its category and not the runner-up: an ``Explanation`` of the ``top``
        words and n-grams on each side (exact contributions for the linear family, occlusion of each
        word for the others; see ``prodcat.explanation``)."""
        from prodcat.explanation import explain

        self._check_fitted()
        return explain(self, normalize_text(text) if isinstance(text, str) else "", top=top)

    # -- saving ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the model directory at ``path`` atomically; returns the path."""
        self._check_fitted()
        manifest = {
            "family": self.family,
            "labels": self.labels_,
            "label_paths": self.tree_ is not None,
            "params": self.params,
            "class_weight": self.class_weight,
            "seed": self.seed,
            "normalization": NORMALIZATION_VERSION,
            "temperature": self.temperature_,
            "threshold": self.threshold_,
            "level_thresholds": self.level_thresholds_,
            "target_precision": self.target_precision,
            "calibration": self.calibration_,
            "history": self.history_,
            "versions": artifacts.library_versions(),
            "created": artifacts.now(),
            **self.metadata,
        }
        return artifacts.write_model_dir(path, manifest, self.model_.save)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Categorizer":
        """Load a model directory written by ``save`` (no path: the bundled default model).

        Never runs code from the files.
        """
        if path is None:
            from prodcat.bundled import default_model_path

            path = default_model_path()
        path = Path(path)
        manifest = artifacts.read_manifest(path)
        if manifest.get("normalization", NORMALIZATION_VERSION) != NORMALIZATION_VERSION:
            raise ModelError(f"{path}: uses text normalization {manifest['normalization']!r}, this prodcat has {NORMALIZATION_VERSION!r}; retrain it")
        artifacts.check_manifest(path, manifest)
        categorizer = cls(
            manifest["family"],
            params=manifest.get("params") or {},
            class_weight=manifest.get("class_weight"),
            target_precision=manifest.get("target_precision", 0.98),
            seed=manifest.get("seed", 42),
        )
        categorizer.model_ = _load_family(path, manifest["family"], categorizer.params)
        categorizer.labels_ = list(manifest["labels"])
        categorizer.temperature_ = float(manifest.get("temperature") or 1.0)
        categorizer.threshold_ = manifest.get("threshold")
        categorizer.level_thresholds_ = manifest.get("level_thresholds")
        label_paths = manifest.get("label_paths")  # absent from older models: paths were told by " > "
        categorizer.tree_ = Tree(categorizer.labels_) if (is_hierarchical(categorizer.labels_) if label_paths is None else label_paths) else None
        categorizer.calibration_ = manifest.get("calibration") or {}
        categorizer.history_ = manifest.get("history")
        known = {"format", "format_version", "family", "labels", "label_paths", "params", "class_weight", "seed", "normalization",
                 "temperature", "threshold", "level_thresholds", "target_precision", "calibration", "history", "versions", "created"}
        categorizer.metadata = {k: v for k, v in manifest.items() if k not in known}
        categorizer._check_loaded(path)
        categorizer.path_ = path
        categorizer.created_ = manifest.get("created")
        return categorizer

    def _check_loaded(self, path: Path) -> None:
        """Refuse a manifest that does not fit the model's arrays: one label per output, one
        threshold per level of the category tree."""
        where = f"{path / artifacts.MANIFEST}: field"
        outputs = self.model_.n_outputs
        if outputs != len(self.labels_):
            raise ModelError(f"{where} 'labels' names {len(self.labels_)} categories but the {self.family} model has {outputs} outputs; retrain or restore the model")
        depth = self.tree_.depth if self.tree_ is not None else None
        if self.level_thresholds_ is not None and len(self.level_thresholds_) != depth:
            raise ModelError(f"{where} 'level_thresholds' has {len(self.level_thresholds_)} thresholds but the labels form {depth or 'no'} levels; retrain or restore the model")

    def describe(self) -> dict:
        """Labels, family, calibration and stored metadata, for ``/v1/model`` and ``prodcat info``."""
        self._check_fitted()
        return {
            "family": self.family,
            "labels": self.labels_,
            "threshold": self.threshold_,
            "level_thresholds": self.level_thresholds_,
            "hierarchy": self.tree_.describe() if self.tree_ is not None else None,
            "target_precision": self.target_precision,
            "calibration": self.calibration_,
            "params": self.params,
            "path": str(getattr(self, "path_", "")) or None,
            "created": getattr(self, "created_", None),
            **self.metadata,
        }

    def __repr__(self) -> str:
        state = f"{len(self.labels_)} labels" if hasattr(self, "labels_") else "not fitted"
        return f"Categorizer(family={self.family!r}, {state})"
