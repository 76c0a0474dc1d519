"""Predicting a few texts with the bundled linear model imports neither scikit-learn, SciPy nor pandas,
and weighs each text's terms exactly as scikit-learn's vectorizers do."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import SAMPLE

from prodcat.data.reading import read_catalog
from prodcat.data.text import normalize_text
from prodcat.models.tfidf import term_analyzer

HEAVY = ("sklearn", "scipy", "pandas")


def test_predicting_with_the_bundled_model_imports_no_heavy_library():
    script = (
        "import json, sys, prodcat\n"
        "categorizer = prodcat.load()\n"
        "predictions = categorizer.predict(['usb cable 2m', 'cotton kurta for women'])\n"
        "heavy = sorted({name.split('.')[0] for name in sys.modules} & set(sys.argv[1:]))\n"
        "print(json.dumps({'predictions': predictions, 'heavy': heavy, 'family': categorizer.family}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *HEAVY], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["family"] == "linear"
    assert result["predictions"] == ["Electronics", "Clothing & Accessories"]
    assert result["heavy"] == []


def test_the_written_out_stop_words_are_scikit_learn_s():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from prodcat.data import text

    assert text._STOP_WORDS == ENGLISH_STOP_WORDS


@pytest.mark.parametrize("analyzer", ["word", "char_wb", "char"])
@pytest.mark.parametrize("ngrams", [(1, 2), (1, 1), (2, 4), (3, 5)])
def test_term_analyzer_makes_scikit_learn_s_n_grams(analyzer, ngrams):
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [normalize_text(t) for t in read_catalog(SAMPLE).texts[:40]] + ["", "a", "ab  cd\n e", "Ünïcode wörds 2x"]
    theirs = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, lowercase=False,
                             token_pattern=r"(?u)\b\w+\b" if analyzer == "word" else None).build_analyzer()
    ours = term_analyzer(analyzer, ngrams)
    for text in texts:
        assert sorted(ours(text)) == sorted(theirs(text)), text


def test_a_loaded_model_weighs_a_few_texts_as_a_batch(tmp_path):
    import prodcat

    categorizer = prodcat.load()
    texts = read_catalog(SAMPLE).texts[:40]
    few = np.vstack([categorizer.predict_proba(texts[i : i + 1]) for i in range(len(texts))])
    np.testing.assert_allclose(few, categorizer.predict_proba(texts), atol=1e-5)
