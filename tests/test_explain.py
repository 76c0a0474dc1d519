"""``Categorizer.explain``, ``prodcat predict --explain`` and ``explain: true`` over HTTP."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from fastapi.testclient import TestClient

from prodcat.categorizer import Categorizer
from prodcat.cli.app import main
from prodcat.data.text import normalize_text
from prodcat.errors import DataError
from prodcat.explanation import _without
from prodcat.service import Settings, create_app

HEADPHONES = "Sony WH-1000XM4 wireless noise cancelling headphones with USB cable"
SHIRT = "Cotton shirt for men, slim fit, navy blue"


@pytest.fixture(scope="module")
def linear(linear_model_dir):
    return Categorizer.load(linear_model_dir)


def probability_without(categorizer, text: str, word: str, label: str) -> tuple[float, float]:
    """P(label) of the text, and of the text without ``word``."""
    normalized = normalize_text(text)
    probs = categorizer.predict_proba([normalized, _without(normalized, word)])
    column = categorizer.labels.index(label)
    return float(probs[0, column]), float(probs[1, column])


@pytest.mark.parametrize("text, category, words", [(HEADPHONES, "Electronics", {"wireless", "headphones", "cable", "usb"}),
                                                   (SHIRT, "Clothing & Accessories", {"cotton", "shirt", "slim", "fit"})])
def test_linear_explanation_names_the_telling_words_and_removing_the_top_one_lowers_the_category(linear, text, category, words):
    explanation = linear.explain(text, top=4)
    assert explanation.method == "linear"
    assert explanation.category == category == linear.predict([text])[0]
    assert explanation.runner_up != category
    top_terms = [term for term, _ in explanation.supporting]
    assert len(top_terms) == 4 and len(words & set(top_terms)) >= 2
    assert all(c > 0 for _, c in explanation.supporting) and all(c < 0 for _, c in explanation.opposing)
    before, after = probability_without(linear, text, top_terms[0], category)
    assert after < before


@pytest.mark.parametrize("text", [HEADPHONES, SHIRT, "paperback novel\nby a famous author, hardcover edition", "zzzz qqqq"])
def test_linear_contributions_add_up_to_the_decision_values(linear, text):
    explanation = linear.explain(text, top=3)
    logits = linear.model_.logits([normalize_text(text)])[0]
    category, runner_up = linear.labels.index(explanation.category), linear.labels.index(explanation.runner_up)
    listed = sum(c for _, c in explanation.supporting + explanation.opposing)
    assert explanation.margin == pytest.approx(logits[category] - logits[runner_up], abs=1e-5)
    assert listed + explanation.rest + explanation.baseline == pytest.approx(explanation.margin, abs=1e-6)
    assert explanation.baseline == pytest.approx(float(linear.model_.intercept_[category] - linear.model_.intercept_[runner_up]))


def test_linear_exact_contribution_of_a_word_matches_the_model_term_by_term(linear):
    """With word n-grams only, a word's contribution is its TF-IDF value times the coefficients' difference."""
    explanation = linear.explain("wireless headphones", top=10)
    (weighting, *_), model = linear.model_._term_weightings(), linear.model_
    terms, weights = weighting("wireless headphones")
    vocabulary = {gram: weighting.term_id(gram) for gram in weighting.analyze("wireless headphones")}
    c, r = linear.labels.index(explanation.category), linear.labels.index(explanation.runner_up)
    word_share = dict(zip(terms.tolist(), weights.tolist()))[vocabulary["wireless"]] * float(model.coef_[c, vocabulary["wireless"]] - model.coef_[r, vocabulary["wireless"]])
    contributions = dict(explanation.supporting + explanation.opposing)
    assert contributions["wireless"] != pytest.approx(word_share)  # the word also owns its character n-grams
    assert contributions["wireless"] == pytest.approx(word_share + _char_share(linear, explanation, "wireless"), abs=1e-6)


def _char_share(linear, explanation, word: str) -> float:
    model = linear.model_
    weighting, (start, _) = model._term_weightings()[1], model._feature_blocks()[1]
    text = "wireless headphones"
    terms, weights = weighting(text)
    c, r = linear.labels.index(explanation.category), linear.labels.index(explanation.runner_up)
    in_word, in_text = Counter(weighting.analyze(word)), Counter(weighting.analyze(text))
    total = 0.0
    for term_id, weight in zip(terms.tolist(), weights.tolist()):
        gram = next(g for g in in_text if weighting.term_id(g) == term_id)
        share = in_word[gram] / in_text[gram]  # an n-gram in both words is shared by occurrences
        total += share * weight * float(model.coef_[c, start + term_id] - model.coef_[r, start + term_id])
    return total


def test_occlusion_explains_other_families_and_removing_the_top_word_lowers_the_category(bag_model_dir):
    bag = Categorizer.load(bag_model_dir)
    explanation = bag.explain(HEADPHONES, top=3)
    assert explanation.method == "occlusion" and explanation.baseline is None
    assert explanation.category == bag.predict([HEADPHONES])[0] == "Electronics"
    probs = bag.predict_proba([HEADPHONES])[0]
    c, r = bag.labels.index(explanation.category), bag.labels.index(explanation.runner_up)
    assert explanation.margin == pytest.approx(probs[c] - probs[r])
    assert np.argsort(-probs)[1] == r
    top_word, drop = explanation.supporting[0]
    before, after = probability_without(bag, HEADPHONES, top_word, explanation.category)
    assert after < before
    with_word, without_word = bag.predict_proba([normalize_text(HEADPHONES), _without(normalize_text(HEADPHONES), top_word)])
    assert (with_word[c] - with_word[r]) - (without_word[c] - without_word[r]) == pytest.approx(drop, abs=1e-5)


def test_an_empty_text_cannot_be_explained(linear):
    with pytest.raises(DataError, match="empty"):
        linear.explain("the, and !!")


def run_cli(capsys, *args) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().out


def test_predict_explain_prints_the_terms_and_json_carries_them(capsys, linear_model_dir, linear):
    code, out = run_cli(capsys, "predict", "--model", linear_model_dir, "--explain", HEADPHONES)
    lines = out.splitlines()
    expected = linear.explain(HEADPHONES, top=5)
    assert code == 0 and lines[0].startswith("Electronics\t")
    assert lines[1].startswith(f"  why Electronics, not {expected.runner_up}: exact contributions")
    assert [line.split()[0] for line in lines[2:]] == [t for t, _ in expected.supporting + expected.opposing]
    code, out = run_cli(capsys, "predict", "--model", linear_model_dir, "--explain", "--json", HEADPHONES)
    assert code == 0 and json.loads(out)["explanation"] == expected.to_dict()
    code, out = run_cli(capsys, "predict", "--model", linear_model_dir, HEADPHONES)
    assert "why" not in out


def test_http_explain_true_adds_the_explanation_and_the_page_asks_for_it(linear_model_dir, linear):
    with TestClient(create_app(Settings(model=linear_model_dir))) as client:
        items = [{"text": HEADPHONES}, {"text": ""}]
        answer = client.post("/v1/categorize", json={"items": items, "explain": True}).json()["items"]
        plain = client.post("/v1/categorize", json={"items": items}).json()["items"]
        page_script = client.get("/static/app.js").text
    assert answer[0]["explanation"] == linear.explain(HEADPHONES, top=5).to_dict()
    assert answer[1]["explanation"] is None and answer[1]["category"] is None
    assert plain[0]["explanation"] is None
    assert 'explain: $("explain").checked' in page_script and "showExplanation(result.explanation" in page_script


def test_the_page_shows_why_when_asked(linear_model_dir, linear):
    from playwright.sync_api import expect
    from test_page import CHROMIUM, CHROMIUM_ARGS, serving, sync_playwright

    expected = linear.explain(HEADPHONES, top=5)
    with serving(linear_model_dir) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url + "/")
        page.fill("#title", HEADPHONES)
        page.click("#categorize")
        expect(page.locator("#categories li").first).to_be_visible()
        expect(page.locator("#explanation")).to_be_hidden()
        page.check("#explain")
        page.click("#categorize")
        expect(page.locator("#explanation-title")).to_have_text(f"Why {expected.category}, not {expected.runner_up}")
        terms = page.locator("#explanation-terms li")
        expect(terms).to_have_count(len(expected.supporting) + len(expected.opposing))
        expect(terms.first).to_have_text(f"{expected.supporting[0][0]} +{expected.supporting[0][1]:.3f}")
        browser.close()
