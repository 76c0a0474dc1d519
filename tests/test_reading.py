"""read_catalog on the reference format as published and on the other formats and options it accepts."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest
from conftest import SAMPLE

from prodcat.data.reading import PATH_SEPARATOR, detect_format, iter_catalog_chunks, read_catalog
from prodcat.errors import DataError

PRODUCTS = [
    {"title": "Prestige Pressure Cooker 3L", "description": "Aluminium, \"induction\" base,\nwith a spare gasket", "top": "Home", "sub": "Kitchen"},
    {"title": "Harry Potter Box Set", "description": "Seven books, paperback", "top": "Books", "sub": "Fiction"},
    {"title": "USB-C Cable 1m", "description": "", "top": "Electronics", "sub": "Cables"},
    {"title": "Cotton T-Shirt ✅ 😀", "description": "Soft; machine wash", "top": "Clothing", "sub": "Tops"},
]


def _published_rows() -> list[list[str]]:
    """The sample as Python's own csv module reads it: the reference to compare against."""
    with open(SAMPLE, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def _frame() -> pd.DataFrame:
    return pd.DataFrame(PRODUCTS)


# -- the reference format --------------------------------------------------------------------------
def test_reference_sample_is_read_exactly_as_published():
    catalog = read_catalog(SAMPLE)
    published = _published_rows()
    assert len(catalog) == 150 == len(published)
    assert len(set(catalog.labels)) == 4
    assert catalog.labels == [row[0].strip() for row in published]
    assert catalog.texts == [row[1].strip() for row in published]
    assert catalog.row_numbers == list(range(1, 151))
    assert any("✅" in text for text in catalog.texts)  # emoji kept
    assert any('"' in line for line in SAMPLE.read_text(encoding="utf-8").splitlines())  # quoted fields present


def test_headerless_quoted_multiline_fields_and_emoji(tmp_path):
    path = tmp_path / "ref.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([[p["top"], p["title"] + "\n" + p["description"]] for p in PRODUCTS])
    catalog = read_catalog(path)
    assert catalog.labels == [p["top"] for p in PRODUCTS]
    assert catalog.texts == [(p["title"] + "\n" + p["description"]).strip() for p in PRODUCTS]
    assert "😀" in catalog.texts[3]


# -- other formats -----------------------------------------------------------------------------------
def test_csv_with_header_finds_title_description_and_category(tmp_path):
    path = tmp_path / "shop.csv"
    _frame().rename(columns={"top": "category"}).to_csv(path, index=False)
    catalog = read_catalog(path)
    assert catalog.text_columns == ["title", "description"]
    assert catalog.label_columns == ["category"]
    assert catalog.labels == [p["top"] for p in PRODUCTS]
    assert catalog.texts[1] == "Harry Potter Box Set \n Seven books, paperback"
    assert catalog.texts[2] == "USB-C Cable 1m"  # empty description adds nothing
    assert "\n" in catalog.texts[0] and '"induction"' in catalog.texts[0]


def test_spreadsheet_column_names_are_found_whatever_their_case_and_spaces(tmp_path, capsys):
    path = tmp_path / "export.csv"
    columns = {"title": "Product Name", "description": "DESCRIPTION", "top": "Product Category"}
    _frame()[list(columns)].rename(columns=columns).to_csv(path, index=False)
    catalog = read_catalog(path)
    assert catalog.text_columns == ["Product Name", "DESCRIPTION"] and catalog.label_columns == ["Product Category"]
    assert catalog.labels == [p["top"] for p in PRODUCTS]
    assert "treating row 1 as a header: Product Name,DESCRIPTION,Product Category" in capsys.readouterr().err


def test_tsv(tmp_path):
    path = tmp_path / "shop.tsv"
    path.write_text("name\tlabel\n" + "".join(f"{p['title']}\t{p['top']}\n" for p in PRODUCTS), encoding="utf-8")
    catalog = read_catalog(path)
    assert detect_format(path) == "tsv"
    assert catalog.texts == [p["title"] for p in PRODUCTS]
    assert catalog.labels == [p["top"] for p in PRODUCTS]


def test_json_lines(tmp_path):
    path = tmp_path / "shop.jsonl"
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PRODUCTS), encoding="utf-8")
    catalog = read_catalog(path, text_cols="title", label_cols="top,sub")
    assert catalog.texts == [p["title"] for p in PRODUCTS]
    assert catalog.labels == [p["top"] + PATH_SEPARATOR + p["sub"] for p in PRODUCTS]


def test_parquet(tmp_path):
    path = tmp_path / "shop.parquet"
    _frame().to_parquet(path)
    catalog = read_catalog(path, text_cols="title", label_cols="top")
    assert catalog.texts == [p["title"] for p in PRODUCTS]
    assert catalog.labels == [p["top"] for p in PRODUCTS]


def test_format_option_overrides_the_extension(tmp_path):
    path = tmp_path / "shop.txt"
    _frame().to_csv(path, index=False)
    with pytest.raises(DataError, match="--format"):
        read_catalog(path)
    assert read_catalog(path, fmt="csv", text_cols="title", label_cols="top").labels == [p["top"] for p in PRODUCTS]


def test_chunks_number_rows_across_chunk_boundaries():
    chunks = list(iter_catalog_chunks(SAMPLE, chunk_rows=40, require_labels=True))
    assert [len(c) for c in chunks] == [40, 40, 40, 30]
    assert [r for c in chunks for r in c.row_numbers] == list(range(1, 151))
    assert [t for c in chunks for t in c.texts] == read_catalog(SAMPLE).texts


# -- columns ----------------------------------------------------------------------------------------
def test_columns_by_name_and_by_position_agree(tmp_path):
    path = tmp_path / "shop.csv"
    _frame().to_csv(path, index=False)
    by_name = read_catalog(path, text_cols="title", label_cols="sub")
    by_position = read_catalog(path, text_cols=[0], label_cols=[3])
    by_position_text = read_catalog(path, text_cols="0", label_cols="3")
    assert by_name.texts == by_position.texts == by_position_text.texts == [p["title"] for p in PRODUCTS]
    assert by_name.labels == by_position.labels == by_position_text.labels == [p["sub"] for p in PRODUCTS]


def test_several_text_columns_are_joined_in_the_order_given(tmp_path):
    path = tmp_path / "shop.csv"
    _frame().to_csv(path, index=False)
    catalog = read_catalog(path, text_cols="description,title", label_cols="top")
    assert catalog.texts[1] == "Seven books, paperback \n Harry Potter Box Set"
    assert catalog.text_columns == ["description", "title"]


def test_several_label_columns_make_a_path(tmp_path):
    path = tmp_path / "shop.csv"
    _frame().to_csv(path, index=False)
    catalog = read_catalog(path, text_cols="title", label_cols=["top", "sub"])
    assert catalog.labels == [f"{p['top']} > {p['sub']}" for p in PRODUCTS]
    assert catalog.label_columns == ["top", "sub"]


def test_path_separator_splits_one_label_column(tmp_path):
    path = tmp_path / "shop.csv"
    frame = _frame().assign(path=[f" {p['top']} / {p['sub']}/" for p in PRODUCTS])
    frame.to_csv(path, index=False)
    catalog = read_catalog(path, text_cols="title", label_cols="path", path_sep="/")
    assert catalog.labels == [f"{p['top']}{PATH_SEPARATOR}{p['sub']}" for p in PRODUCTS]


# -- bad input ----------------------------------------------------------------------------------------
def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "latin.csv"
    lines = [f"{p['top']},{p['title']}\n".encode() for p in PRODUCTS]
    lines.insert(2, "Books,Café crème cookbook\n".encode("latin-1"))
    path.write_bytes(b"".join(lines))
    with pytest.raises(DataError) as excinfo:
        read_catalog(path)
    message = _one_line_error(excinfo)
    assert str(path) in message and "line 3 " in message and "--encoding" in message
    assert read_catalog(path, encoding="latin-1", header=False).texts[2] == "Café crème cookbook"


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path, suffix):
    """Excel's "CSV UTF-8" starts the file with U+FEFF; the first column is still found by its name."""
    path = tmp_path / f"excel{suffix}"
    frame = _frame()[["title", "top"]]
    if suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    path.write_bytes("\ufeff".encode() + path.read_bytes())
    catalog = read_catalog(path, text_cols="title", label_cols="top")
    assert catalog.texts == [p["title"] for p in PRODUCTS] and catalog.labels == [p["top"] for p in PRODUCTS]
    assert read_catalog(path, text_cols="title", require_labels=False).texts == catalog.texts


def test_a_json_lines_error_names_the_line(tmp_path):
    path = tmp_path / "shop.jsonl"
    path.write_text('{"title": "rice", "top": "Food"}\n\n{"title": "soap", "top": "Home"}\nsoap,Home\n', encoding="utf-8")
    with pytest.raises(DataError) as excinfo:
        read_catalog(path, text_cols="title", label_cols="top")
    assert str(path) in _one_line_error(excinfo) and "line 4 is not a JSON object" in str(excinfo.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError) as excinfo:
        read_catalog(tmp_path / "nowhere.csv")
    assert "nowhere.csv: no such file" in _one_line_error(excinfo)


def test_unknown_column_name_is_named_with_the_columns(tmp_path):
    path = tmp_path / "shop.csv"
    _frame().to_csv(path, index=False)
    with pytest.raises(DataError) as excinfo:
        read_catalog(path, text_cols="titel", label_cols="top")
    message = _one_line_error(excinfo)
    assert "--text-col 'titel' is not a column" in message and "'title'" in message
    with pytest.raises(DataError) as excinfo:
        read_catalog(path, text_cols="title", label_cols="categorie")
    assert "--label-col 'categorie'" in _one_line_error(excinfo)


def test_column_position_out_of_range(tmp_path):
    path = tmp_path / "shop.csv"
    _frame().to_csv(path, index=False)
    with pytest.raises(DataError) as excinfo:
        read_catalog(path, text_cols=[9], label_cols=[2])
    assert "--text-col 9 is out of range; the file has 4 columns" in _one_line_error(excinfo)


def test_no_label_column_says_which_option(tmp_path):
    path = tmp_path / "shop.csv"
    _frame().drop(columns=["top", "sub"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="no label column found.*--label-col"):
        read_catalog(path)
    assert read_catalog(path, require_labels=False).labels is None


@pytest.mark.parametrize("content", ["", "title,category\n"], ids=["empty", "header only"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as excinfo:
        read_catalog(path)
    message = _one_line_error(excinfo)
    assert str(path) in message and ("empty" in message or "no data rows" in message)


def test_empty_json_lines_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        read_catalog(path)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(DataError) as excinfo:
        read_catalog(tmp_path)
    assert "is a directory" in _one_line_error(excinfo)


def test_file_that_is_not_its_format(tmp_path):
    path = tmp_path / "shop.parquet"
    path.write_text("title,category\nx,y\n", encoding="utf-8")
    with pytest.raises(DataError) as excinfo:
        read_catalog(path)
    assert "cannot read as PARQUET" in _one_line_error(excinfo)


def test_unknown_format():
    with pytest.raises(DataError, match="unknown format 'xlsx'"):
        read_catalog(SAMPLE, fmt="xlsx")



def test_a_spreadsheet_workbook_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "catalog.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError) as excinfo:
        read_catalog(path)
    assert str(path) in _one_line_error(excinfo) and "save the sheet as CSV" in str(excinfo.value)

# -- header detection, long fields, missing labels, category paths ----------------------------------
TITLES = ["usb cable", "sony headphones", "cotton kurta", "harry potter book"]


def _notes(path, **options) -> tuple:
    said = []
    catalog = read_catalog(path, require_labels=False, notify=said.append, **options)
    return catalog, said


def test_a_headerless_file_of_titles_keeps_its_first_row_and_says_so(tmp_path):
    path = tmp_path / "titles.csv"
    path.write_text("".join(t + "\n" for t in TITLES), encoding="utf-8")
    catalog, said = _notes(path)
    assert catalog.texts == TITLES and catalog.row_numbers == [1, 2, 3, 4] and catalog.header is None
    assert said == ["treating row 1 as data, not a header: usb cable; pass --header if it is a header"]


def test_a_headerless_id_title_file_keeps_its_first_row(tmp_path):
    texts = pd.read_csv(SAMPLE, header=None, dtype=str, keep_default_na=False)[1].str.slice(0, 30)
    path = tmp_path / "ids.csv"
    pd.DataFrame({"id": range(1000), "title": [f"{texts[i % len(texts)]} {i}" for i in range(1000)]}).to_csv(path, header=False, index=False)
    catalog, said = _notes(path, text_cols="1")
    assert len(catalog) == 1000 and catalog.texts[0].endswith(" 0")
    assert said[0].startswith("treating row 1 as data, not a header: 0,") and "--header" in said[0]


@pytest.mark.parametrize(
    "first_row, rows_below, is_header",
    [
        ("id,title", ["1,usb cable", "2,sony headphones"], True),  # well-known names
        ("code,colour", ["A-1,red", "B-2,blue"], False),  # names, but nothing below differs in kind: data
        ("item,weight", ["usb cable,12", "sony headphones,250"], True),  # numbers under a name
        ("Household,Towel", ["Books,Novel", "Household,Soap"], False),  # the first label repeats below
        ("usb cable,red", ["sony headphones,blue", "cotton kurta,green"], False),
    ],
)
def test_header_detection_is_cautious_and_says_which_choice_it_made(tmp_path, first_row, rows_below, is_header):
    path = tmp_path / "catalog.csv"
    path.write_text("\n".join([first_row, *rows_below]) + "\n", encoding="utf-8")
    catalog, said = _notes(path, text_cols="1")
    assert len(catalog) == len(rows_below) + (0 if is_header else 1)
    if is_header:
        assert said == [f"treating row 1 as a header: {first_row}; pass --no-header if it is data"]
    else:
        assert said == [f"treating row 1 as data, not a header: {first_row}; pass --header if it is a header"]


def test_header_and_no_header_decide_without_a_notice(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text("sku,colour\nA-1,red\n", encoding="utf-8")
    assert _notes(path, text_cols="1", header=True)[0].texts == ["red"]
    catalog, said = _notes(path, text_cols="1", header=False)
    assert catalog.texts == ["colour", "red"] and said == []


def test_a_field_over_the_csv_modules_limit_is_read(tmp_path):
    long_text = "usb cable " * 20_000  # 200,000 characters
    path = tmp_path / "long.csv"
    pd.DataFrame({"category": ["Electronics", "Books"], "text": [long_text, "a novel"]}).to_csv(path, index=False)
    catalog = read_catalog(path)  # header detection reads the field with Python's csv module
    assert catalog.texts == [long_text.strip(), "a novel"]
    headerless = tmp_path / "headerless.csv"
    headerless.write_text(f"Electronics,{long_text}\nBooks,a novel\n", encoding="utf-8")
    assert read_catalog(headerless).labels == ["Electronics", "Books"]


def test_missing_labels_are_empty_not_categories(tmp_path):
    path = tmp_path / "catalog.csv"
    labels = ["Books", "NaN", "null", "None", "", "nan", "N/A", "Electronics"]
    pd.DataFrame({"title": [f"product {i}" for i in range(len(labels))], "category": labels}).to_csv(path, index=False)
    assert read_catalog(path, header=True).labels == ["Books", "", "", "", "", "", "", "Electronics"]
    jsonl = tmp_path / "catalog.jsonl"
    jsonl.write_text('{"title": "a", "category": null}\n{"title": "b", "category": "Books"}\n', encoding="utf-8")
    assert read_catalog(jsonl).labels == ["", "Books"]


def test_only_the_options_make_labels_paths(tmp_path):
    path = tmp_path / "catalog.csv"
    frame = pd.DataFrame({"title": ["a", "b", "c"], "category": ["Home > Garden", "Books", "Toys"], "sub": ["Tools", "Novels", "NaN"]})
    frame.to_csv(path, index=False)
    flat = read_catalog(path, label_cols="category", notify=lambda line: None)
    assert flat.labels == ["Home > Garden", "Books", "Toys"] and not flat.label_paths
    split = read_catalog(path, label_cols="category", path_sep=" > ", notify=lambda line: None)
    assert split.labels == ["Home > Garden", "Books", "Toys"] and split.label_paths
    levels = read_catalog(path, label_cols="category,sub", notify=lambda line: None)
    assert levels.labels[1:] == ["Books > Novels", "Toys"] and levels.label_paths


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_compressed_csv_header_detection_reads_the_decompressed_text(tmp_path, suffix):
    import bz2
    import gzip
    import lzma

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[suffix]
    path = tmp_path / f"catalog.csv{suffix}"
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.write("Books,harry potter box set\nElectronics,usb cable\n")
    assert read_catalog(path, notify=lambda line: None).labels == ["Books", "Electronics"]
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.write("title,category\nusb cable,Electronics\nnovel,Books\n")
    assert read_catalog(path, notify=lambda line: None).texts == ["usb cable", "novel"]
