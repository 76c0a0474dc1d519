"""Why a product got its category: the words and n-grams that pushed it there and not to the runner-up.

Two methods, one answer shape (``Explanation``):

- ``"linear"``, exact, for the linear family: the decision value of the category minus the runner-up's
  is a sum over the text's TF-IDF features of ``value x (coef[category] - coef[runner-up])`` plus the
  intercepts' difference. Each feature's share is given back to what it came from: a word n-gram to
  itself, a character n-gram to the words it lies in (split by occurrences), the title line's
  features to the same words. The listed terms, ``rest`` and ``baseline`` add up to ``margin``.
- ``"occlusion"``, for every other family: each distinct word is removed from the (normalized) text
  in turn; its contribution is how much the category's probability minus the runner-up's drops.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from prodcat.errors import DataError

MAX_OCCLUDED_WORDS = 256  # distinct words removed one at a time; later ones are counted in ``untested_words``
ENCODER_TERM = "[sentence encoder]"  # the linear model's share from a sentence encoder's vector
ACROSS_WORDS_TERM = "[character n-grams across words]"  # the "char" analyzer's n-grams that span a space

Proba = Callable[[list[str]], np.ndarray]


@dataclass
class Explanation:
    """Why ``category`` and not ``runner_up``.

    ``supporting`` lists the terms that pushed towards ``category`` (largest first), ``opposing`` those
    that pushed towards ``runner_up`` (most negative first), each at most ``top`` long. ``margin`` is
    what is explained: with ``method="linear"`` the decision value of the category minus the
    runner-up's, which equals the sum of every term's contribution (listed, plus ``rest`` for the
    terms not listed) plus ``baseline`` (the intercepts' difference); with ``method="occlusion"``
    the category's probability minus the runner-up's, and a term's contribution is how much that
    falls without the word (contributions need not add up).
    """

    category: str
    runner_up: str
    method: str
    margin: float
    supporting: list[tuple[str, float]] = field(default_factory=list)
    opposing: list[tuple[str, float]] = field(default_factory=list)
    rest: float = 0.0
    baseline: float | None = None
    untested_words: int = 0

    def to_dict(self) -> dict:
        return {
            "category": self.category,
            "runner_up": self.runner_up,
            "method": self.method,
            "margin": self.margin,
            "supporting": [{"term": t, "contribution": c} for t, c in self.supporting],
            "opposing": [{"term": t, "contribution": c} for t, c in self.opposing],
            "rest": self.rest,
            "baseline": self.baseline,
            "untested_words": self.untested_words,
        }


def explain(categorizer, normalized: str, top: int = 10, proba: Proba | None = None) -> Explanation:
    """Explain ``categorizer``'s category of one normalized text (see ``normalize_text``).

    ``proba`` maps normalized texts to calibrated probabilities (default: the categorizer's own call);
    the service passes one that goes through its model thread.
    """
    if not normalized:
        raise DataError("the text is empty after normalization (only punctuation or stop words); nothing to explain")
    if top < 1:
        raise DataError(f"top must be at least 1; got {top}")
    proba = proba or categorizer._proba_of_normalized
    probs = proba([normalized])
    category, runner_up = _category_and_runner_up(categorizer, probs)
    from prodcat.models.linear import LinearModel

    if isinstance(categorizer.model_, LinearModel):
        contributions, baseline, margin = linear_contributions(categorizer.model_, normalized, category, runner_up)
        explanation = _ranked(contributions, top, method="linear", margin=margin, baseline=baseline)
    else:
        contributions, untested = occlusion_contributions(proba, normalized, probs[0], category, runner_up)
        margin = float(probs[0, category] - probs[0, runner_up])
        explanation = _ranked(contributions, top, method="occlusion", margin=margin)
        explanation.untested_words = untested
    explanation.category, explanation.runner_up = categorizer.labels_[category], categorizer.labels_[runner_up]
    return explanation


def _category_and_runner_up(categorizer, probs: np.ndarray) -> tuple[int, int]:
    """The predicted label's column (the decoded leaf for category paths) and the most probable other one."""
    category = categorizer.labels_.index(categorizer.labels_from_proba(probs)[0])
    others = probs[0].copy()
    others[category] = -np.inf
    return category, int(others.argmax())


def _ranked(contributions: dict[str, float], top: int, **fields) -> Explanation:
    ordered = sorted(contributions.items(), key=lambda pair: -pair[1])
    supporting = [(t, c) for t, c in ordered if c > 0][:top]
    opposing = [(t, c) for t, c in reversed(ordered) if c < 0][:top]
    listed = {t for t, _ in supporting} | {t for t, _ in opposing}
    rest = float(sum(c for t, c in contributions.items() if t not in listed))
    return Explanation("", "", supporting=supporting, opposing=opposing, rest=rest, **fields)


# -- exact contributions of the linear family --------------------------------------------------------
def linear_contributions(model, normalized: str, category: int, runner_up: int) -> tuple[dict[str, float], float, float]:
    """Each word's and word n-gram's share of ``logit[category] - logit[runner_up]``; also the
    intercepts' difference and the whole difference (the shares plus that baseline)."""
    difference = (model.coef_[category] - model.coef_[runner_up]).astype(np.float64)
    contributions: dict[str, float] = defaultdict(float)
    blocks = zip(model.vectorizers_, model._term_weightings(), model._inputs([normalized]), model._feature_blocks())
    for vectorizer, weighting, inputs, (start, stop) in blocks:
        text = inputs[0]
        terms, weights = weighting(text)
        if not len(terms):
            continue
        shares = weights.astype(np.float64) * difference[start:stop][terms]
        names = _names_of(weighting, text, terms)
        if vectorizer.analyzer == "word":
            for name, share in zip(names, shares):
                contributions[name] += share
        else:
            _spread_over_words(contributions, weighting, text, dict(zip(names, shares)))
    if model.encoder_ is not None:
        dim = model.encoder_.dim
        contributions[ENCODER_TERM] += float(model.encoder_.encode([normalized])[0] @ difference[-dim:])
    baseline = float(model.intercept_[category]) - float(model.intercept_[runner_up])
    margin = float(sum(contributions.values())) + baseline
    return {term: float(share) for term, share in contributions.items()}, baseline, margin


def _names_of(weighting, text: str, terms: np.ndarray) -> list[str]:
    """The n-grams that the term ids of ``text`` stand for."""
    by_id = {}
    for gram in weighting.analyze(text):
        term_id = weighting.term_id(gram)
        if term_id is not None:
            by_id[term_id] = gram
    return [by_id[int(t)] for t in terms]


def _spread_over_words(contributions: dict, weighting, text: str, shares: dict[str, float]) -> None:
    """Give each character n-gram's share to the words it occurs in, by occurrences."""
    per_word = [(word, Counter(weighting.analyze(word))) for word in text.split()]
    totals = Counter(weighting.analyze(text))
    for gram, share in shares.items():
        inside = sum(counts[gram] for _, counts in per_word)
        for word, counts in per_word:
            if counts[gram]:
                contributions[word] += share * counts[gram] / totals[gram]
        if inside < totals[gram]:  # the "char" analyzer's n-grams that span a space
            contributions[ACROSS_WORDS_TERM] += share * (totals[gram] - inside) / totals[gram]


# -- occlusion, for every family -----------------------------------------------------------------------
def occlusion_contributions(proba: Proba, normalized: str, probs: np.ndarray, category: int, runner_up: int) -> tuple[dict[str, float], int]:
    """How much ``p[category] - p[runner_up]`` falls when each distinct word is removed; also the
    number of distinct words beyond ``MAX_OCCLUDED_WORDS`` that were not tried."""
    words = list(dict.fromkeys(normalized.split()))
    tried = words[:MAX_OCCLUDED_WORDS]
    variants = [_without(normalized, word) for word in tried]
    occluded = proba(variants)
    full = probs[category] - probs[runner_up]
    drops = full - (occluded[:, category] - occluded[:, runner_up])
    return {word: float(drop) for word, drop in zip(tried, drops)}, len(words) - len(tried)


def _without(normalized: str, word: str) -> str:
    lines = (" ".join(w for w in line.split() if w != word) for line in normalized.split("\n"))
    return "\n".join(line for line in lines if line)
