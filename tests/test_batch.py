"""Streaming prediction from Python: predict_texts, predict_frame, predict_file (prodcat.batch)."""

from __future__ import annotations

import json
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import numpy as np
import pytest

from conftest import NORMALIZED, SAMPLE
from prodcat.batch import PREFIX, predict_file, predict_frame, predict_texts, prediction_columns
from prodcat.categorizer import EMPTY_TEXT_REASON, Categorizer
from prodcat.errors import DataError

FORMATS = ("csv", "tsv", "jsonl", "parquet")
QUIRKS = [
    'Say "cheese": a camera, 12 MP, with "quoted" words',
    "cotton kurta for women\nsecond line of the description\r\nand a third",
    "",
    "   ",
    "Prestige pressure cooker, 5 litre 🍲 stainless steel",
]


def catalog_frame(rows: int = 40) -> pd.DataFrame:
    """Real texts (normalized and raw, with emoji and quotes) plus the QUIRKS, with ids 0..n-1."""
    real = pd.concat([_reference(SAMPLE).head(rows // 2), _reference(NORMALIZED).head(rows - rows // 2 - len(QUIRKS))])
    texts = real["text"].tolist()
    for offset, quirk in enumerate(QUIRKS):
        texts.insert(3 + 5 * offset, quirk)
    return pd.DataFrame({"id": [str(i) for i in range(len(texts))], "brand": "acme, inc.", "text": texts})


def bare(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with the prediction columns' prefix taken off their names."""
    return frame.rename(columns=lambda name: name.removeprefix(PREFIX))


def _reference(path) -> pd.DataFrame:
    return pd.read_csv(path, header=None, names=["label", "text"], dtype=str, keep_default_na=False)


def write_catalog(frame: pd.DataFrame, path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":  # prodcat reads TSV unquoted: no tabs or line breaks inside fields
        flat = frame.replace({r"[\t\r\n]+": " "}, regex=True)
        path.write_text("".join("\t".join(row) + "\n" for row in [list(flat.columns), *flat.values.tolist()]), encoding="utf-8")
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, index=False)


def read_output(path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if fmt == "tsv":
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pq.read_table(path).to_pandas()


def blank(value) -> bool:
    return value is None or value == "" or (isinstance(value, float) and value != value)


@pytest.fixture(scope="module")
def linear(linear_model_dir) -> Categorizer:
    return Categorizer.load(linear_model_dir)


# -- predict_texts ------------------------------------------------------------------------------
def test_predict_texts_streams_lazily_in_batches(linear):
    frame = catalog_frame()
    taken = []

    def texts():
        for text in frame["text"]:
            taken.append(text)
            yield text

    stream = predict_texts(linear, texts(), top_k=2, batch_size=8)
    first = next(stream)
    assert len(taken) == 8
    streamed = [first, *list(stream)]
    expected = linear.categorize(frame["text"].tolist(), top_k=2)
    # Batches of 8 take the few-texts path, one call of every text the batch path: the same
    # categories, probabilities equal up to float32 rounding.
    assert [(p.category, p.needs_review, [label for label, _ in p.top_k]) for p in streamed] == [
        (p.category, p.needs_review, [label for label, _ in p.top_k]) for p in expected
    ]
    np.testing.assert_allclose([c for p in streamed for _, c in p.top_k], [c for p in expected for _, c in p.top_k], atol=1e-6)


def test_predict_texts_rejects_a_zero_batch(linear):
    with pytest.raises(DataError, match="batch_size"):
        list(predict_texts(linear, ["a"], batch_size=0))


# -- predict_frame ------------------------------------------------------------------------------
def test_predict_frame_adds_columns_in_order_and_keeps_every_row(linear):
    frame = catalog_frame()
    result = predict_frame(linear, frame, "text", top_k=3)
    review = linear.threshold_ is not None
    assert list(result.columns) == ["id", "brand", "text", *prediction_columns(3, needs_review=review)]
    assert result["id"].tolist() == frame["id"].tolist()
    expected = linear.categorize(frame["text"].tolist(), top_k=3)
    for row, prediction in zip(bare(result).itertuples(index=False), expected):
        if prediction.category is None:
            assert blank(row.category) and blank(row.confidence) and row.reason == EMPTY_TEXT_REASON
            continue
        assert (row.category, row.confidence, row.category_2, row.category_3) == (
            prediction.category, prediction.confidence, prediction.top_k[1][0], prediction.top_k[2][0]
        )
        assert row.confidence >= row.confidence_2 >= row.confidence_3
        assert blank(row.reason)


def test_predict_frame_empty_texts_get_a_reason_not_a_category(linear):
    frame = catalog_frame()
    result = bare(predict_frame(linear, frame))  # finds the 'text' column by its name
    empty = frame["text"].str.strip() == ""
    assert empty.sum() == 2
    assert result.loc[empty, "category"].map(blank).all()
    assert (result.loc[empty, "reason"] == EMPTY_TEXT_REASON).all()
    assert result.loc[~empty, "reason"].map(blank).all()


def test_predict_frame_joins_several_text_columns(linear):
    frame = pd.DataFrame({"title": ["sony headphones", "cotton"], "description": ["wireless bluetooth", "kurta for women"]})
    result = predict_frame(linear, frame, ["title", "description"])
    joined = [f"{t} \n {d}" for t, d in zip(frame["title"], frame["description"])]
    assert result["predicted_category"].tolist() == linear.predict(joined)


def test_predict_frame_names_a_missing_text_column(linear):
    with pytest.raises(DataError, match=r"--text-col 'title' is not a column; the columns are 'id', 'brand', 'text'"):
        predict_frame(linear, catalog_frame(), "title")
    with pytest.raises(DataError, match="no text column found"):
        predict_frame(linear, pd.DataFrame({"sku": ["a1"], "price": ["3"]}))


def test_predict_frame_keeps_input_columns_named_like_a_prediction_and_refuses_a_clash(linear):
    labelled = catalog_frame().rename(columns={"brand": "category"}).assign(confidence="high")
    result = predict_frame(linear, labelled)
    assert list(result.columns[:4]) == ["id", "category", "text", "confidence"] and result["category"].eq("acme, inc.").all()
    frame = catalog_frame().rename(columns={"brand": "predicted_confidence"})
    with pytest.raises(DataError, match=r"input column 'predicted_confidence'.*--prefix predicted_new_"):
        predict_frame(linear, frame)
    assert "mine_category" in predict_frame(linear, frame, prefix="mine_").columns


# -- predict_file -------------------------------------------------------------------------------
@pytest.mark.parametrize("out_fmt", FORMATS)
@pytest.mark.parametrize("in_fmt", FORMATS)
def test_predict_file_every_format_in_and_out_in_order(linear, tmp_path, in_fmt, out_fmt):
    frame = catalog_frame()
    source, target = tmp_path / f"in.{in_fmt}", tmp_path / f"out.{out_fmt}"
    write_catalog(frame, source, in_fmt)
    summary = predict_file(linear, source, target, text_cols="text", chunk_rows=7, top_k=2)
    result = bare(read_output(target, out_fmt))
    texts = frame["text"].str.replace(r"[\t\r\n]+", " ", regex=True) if in_fmt == "tsv" else frame["text"]
    expected = linear.categorize(texts.tolist(), top_k=2)
    assert summary["rows"] == len(frame) == len(result)
    assert summary["rows_with_reason"] == 2
    assert result["id"].astype(int).tolist() == list(range(len(frame)))
    assert [None if blank(c) else c for c in result["category"]] == [p.category for p in expected]
    assert [None if blank(c) else c for c in result["category_2"]] == [p.top_k[1][0] if p.top_k else None for p in expected]
    if in_fmt != "tsv" and out_fmt != "tsv":  # quotes, commas and line breaks survive
        assert result["text"].fillna("").tolist() == frame["text"].tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, target.name])


def test_predict_file_parquet_has_a_fixed_schema(linear, tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "out.parquet"
    write_catalog(catalog_frame(), source, "csv")
    predict_file(linear, source, target, chunk_rows=7, top_k=2)
    schema = pq.read_schema(target)
    numeric = {PREFIX + "confidence": pa.float64(), PREFIX + "confidence_2": pa.float64(), PREFIX + "needs_review": pa.bool_()}
    assert {f.name: f.type for f in schema} == {
        name: numeric.get(name, pa.string()) for name in ["id", "brand", "text", *prediction_columns(2)]
    }


def test_predict_file_keep_copies_only_the_named_columns(linear, tmp_path):
    source, target = tmp_path / "in.jsonl", tmp_path / "out.csv"
    write_catalog(catalog_frame(), source, "jsonl")
    predict_file(linear, source, target, keep="id", chunk_rows=7)
    assert list(read_output(target, "csv").columns) == ["id", *prediction_columns(1, needs_review=linear.threshold_ is not None)]
    with pytest.raises(DataError, match="--keep 'sku' is not a column"):
        predict_file(linear, source, tmp_path / "other.csv", keep=["sku"])
    assert not (tmp_path / "other.csv").exists()


def test_predict_file_headerless_reference_file(linear, tmp_path):
    target = tmp_path / "out.jsonl"
    summary = predict_file(linear, SAMPLE, target, chunk_rows=50)
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").split("\n")[:-1]]  # not splitlines: U+2028
    assert summary["rows"] == len(lines) == len(_reference(SAMPLE))
    assert [line["1"] for line in lines] == _reference(SAMPLE)["text"].tolist()


def test_predict_file_fills_fields_missing_from_later_json_lines(linear, tmp_path):
    source, target = tmp_path / "in.jsonl", tmp_path / "out.csv"
    rows = [{"id": 0, "text": "sony headphones", "brand": "sony"}, {"id": 1, "text": "cotton kurta"}]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    predict_file(linear, source, target, chunk_rows=1)
    assert read_output(target, "csv")[["id", "brand"]].values.tolist() == [["0", "sony"], ["1", ""]]


def test_predict_file_non_utf8_input_fails_cleanly(linear, tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    lines = ["id,text"] + [f"{i},sony wireless headphones {i}" for i in range(30)]
    source.write_bytes(("\n".join(lines) + "\n").encode() + b"30,caf\xe9 cr\xe8me\n")
    with pytest.raises(DataError, match=r"line 32 is not valid utf-8 text; .*--encoding") as error:
        predict_file(linear, source, target, chunk_rows=7)
    assert "\n" not in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
    summary = predict_file(linear, source, target, encoding="latin-1", chunk_rows=7)
    assert summary["rows"] == 31


def test_predict_file_interrupted_leaves_the_old_output_and_no_temp_file(linear, tmp_path, monkeypatch):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    write_catalog(catalog_frame(), source, "csv")
    target.write_text("previous complete output\n", encoding="utf-8")
    categorize, calls = linear.categorize, []

    def interrupted_on_second_chunk(texts, top_k=1):
        calls.append(len(texts))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return categorize(texts, top_k=top_k)

    monkeypatch.setattr(linear, "categorize", interrupted_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        predict_file(linear, source, target, chunk_rows=7)
    assert target.read_text(encoding="utf-8") == "previous complete output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_predict_file_refuses_bad_output_paths(linear, tmp_path):
    source = tmp_path / "in.csv"
    write_catalog(catalog_frame(), source, "csv")
    with pytest.raises(DataError, match="is the input file"):
        predict_file(linear, source, source)
    with pytest.raises(DataError, match="pass --output-format"):
        predict_file(linear, source, tmp_path / "out.txt")
    with pytest.raises(DataError, match="compressed output"):
        predict_file(linear, source, tmp_path / "out.csv.gz")
    predict_file(linear, source, tmp_path / "out.txt", output_fmt="jsonl")
    assert len(read_output(tmp_path / "out.txt", "jsonl")) == len(catalog_frame())


def test_predict_file_with_the_lstm_family(lstm_model_dir, tmp_path):
    lstm = Categorizer.load(lstm_model_dir)
    frame = catalog_frame()
    source, target = tmp_path / "in.csv", tmp_path / "out.jsonl"
    write_catalog(frame, source, "csv")
    predict_file(lstm, source, target, chunk_rows=7, top_k=2)
    result = bare(read_output(target, "jsonl"))
    expected = lstm.categorize(frame["text"].tolist(), top_k=2)
    assert result["id"].astype(int).tolist() == list(range(len(frame)))
    assert [None if blank(c) else c for c in result["category"]] == [p.category for p in expected]
    assert result["confidence"].tolist() == pytest.approx([p.confidence if p.category else float("nan") for p in expected], nan_ok=True)


def test_predict_file_with_category_paths_adds_depth_and_path(tmp_path):
    from conftest import TINY_LINEAR
    from prodcat.training import train
    from test_hierarchy import LABEL_COLS, unseen_texts, write_bigbasket_sample

    catalog = write_bigbasket_sample(tmp_path / "bigbasket.csv", rows=1500)
    tree_model = train(
        catalog, family="linear", params=TINY_LINEAR, text_cols="product", label_cols=LABEL_COLS, drop_rare_labels=True,
        log_dir=None, verbose=0,
    ).categorizer
    frame = pd.DataFrame({"id": [str(i) for i in range(42)], "text": unseen_texts()[:40] + ["", "   "]})
    expected = tree_model.categorize(frame["text"].tolist(), top_k=2)
    columns = prediction_columns(2, hierarchical=True)
    assert columns == [PREFIX + name for name in ("category", "confidence", "needs_review", "depth", "path", "path_confidence",
                                                  "leaf", "leaf_confidence", "path_2", "confidence_2", "reason")]
    assert list(predict_frame(tree_model, frame, top_k=2).columns) == ["id", "text", *columns]
    write_catalog(frame, tmp_path / "in.csv", "csv")
    for fmt in ("csv", "jsonl", "parquet"):
        target = tmp_path / f"out.{fmt}"
        predict_file(tree_model, tmp_path / "in.csv", target, chunk_rows=9, top_k=2)
        if fmt == "parquet":
            assert pq.read_schema(target).field(PREFIX + "depth").type == pa.int64()
            assert pq.read_schema(target).field(PREFIX + "leaf_confidence").type == pa.float64()
            rows = pq.read_table(target).to_pylist()
        elif fmt == "jsonl":
            rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
        else:
            rows = [{key: None if blank(value) else value for key, value in r.items()} for r in read_output(target, "csv").to_dict("records")]
            rows = [{**r, PREFIX + "depth": None if r[PREFIX + "depth"] is None else int(r[PREFIX + "depth"])} for r in rows]
        assert list(rows[0]) == ["id", "text", *columns]
        rows = [{key.removeprefix(PREFIX): value for key, value in r.items()} for r in rows]
        assert [r["depth"] for r in rows] == [p.depth for p in expected]
        assert [r["path"] for r in rows] == [p.path[-1] if p.path else None for p in expected]
        assert [r["leaf"] for r in rows] == [p.path[-1].split(" > ")[-1] if p.path else None for p in expected]
        assert [r["path_confidence"] for r in rows] == [" > ".join(f"{c:.4f}" for c in p.path_confidence) if p.path else None for p in expected]
        assert [r["category"] for r in rows] == [p.category if p.depth else None for p in expected]  # depth 0: none trusted
        assert [r["path_2"] for r in rows] == [p.top_k[1][0] if p.top_k else None for p in expected]
    assert {p.depth for p in expected[:40]} & {0, 1, 2} and [p.depth for p in expected[40:]] == [None, None]


def test_predict_file_counts_the_rows_read_and_written(linear, tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    write_catalog(catalog_frame(), source, "csv")
    summary = predict_file(linear, source, target, chunk_rows=7, notify=lambda line: None)
    assert summary["rows_in"] == summary["rows"] == len(catalog_frame()) and summary["header"] is True
    said = []
    summary = predict_file(linear, SAMPLE, tmp_path / "sample.jsonl", notify=said.append)
    assert summary["rows_in"] == summary["rows"] == 150 and summary["header"] is False
    assert said and said[0].startswith("treating row 1 as data, not a header: ")


def test_predict_file_refuses_a_directory_or_a_path_under_a_file(linear, tmp_path):
    source = tmp_path / "in.csv"
    write_catalog(catalog_frame(), source, "csv")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="is a directory; give a file name for --output"):
        predict_file(linear, source, tmp_path / "folder")
    with pytest.raises(DataError, match="is a file, not a directory"):
        predict_file(linear, source, source / "deeper" / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "in.csv"]


def test_predict_file_leaves_the_partial_file_of_a_live_run_alone(linear, tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    write_catalog(catalog_frame(), source, "csv")
    from prodcat.batch import partial_prefix

    live = tmp_path / partial_prefix(target).replace(f"-{os.getpid()}.", f"-{os.getppid()}.x1y2z3.part")  # a running process
    live.write_text("being written", encoding="utf-8")
    said = []
    predict_file(linear, source, target, notify=said.append)
    assert live.read_text(encoding="utf-8") == "being written" and not [line for line in said if "partial" in line]
