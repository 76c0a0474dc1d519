"""``label_name_rows``: each label's name is one more training text of that label (linear family)."""

from __future__ import annotations

import numpy as np

from prodcat.categorizer import Categorizer
from prodcat.data.text import label_text

# Words of a label's name never appear in its rows: only the name row can teach them.
ROWS = {
    "Tea": ["assam leaves 250 gm", "darjeeling first flush leaves", "masala chai leaves 500 gm"],
    "Coffee": ["arabica beans roasted 200 gm", "filter powder south indian", "instant granules jar 100 gm"],
    "67000000_Clothing": ["cotton shirt slim fit", "denim jeans regular", "wool sweater knit"],
}


def fit(label_name_rows: bool, labels=None) -> Categorizer:
    names = labels or list(ROWS)
    texts = [t for label in ROWS for t in ROWS[label]]
    y = [name for name, label in zip(names, ROWS) for _ in ROWS[label]]
    params = {"min_df": 1, "label_name_rows": label_name_rows}
    return Categorizer("linear", params=params, seed=0).fit(texts, y, verbose=0)


def test_a_label_name_is_its_words_without_codes():
    assert label_text("67000000_Clothing") == "clothing"
    assert label_text("Clothing & Accessories") == "clothing accessories"
    assert label_text("Beverages > Tea") == "beverages tea"
    assert label_text("12345") == ""


def test_the_name_row_teaches_the_name_words():
    plain, named = fit(False), fit(True)
    assert "tea" not in plain.model_.vectorizers_[0].vocabulary_
    assert "tea" in named.model_.vectorizers_[0].vocabulary_ and "clothing" in named.model_.vectorizers_[0].vocabulary_
    assert named.predict(["green tea", "cold coffee", "clothing"]) == ["Tea", "Coffee", "67000000_Clothing"]


def test_a_name_without_words_adds_no_row():
    model = fit(True, labels=["1", "2", "3"])
    assert model.model_.vectorizers_[0].vocabulary_.keys() == fit(False, labels=["1", "2", "3"]).model_.vectorizers_[0].vocabulary_.keys()


def test_each_level_of_a_hierarchical_model_learns_its_own_node_names():
    texts = [t for label in ("Tea", "Coffee") for t in ROWS[label]] + ROWS["67000000_Clothing"]
    paths = ["Beverages > Tea"] * 3 + ["Beverages > Coffee"] * 3 + ["Apparel > Shirts"] * 3
    params = {"base": "linear", "base_params": {"min_df": 1, "label_name_rows": True}}
    model = Categorizer("hierarchical", params=params, seed=0).fit(texts, paths, verbose=0)
    top, leaf = (level.vectorizers_[0].vocabulary_ for level in model.model_.levels_)
    assert {"beverages", "apparel"} <= top.keys() and "tea" not in top
    assert {"beverages", "tea", "coffee", "shirts"} <= leaf.keys()
    probabilities = model.predict_proba(["apparel"])
    assert model.labels[int(np.argmax(probabilities[0]))] == "Apparel > Shirts"
