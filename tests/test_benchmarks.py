"""The side-by-side model benchmark (benchmarks/models.py): a quick run end to end, and its parts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SAMPLE

sys.path.insert(0, str(ROOT / "benchmarks"))

import datasets as bench_datasets  # noqa: E402  (benchmarks/datasets.py)
import hierarchy as bench_hierarchy  # noqa: E402  (benchmarks/hierarchy.py)
import models as bench_models  # noqa: E402  (benchmarks/models.py)
import peers as bench_peers  # noqa: E402  (benchmarks/peers.py)


@pytest.fixture(scope="module")
def small_rows():
    """About 600 rows of the reference data, split the benchmark's way."""
    return bench_datasets.load_dataset("ecommerce", max_rows=600)


def test_quick_run_writes_json_and_tables(tmp_path):
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "models.py"), "--quick", "--datasets", "ecommerce",
         "--families", "linear", "--peers", "tfidf-svm,fasttext-nosubword", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "models.json").read_text(encoding="utf-8"))
    assert results["machine"]["cpu_count"] >= 1 and "scikit-learn" in results["machine"]["libraries"]
    ecommerce = results["datasets"]["ecommerce"]
    assert ecommerce["test_sets"] == ["ecommerce", "ecommerce-raw-sample"]
    assert [m["model"] for m in ecommerce["models"]] == ["prodcat-linear", "tfidf-svm", "fasttext-nosubword"]
    for model in ecommerce["models"]:
        assert model["status"] == "ok", model
        assert model["tests"]["ecommerce-raw-sample"]["rows"] == 150
        assert ("review" in model["tests"]["ecommerce"]) == (model["kind"] == "prodcat")
        for test in model["tests"].values():
            assert 0.6 < test["weighted_f1"] <= 1.0 and 0.0 < test["macro_f1"] <= 1.0
        prediction = model["prediction"]
        assert prediction["batch_items_per_s"] > 0 and prediction["single_items_per_s"] > 0
        # single calls: timed side by side with the other models, 20 calls in 4 rounds (the quick settings)
        assert prediction["single_calls"] == 20 and prediction["single_rounds"] == prediction["single_rounds_timed"] == 4
        assert "saved_at" not in model
        assert 50 < prediction["peak_rss_mb"] < 4000 and model["size_bytes"] > 0
    table = (out / "models.md").read_text(encoding="utf-8")
    assert "python benchmarks/models.py --quick --datasets ecommerce" in table
    best = max(m["tests"]["ecommerce"]["weighted_f1"] for m in ecommerce["models"])
    assert f"**{best:.3f}**" in table.split("### ecommerce-raw-sample")[0]


def test_single_item_rate_is_the_median_of_the_rounds_rates_not_one_over_the_median_latency():
    # three rounds of two calls: a long text makes the second round slow; the median call is 0.01 s
    seconds = [0.01, 0.01, 0.01, 0.05, 0.01, 0.02]
    summary = bench_models._single_call_summary(seconds, rounds=3, per_round=2)
    assert summary["single_rounds_timed"] == 3
    assert summary["single_items_per_s"] == pytest.approx(2 / 0.03)  # rounds: 100, 33.3 and 66.7 items/s
    assert summary["single_items_per_s_at_median_latency"] == pytest.approx(100)
    assert summary["single_latency_ms_median"] == pytest.approx(10)


def test_peer_scores_match_prodcat_evaluate(linear_model_dir):
    import prodcat

    catalog = prodcat.read_catalog(SAMPLE)
    categorizer = prodcat.load(linear_model_dir)
    # rows where one known label is neither true nor predicted: both must count its F1 alike
    absent, predicted = categorizer.labels[0], categorizer.predict(catalog.texts)
    rows = [i for i, (label, guess) in enumerate(zip(catalog.labels, predicted)) if absent not in (label, guess)]
    assert 50 < len(rows) < len(catalog.texts)
    texts, labels = [catalog.texts[i] for i in rows], [catalog.labels[i] for i in rows]
    expected = prodcat.evaluate(categorizer, texts, labels)
    got = bench_models.score(categorizer.labels, labels, categorizer.predict(texts))
    for key in ("rows", "weighted_f1", "macro_f1", "accuracy"):
        assert got[key] == pytest.approx(expected[key])


@pytest.mark.parametrize("name", ["tfidf-svm", "tfidf-word-char-svm", "fasttext-nosubword"])
def test_peer_round_trip_and_labels(name, small_rows, tmp_path):
    peer = bench_peers.make_peer(name).fit(small_rows.train.texts, small_rows.train.labels)
    texts = small_rows.tests["ecommerce-raw-sample"].texts
    peer.save(tmp_path)
    loaded = bench_peers.load_peer(name, tmp_path)
    np.testing.assert_allclose(loaded.scores(texts), peer.scores(texts), rtol=1e-5)
    assert loaded.predict(texts) == peer.predict(texts)
    assert set(peer.predict(texts)) <= set(small_rows.train.labels)
    accuracy = np.mean(np.array(peer.predict(texts)) == np.array(small_rows.tests["ecommerce-raw-sample"].labels))
    assert accuracy > 0.6


def test_fasttext_scores_are_probabilities(small_rows):
    peer = bench_peers.make_peer("fasttext-nosubword").fit(small_rows.train.texts, small_rows.train.labels)
    scores = peer.scores(small_rows.validation.texts[:20])
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-3)
    assert (scores.max(axis=1) < 1.0).any() and (scores.min(axis=1) >= 0).all()


def test_mwpd_validation_is_apart_and_test_is_the_validation_file():
    from prodcat.data.text import duplicate_key

    dataset = bench_datasets.load_dataset("mwpd-lvl1", max_rows=600)
    train_keys = {duplicate_key(t) for t in dataset.train.texts}
    assert not any(duplicate_key(t) in train_keys for t in dataset.validation.texts)
    assert dataset.info["test_source"].endswith("validation.jsonl")
    assert len(dataset.tests["mwpd-lvl1"]) == 600
    assert len(dataset.train) > 4 * len(dataset.validation)  # the split's test part went to training
    # every field of an offer, one per line: name first, description last
    name, *_, description = dataset.tests["mwpd-lvl1"].texts[0].split("\n")
    assert name.strip() and description.strip() and "http" in dataset.tests["mwpd-lvl1"].texts[0]


def test_tree_table_lists_flat_models_that_ran_on_every_level(tmp_path):
    levels = bench_hierarchy.FLAT_LEVELS["mwpd"]
    scores = {"prodcat-linear": [0.9, 0.8, 0.7], "tfidf-svm": [0.8, 0.7, 0.6], "fasttext": [0.5, 0.4, None]}

    def model(name, level, f1s):
        if f1s[level] is None:
            return {"model": name, "status": "failed: out of memory"}
        return {"model": name, "status": "ok", "tests": {levels[level]: {"weighted_f1": f1s[level]}}}

    datasets = {lv: {"models": [model(n, i, f1s) for n, f1s in scores.items()]} for i, lv in enumerate(levels)}
    (tmp_path / "models.json").write_text(json.dumps({"datasets": datasets}))
    flat = bench_hierarchy.flat_rows("mwpd", tmp_path)
    assert flat == [{"model": "prodcat-linear", "levels": [0.9, 0.8, 0.7]}, {"model": "tfidf-svm", "levels": [0.8, 0.7, 0.6]}]
    tree = {"dataset": "mwpd", "family": "linear", "train_seconds": 1.0, "data": {"test_rows": {"mwpd": 3000}},
            "mean_level_weighted_f1": 0.85, "hierarchical_f1": 0.86,
            "levels": [{"weighted_f1": 0.9, "review": {"coverage": 0.5, "precision": 0.99}}] * 3}
    table = bench_hierarchy.markdown([tree], "python benchmarks/hierarchy.py", {"mwpd": flat})
    assert "3,000 test rows" in table and "| **0.8500** |" in table
    assert "| tfidf-svm, flat, one model per level | 0.8000 | 0.7000 | 0.6000 | 0.7000 |" in table
    assert bench_hierarchy.flat_rows("mwpd", tmp_path / "missing") == []


def test_a_family_that_cannot_be_imported_is_skipped(monkeypatch, small_rows, tmp_path):
    from prodcat.models import registry

    monkeypatch.setitem(registry.FAMILIES, "missing", "prodcat.models.not_written_yet:Model")
    entry = bench_models.bench_family("missing", small_rows, bench_models.Settings.make(quick=True), tmp_path)
    assert entry["status"] == "skipped" and "not_written_yet" in entry["error"]


def test_markdown_marks_failures_and_best(small_rows):
    ok = {"model": "a", "status": "ok", "train_seconds": 1.0, "size_bytes": 10**6,
          "tests": {"t": {"rows": 3, "weighted_f1": 0.5, "macro_f1": 0.4, "accuracy": 0.5}},
          "prediction": {"batch_items_per_s": 10.0, "single_items_per_s": 5.0, "peak_rss_mb": 100.0}}
    better = {**ok, "model": "b", "tests": {"t": {**ok["tests"]["t"], "weighted_f1": 0.75, "review": {"coverage": 0.8, "precision": 0.985}}}}
    failed = {"model": "c", "status": "failed", "error": "RuntimeError: boom"}
    data = {"data": {"train_rows": 1, "validation_rows": 1, "test_rows": {"t": 3}, "train_labels": 2},
            "test_sets": ["t"], "models": [ok, better, failed]}
    rows = bench_models._table("d", "t", data)
    assert "| b | **0.750** |" in "\n".join(rows) and "| a | 0.500 |" in "\n".join(rows)
    assert "| b | **0.750** | 0.400 | 0.500 | 80.0% (0.985) | 1.0 |" in "\n".join(rows)
    assert "| a | 0.500 | 0.400 | 0.500 |  | 1.0 |" in "\n".join(rows)
    assert any(row.startswith("| c | failed: RuntimeError: boom") for row in rows)


def test_the_flat_benchmark_runs_every_flat_family_by_default():
    args = bench_models.parse_args([])
    assert args.families == ["lstm", "linear", "bag", "neighbors", "ensemble"]  # hierarchical: benchmarks/hierarchy.py; transformer: asked for
    assert bench_models.parse_args(["--families", "hierarchical"]).families == ["hierarchical"]


def test_the_ensemble_is_combined_from_members_trained_in_the_same_run():
    settings = bench_models.Settings(quick=True, max_rows=600, throughput_runs=1, single_calls=5,
                                     family_params={"ensemble": {"members": ["linear", "neighbors"]}})
    results = bench_models.run_benchmark(["ecommerce"], ["ensemble", "linear", "neighbors"], [], settings)
    models = results["datasets"]["ecommerce"]["models"]
    assert [m["model"] for m in models] == ["prodcat-linear", "prodcat-neighbors", "prodcat-ensemble"]
    ensemble = models[2]
    assert ensemble["status"] == "ok" and ensemble["members_trained_in_this_run"] == ["linear", "neighbors"]
    assert ensemble["train_seconds"] >= models[0]["train_seconds"] + models[1]["train_seconds"]
    assert ensemble["params"]["members"] == ["linear", "neighbors"] and len(ensemble["params"]["weights"]) == 2


def test_an_ensemble_with_other_member_settings_trains_its_own_members():
    fitted = {"linear": {"params": {}}, "neighbors": {"params": {}}, "bag": {"params": {}}}
    assert bench_models._fitted_members({}, fitted) == ["bag", "linear", "neighbors"]
    assert bench_models._fitted_members({"members": ["linear", "neighbors"], "member_params": {"linear": {"C": 0.1}}}, fitted) is None
    assert bench_models._fitted_members({"members": ["linear", "lstm"]}, fitted) is None


def test_encoder_option_gives_linear_and_the_ensembles_linear_member_the_encoder():
    settings = bench_models.Settings.make(quick=True, encoder="all-MiniLM-L6-v2")
    assert settings.family_params["linear"] == {"encoder": "all-MiniLM-L6-v2"}
    ensemble = settings.family_params["ensemble"]
    assert ensemble["member_params"]["linear"] == {"encoder": "all-MiniLM-L6-v2"} and ensemble["member_params"]["lstm"] == {"epochs": 2}
    # the linear model trained in the run, with the encoder, is the one the ensemble is combined from
    fitted = {family: {"params": settings.family_params.get(family, {})} for family in ("bag", "linear", "neighbors")}
    assert bench_models._fitted_members(ensemble, fitted) == ["bag", "linear", "neighbors"]
    fitted["linear"]["params"] = {}
    assert bench_models._fitted_members(ensemble, fitted) is None
    assert bench_models.Settings.make(quick=False).family_params == {}


def test_ensemble_members_option_sets_the_members_and_names_the_row():
    args = bench_models.parse_args(["--families", "linear,transformer,ensemble", "--ensemble-members", "bag,linear,neighbors,transformer"])
    settings = bench_models.Settings.make(False, None, args.ensemble_members)
    assert settings.family_params == {"ensemble": {"members": ["bag", "linear", "neighbors", "transformer"]}}
    assert bench_models.model_label("ensemble", settings) == "prodcat-ensemble+transformer"
    assert bench_models.model_label("transformer", settings) == "prodcat-transformer"
    fitted = {family: {"params": {}} for family in ("bag", "linear", "neighbors", "transformer")}
    assert bench_models._fitted_members(settings.family_params["ensemble"], fitted) == ["bag", "linear", "neighbors", "transformer"]
    assert bench_models.model_label("ensemble", bench_models.Settings.make(False, "enc", ["linear", "neighbors"])) == "prodcat-ensemble+enc-bag"
    assert bench_models.model_label("ensemble", bench_models.Settings.make(False)) == "prodcat-ensemble"
    with pytest.raises(SystemExit):
        bench_models.parse_args(["--ensemble-members", "linear,ensemble"])


def test_shipped_comparison_takes_the_best_of_each_side_and_the_error_cut():
    import shipped

    results = {"datasets": {"d": {"train_rows": 100, "test_rows": {"d": 10}, "models": {
        "prodcat-linear": {"tests": {"d": 0.90}}, "prodcat-bag": {"tests": {"d": 0.92}},
        "fasttext": {"tests": {"d": 0.88}}, "tfidf-svm": {"tests": {"d": 0.90}}, "broken": {"error": "x"}}}}}
    (row,) = shipped.comparison(results)
    assert (row["prodcat"], row["peer"]) == ("prodcat-bag", "tfidf-svm")
    assert row["error_cut"] == pytest.approx(1 - 0.08 / 0.10)


def test_leave_one_source_out_chooses_on_the_other_sources_only():
    import lodo

    a, b = lodo.key_of({"C": 1}), lodo.key_of({"C": 2})
    results = {"default": {"C": 1}, "datasets": {
        "ecommerce": {"cv": {a: 0.9, b: 0.8}, "test": {a: 0.91, b: 0.95}},
        "mwpd-lvl1": {"cv": {a: 0.5, b: 0.7}, "test": {a: 0.52, b: 0.71}},
        "mwpd-lvl2": {"cv": {a: 0.5, b: 0.6}, "test": {a: 0.50, b: 0.60}},
        "bigbasket-type": {"cv": {a: 0.7, b: 0.65}, "test": {a: 0.69, b: 0.66}}}}
    held = lodo.held_out(results)
    # ecommerce: chosen on mwpd (b wins there) and bigbasket: mean cv a 0.567, b 0.65 -> b
    assert held["ecommerce"]["chosen_elsewhere"] == b and held["ecommerce"]["chosen_test_f1"] == 0.95
    # mwpd-lvl1 is chosen without mwpd-lvl2 (same source): ecommerce and bigbasket favour a
    assert held["mwpd-lvl1"]["chosen_elsewhere"] == a and held["mwpd-lvl1"]["default_test_f1"] == 0.52
    assert held["mwpd-lvl1"]["hindsight"] == b and held["mwpd-lvl1"]["own_cv_choice"] == b


def test_leave_one_source_out_stops_keras_families_on_training_rows_of_the_fold(monkeypatch):
    """As ``prodcat train`` does: an early-stopping family gets validation rows, a grouped tenth of the
    fold's training rows, never its test rows; a family that does not stop early gets none."""
    import lodo
    from datasets import Rows

    from prodcat.data.reading import read_catalog

    catalog = read_catalog(SAMPLE)
    rows = Rows(list(catalog.texts), list(catalog.labels))
    calls = []
    monkeypatch.setattr(lodo, "fit_score", lambda family, setting, train, test, validation=None: calls.append((train, test, validation)) or 0.5)
    assert lodo.cross_validated("lstm", {}, rows) == 0.5
    assert len(calls) == lodo.FOLDS
    for train, test, validation in calls:
        train_texts, test_texts, validation_texts = set(train.texts), set(test.texts), set(validation.texts)
        assert validation_texts and not validation_texts & train_texts and not validation_texts & test_texts
        assert len(train) + len(validation) + len(test) == len(rows)
    calls.clear()
    lodo.cross_validated("linear", {}, rows)
    assert [validation for _, _, validation in calls] == [None] * lodo.FOLDS
