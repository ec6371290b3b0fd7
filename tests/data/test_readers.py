"""Every MovieLens layout reads into the same normalized tables; bad input fails clearly."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import LAYOUTS, MOVIES, RATINGS, REPO, SHARED_TUTORIAL_CSV, USERS, layout_files

from mind_core.data.readers import read_dataset
from mind_core.data.tables import make_dataset
from mind_core.errors import DataError

# --- each layout, from a folder and from a zip ---------------------------------------------


def check_small(ds, layout):
    inter = ds.interactions
    assert list(inter.itertuples(index=False, name=None)) == [
        (u, i, float(r), t) for u, i, r, t in RATINGS]  # file order kept
    # compact dtypes: ids that fit are int32, ratings float32; timestamps stay int64
    assert str(inter["user"].dtype) == "int32" and str(inter["item"].dtype) == "int32"
    assert str(inter["rating"].dtype) == "float32" and str(inter["timestamp"].dtype) == "int64"
    assert ds.has_profile
    assert ds.n_users == 3 and ds.n_items == 4
    for u, (gender, age, occupation, zip_code) in USERS.items():
        assert ds.users.loc[u].tolist() == [gender, age, occupation, zip_code]
    for i, (title, year, genres) in MOVIES.items():
        row = ds.items.loc[i]
        # RecBole keeps the year in its own column; the other layouts keep it in the title
        assert row["title"] == (title if layout == "recbole" else f"{title} ({year})")
        assert row["year"] == year
        assert sorted(row["genres"]) == sorted(genres)


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_reads_the_same_tables(write_layout, layout, as_zip):
    check_small(read_dataset(write_layout(layout, as_zip=as_zip)), layout)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_inside_a_subfolder_of_a_zip(write_layout, layout):
    # the GroupLens zips hold ml-1m/ratings.dat etc., not files at the top
    check_small(read_dataset(write_layout(layout, as_zip=True, folder="ml-x")), layout)


def test_tutorial_csv_given_directly(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_bytes(layout_files("tutorial-csv")["ratings.csv"])
    ds = read_dataset(path)
    assert ds.name == "ratings"
    check_small(ds, "tutorial-csv")


def test_latin1_csv_and_crlf_line_ends_in_a_zip(write_layout):
    text = layout_files("tutorial-csv")["ratings.csv"].decode("utf-8").replace("\n", "\r\n")
    ds = read_dataset(write_layout("tutorial-csv", as_zip=True,
                                   changes={"ratings.csv": text.encode("latin-1")}))
    check_small(ds, "tutorial-csv")


def test_latin1_bytes_that_python_treats_as_line_breaks(write_layout):
    # 0x85 is "…" in cp1252 files; latin-1 decodes it to U+0085, which str.splitlines() breaks at
    u_item = layout_files("grouplens-100k")["u.item"].replace(b"Toy Story", b"Toy\x85Story\x0c")
    ds = read_dataset(write_layout("grouplens-100k", changes={"u.item": u_item}))
    assert ds.items.loc[10, "title"] == "Toy\x85Story\x0c (1995)"
    assert ds.n_items == 4


def test_rating_column_is_optional_in_recbole(write_layout):
    inter = ["user_id:token\titem_id:token\ttimestamp:float"]
    inter += [f"{u}\t{i}\t{t}" for u, i, _, t in RATINGS]
    ds = read_dataset(write_layout("recbole", changes={
        "toy.inter": ("\n".join(inter) + "\n").encode()}))
    assert (ds.interactions["rating"] == 1.0).all()
    assert ds.interactions["timestamp"].tolist() == [t for *_, t in RATINGS]


def test_users_and_items_missing_from_the_side_tables_get_blank_features(write_layout):
    u_user = b"1|24|M|technician|85711\n"
    u_item = layout_files("grouplens-100k")["u.item"].split(b"\n")[0] + b"\n"  # item 10 only
    ds = read_dataset(write_layout("grouplens-100k", changes={"u.user": u_user,
                                                              "u.item": u_item}))
    assert ds.users.loc[2].tolist() == ["", "", "", ""]
    assert ds.items.loc[20, "title"] == "item 20" and ds.items.loc[20, "genres"] == []
    assert ds.items.loc[20, "year"] is not None  # pd.NA, not an exception


# --- the real files -------------------------------------------------------------------------


@pytest.mark.skipif(not SHARED_TUTORIAL_CSV.is_file(),
                    reason=f"the shared tutorial sample {SHARED_TUTORIAL_CSV} is missing")
def test_shared_tutorial_csv():
    with open(SHARED_TUTORIAL_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    ds = read_dataset(SHARED_TUTORIAL_CSV)
    assert len(rows) == 100 and len(ds.interactions) == 100
    assert ds.interactions["user"].tolist() == [int(r["user_id"]) for r in rows]
    assert ds.interactions["item"].tolist() == [int(r["movie_id"]) for r in rows]
    assert ds.interactions["timestamp"].tolist() == [int(r["timestamp"]) for r in rows]
    assert ds.n_users == len({r["user_id"] for r in rows})
    assert ds.n_items == len({r["movie_id"] for r in rows})
    first = rows[0]
    item = ds.items.loc[int(first["movie_id"])]
    assert item["title"] == first["title"]
    assert item["genres"] == first["genres"].split("|")
    assert item["year"] == int(first["title"].rstrip(")")[-4:])
    user = ds.users.loc[int(first["user_id"])]
    assert user.tolist() == [first["gender"], first["age"], first["occupation"], first["zip"]]


def test_real_ml100k_counts_and_features(ml100k):
    assert (ml100k.n_users, ml100k.n_items, len(ml100k.interactions)) == (943, 1682, 100000)
    assert ml100k.users.loc[1].tolist() == ["M", "24", "technician", "85711"]
    toy = ml100k.items.loc[1]
    assert toy["title"] == "Toy Story" and toy["year"] == 1995
    assert toy["genres"] == ["Animation", "Children's", "Comedy"]
    assert ml100k.interactions.iloc[0].tolist() == [196, 242, 3.0, 881250949]
    # the fingerprint is the data's, not the name's
    assert ml100k.fingerprint() == make_dataset("other", ml100k.interactions).fingerprint()


# --- bad input --------------------------------------------------------------------------------


def _replace_line(data: bytes, number: int, new: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[number - 1] = new
    return b"\n".join(lines)


def _error(path) -> str:
    with pytest.raises(DataError) as info:
        read_dataset(path)
    return str(info.value)


def test_missing_path(tmp_path):
    message = _error(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in message and "no such file or folder" in message


@pytest.mark.parametrize("layout, missing", [
    ("recbole", "toy.item"), ("grouplens-100k", "u.user"), ("grouplens-1m", "movies.dat")])
@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_missing_file_of_a_layout(write_layout, layout, missing, as_zip):
    path = write_layout(layout, as_zip=as_zip, changes={missing: None})
    message = _error(path)
    assert str(path) in message and missing in message and "missing" in message


def test_recbole_missing_column(write_layout):
    inter = layout_files("recbole")["toy.inter"]
    inter = _replace_line(inter, 1, b"user_id:token\titem_id:token\trating:float\twhen:float")
    message = _error(write_layout("recbole", changes={"toy.inter": inter}))
    assert "toy.inter, line 1" in message and "missing column 'timestamp'" in message


def test_recbole_untyped_header(write_layout):
    inter = _replace_line(layout_files("recbole")["toy.inter"], 1,
                          b"user_id\titem_id\trating\ttimestamp")
    message = _error(write_layout("recbole", changes={"toy.inter": inter}))
    assert "toy.inter, line 1" in message and "user_id:token" in message


def test_tutorial_csv_missing_column(write_layout):
    data = layout_files("tutorial-csv")["ratings.csv"].replace(b",genres,", b",genre,", 1)
    path = write_layout("tutorial-csv", changes={"ratings.csv": data})
    message = _error(path)
    assert "ratings.csv, line 1" in message and "missing column(s) genres" in message


def test_wrong_number_of_columns(write_layout):
    ratings = _replace_line(layout_files("grouplens-1m")["ratings.dat"], 4, b"2::10::1::50::9")
    message = _error(write_layout("grouplens-1m", changes={"ratings.dat": ratings}))
    assert "ratings.dat, line 4" in message
    assert "expected 4 fields separated by '::'" in message and "found 5" in message


@pytest.mark.parametrize("layout, file, line, new, column", [
    ("grouplens-100k", "u.data", 3, b"x1\t30\t4\t90", "user"),
    ("grouplens-1m", "ratings.dat", 2, b"1::20.5::3::100", "item"),
    ("tutorial-csv", "ratings.csv", 5, b"2,ten,1,50,Toy Story (1995),Comedy,F,53,other,94043",
     "movie_id"),
    ("recbole", "toy.user", 2, b"one\t24\tM\ttechnician\t85711", "user_id"),
    ("grouplens-100k", "u.data", 2, b"99999999999999999999999\t10\t5\t100", "user"),
])
def test_non_numeric_id(write_layout, layout, file, line, new, column):
    data = _replace_line(layout_files(layout)[file], line, new)
    message = _error(write_layout(layout, changes={file: data}))
    assert f"{file}, line {line}" in message
    assert f"column '{column}': expected an integer" in message


@pytest.mark.parametrize("layout, file, line, new", [
    ("grouplens-100k", "u.data", 2, b"1\t20\t3\tyesterday"),
    ("grouplens-1m", "ratings.dat", 9, b"3::30::3::"),
    ("recbole", "toy.inter", 3, b"1\t20\t3\tnan"),
])
def test_non_numeric_timestamp(write_layout, layout, file, line, new):
    data = _replace_line(layout_files(layout)[file], line, new)
    message = _error(write_layout(layout, as_zip=True, changes={file: data}))
    assert f"{file}, line {line}" in message and "column 'timestamp'" in message
    assert "expected a" in message


@pytest.mark.parametrize("layout, file", [
    ("recbole", "toy.inter"), ("recbole", "toy.item"), ("grouplens-100k", "u.data"),
    ("grouplens-1m", "users.dat"), ("tutorial-csv", "ratings.csv")])
def test_empty_file(write_layout, layout, file):
    message = _error(write_layout(layout, changes={file: b""}))
    assert file in message and "empty" in message


def test_csv_with_a_header_and_no_rows(write_layout):
    header = layout_files("tutorial-csv")["ratings.csv"].split(b"\n")[0] + b"\n"
    message = _error(write_layout("tutorial-csv", changes={"ratings.csv": header}))
    assert "ratings.csv" in message and "no rows" in message


@pytest.mark.parametrize("layout, file, fields", [
    ("grouplens-100k", "u.data", 4), ("grouplens-1m", "ratings.dat", 4),
    ("recbole", "toy.inter", 4), ("tutorial-csv", "ratings.csv", 10)])
def test_truncated_last_line(write_layout, layout, file, fields):
    data = layout_files(layout)[file].rstrip(b"\n")
    cut = data[: data.rindex(b"\n") + 6]  # the last line broken off mid-way, as a cut download
    lines = cut.count(b"\n") + 1
    message = _error(write_layout(layout, as_zip=True, changes={file: cut}))
    assert f"{file}, line {lines}" in message and f"expected {fields}" in message


def test_truncated_item_line_in_ml100k(write_layout):
    u_item = layout_files("grouplens-100k")["u.item"]
    u_item = _replace_line(u_item, 2, u_item.split(b"\n")[1][:30])
    message = _error(write_layout("grouplens-100k", changes={"u.item": u_item}))
    assert "u.item, line 2" in message and "expected 24 fields separated by '|'" in message


def test_invalid_utf8_names_the_line(write_layout):
    item = _replace_line(layout_files("recbole")["toy.item"], 3, b"20\tGolden\xffEye\t1995\tAction")
    message = _error(write_layout("recbole", changes={"toy.item": item}))
    assert "toy.item, line 3" in message and "utf-8" in message


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_unknown_layout(write_layout, as_zip):
    path = write_layout("grouplens-1m", as_zip=as_zip,
                        changes={"ratings.dat": None, "notes.txt": b"hello\n"})
    message = _error(path)
    assert str(path) in message and "unknown layout" in message
    assert "GroupLens ml-1m (ratings.dat" in message and "notes.txt" in message


def test_a_file_that_is_no_archive(tmp_path):
    path = tmp_path / "ratings.dat"
    path.write_bytes(b"1::10::5::100\n")
    message = _error(path)
    assert str(path) in message and "expected a folder, a .zip archive or a .csv file" in message


def test_damaged_zip_member(tmp_path):
    path = tmp_path / "ml.zip"
    big = b"".join(f"{u}::{u % 7 + 1}::3::{u}\n".encode() for u in range(1, 2000))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ratings.dat", big)
        z.writestr("users.dat", b"1::M::1::10::48067\n")
        z.writestr("movies.dat", b"1::Toy Story (1995)::Comedy\n")
    raw = bytearray(path.read_bytes())
    start = 30 + len("ratings.dat") + 100  # inside ratings.dat's compressed bytes
    raw[start: start + 20] = bytes(20)
    path.write_bytes(bytes(raw))
    message = _error(path)
    assert f"{path}:ratings.dat" in message and "damaged zip member" in message


# --- the CLI on bad input -------------------------------------------------------------------


def _run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mind_core.cli", *args], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, **(env or {})}, timeout=60)


def test_cli_info_on_bad_input_exits_2_with_a_clear_message(write_layout):
    data = _replace_line(layout_files("grouplens-1m")["ratings.dat"], 2, b"1::20::3::later")
    path = write_layout("grouplens-1m", changes={"ratings.dat": data})
    proc = _run_cli("data", "info", str(path))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert "ratings.dat, line 2" in proc.stderr and "column 'timestamp'" in proc.stderr
    assert proc.stdout == ""


def test_cli_info_on_a_missing_path_exits_2(tmp_path):
    proc = _run_cli("data", "info", str(tmp_path / "nope"), "--json")
    assert proc.returncode == 2 and "no such dataset" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_info_on_a_small_layout_reports_counts(write_layout):
    proc = _run_cli("data", "info", str(write_layout("grouplens-100k", as_zip=True)), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert (info["users"], info["items"], info["interactions"]) == (3, 4, len(RATINGS))
    assert np.isin(["Comedy", "Thriller"], info["genres"]).all()
