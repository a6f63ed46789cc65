"""Multi-hot attributes: dataset_tool --attributes (CSV and CelebA's list_attr_celeba.txt), the
labels and manifest it writes, `info`'s per-attribute counts, training's label kind, and
generate.py --attrs / --class 1,2."""

import json

import numpy as np
import PIL.Image
import pytest

from apps import cli, loading
from dataset_tool import attributes, create, records
from dataset_tool.records import DatasetError

from dataset_helpers import run_tool
from harness import tiny_generator

NAMES = ["smiling", "eyeglasses", "hat"]
ROWS = {"a.png": [1, 0, 1], "b.png": [0, 1, 1], "c.png": [0, 0, 0], "d.png": [1, 1, 0]}


@pytest.fixture
def images(tmp_path):
    src = tmp_path / "img"
    src.mkdir()
    rng = np.random.RandomState(0)
    for name in ROWS:
        PIL.Image.fromarray(rng.randint(0, 255, (8, 8, 3), np.uint8)).save(src / name)
    return src


def _csv(tmp_path):
    lines = ["file," + ",".join(NAMES)] + [f"{k},{','.join(map(str, v))}" for k, v in ROWS.items()]
    (tmp_path / "attrs.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "attrs.csv"


def _celeba(tmp_path):
    """CelebA's layout: a count line, a names line, then -1/1 values separated by spaces."""
    lines = [str(len(ROWS)), " ".join(NAMES)]
    lines += [f"{k}  " + " ".join("1" if x else "-1" for x in v) for k, v in ROWS.items()]
    (tmp_path / "list_attr.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "list_attr.txt"


def _stored(data):
    info = records.describe(data)
    labels = records.load_labels(info)
    order = json.loads((data / records.MANIFEST).read_text())
    return info, labels, order


@pytest.mark.parametrize("layout", [_csv, _celeba])
def test_tables_become_float32_0_1_rows_in_record_order(images, tmp_path, layout):
    table = layout(tmp_path)
    data = tmp_path / "data"
    create.create_from_images(
        data, images, attributes=table, shuffle=False, workers=1, log=lambda *a: None
    )
    info, labels, manifest = _stored(data)
    assert manifest["labels"] == {
        "file": records.labels_filename("data"),
        "c_dim": 3,
        "names": NAMES,
        "multi_hot": True,
    }
    assert labels.dtype == np.float32
    np.testing.assert_array_equal(labels, np.array(list(ROWS.values()), np.float32))


def test_attribute_names_pick_and_order_columns(images, tmp_path):
    data = tmp_path / "data"
    create.create_from_images(
        data,
        images,
        attributes=_csv(tmp_path),
        attribute_names="hat,smiling",
        shuffle=False,
        workers=1,
        log=lambda *a: None,
    )
    _, labels, manifest = _stored(data)
    assert manifest["labels"]["names"] == ["hat", "smiling"]
    want = np.array([[v[2], v[0]] for v in ROWS.values()], np.float32)
    np.testing.assert_array_equal(labels, want)


def test_info_prints_per_attribute_counts(images, tmp_path):
    data = tmp_path / "data"
    rc, _, err = run_tool("create_from_images", data, images, "--attributes", _csv(tmp_path))
    assert rc == 0, err
    rc, out, err = run_tool("info", data)
    assert rc == 0, err
    assert "multi-hot attributes; images with each (of 4):" in out
    for name, count in zip(NAMES, [2, 2, 2]):
        assert any(line.split()[1:] == [name, str(count)] for line in out.splitlines()), out


@pytest.mark.parametrize(
    "text, names, message",
    [
        ("file,a,b\nx.png,1,2\n", None, "line 2, attribute 'b': '2' is not 0/1 or -1/1"),
        ("file,a,b\nx.png,1\n", None, "line 2 has 1 values for 2 attributes"),
        ("file,a,a\nx.png,1,0\n", None, "attribute 'a' appears twice in the header"),
        ("file,a,b\nx.png,1,0\n", "a,c", "--attribute-names: 'c' is not a column of"),
        ("file,a,b\n", None, "no image rows"),
        ("", None, "empty attributes file"),
    ],
)
def test_bad_tables(tmp_path, text, names, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        attributes.read_attributes(path, attributes.parse_names(names))


def test_cli_errors_are_one_line(images, tmp_path):
    table = _csv(tmp_path)
    cases = [
        (["--attributes", tmp_path / "none.csv"], f"Error: {tmp_path / 'none.csv'}: no such"),
        (["--labels", table, "--attributes", table], "Error: give one of --labels / --attributes"),
        (["--attribute-names", "hat"], "Error: --attribute-names needs --attributes FILE"),
    ]
    for extra, message in cases:
        rc, _, err = run_tool("create_from_images", tmp_path / "d", images, *extra)
        assert rc == 2 and len(err) == 1 and err[0].startswith(message), err
        assert not (tmp_path / "d").exists()


def test_generate_attrs_and_class_mix_labels():
    G = tiny_generator(3, seed=0)
    G.label_names = list(NAMES)
    assert cli.parse_attrs("hat,smiling", G) == (2, 0)
    assert cli.parse_attrs("1", G) == (1,)
    assert cli.parse_attrs("none", G) == ()
    np.testing.assert_array_equal(loading.class_labels(G, (2, 0)), [[1, 0, 1]])
    np.testing.assert_array_equal(loading.class_labels(G, ()), [[0, 0, 0]])
    assert cli.parse_class("1,2") == (1, 2) and cli.parse_class("2") == 2
    with pytest.raises(cli.UserError, match="unknown attribute 'beard' .*smiling, eyeglasses"):
        cli.parse_attrs("beard", G)
    with pytest.raises(cli.UserError, match="--class 5: outside the network's classes 0..2"):
        loading.class_labels(G, (1, 5))
    with pytest.raises(cli.UserError, match="an index is given twice"):
        cli.parse_class("1,1")


def test_label_names_travel_with_the_generator():
    from tf_stylegan2.networks import Generator, presets

    G_kwargs, _ = presets.network_kwargs("tiny", 16, 3, 3)
    G = Generator(**G_kwargs, label_names=NAMES)
    assert Generator.from_config(G.get_config()).label_names == NAMES
    with pytest.raises(ValueError, match="label_names has 2 names for c_dim 3"):
        Generator(**G_kwargs, label_names=NAMES[:2])


def test_extract_then_create_round_trips_attributes(images, tmp_path):
    data, back = tmp_path / "data", tmp_path / "back"
    rc, _, err = run_tool("create_from_images", data, images, "--attributes", _csv(tmp_path))
    assert rc == 0, err
    rc, _, err = run_tool("extract", data, tmp_path / "x")
    assert rc == 0, err
    assert (tmp_path / "x" / "attributes.csv").read_text().startswith("file,smiling,eyeglasses,hat")
    rc, _, err = run_tool(
        "create_from_images",
        back,
        tmp_path / "x",
        "--no-shuffle",
        "--attributes",
        tmp_path / "x" / "attributes.csv",
    )
    assert rc == 0, err
    rc, out, err = run_tool("compare", data, back)
    assert rc == 0, out
