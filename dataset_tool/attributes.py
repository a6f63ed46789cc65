"""Attribute tables: several 0/1 labels per image (multi-hot), for create_from_images --attributes.

Two layouts are read:
    CSV       a header `file,attr_a,attr_b,...`, then one row per image: `img.png,1,0,...`
    CelebA    `list_attr_celeba.txt`: an optional first line with the image count, a line of
              attribute names, then `000001.jpg -1 1 1 ...` (whitespace-separated)
Values are 0/1 or -1/1 (-1 reads as 0). The labels become float32 rows [N, c_dim] of 0/1, stored
as NVIDIA stores labels (the *.labels file), with the attribute names in the manifest.
"""

import csv
import io
import pathlib

import numpy as np

from dataset_tool.records import DatasetError

_TRUE, _FALSE = ("1", "+1", "1.0"), ("0", "-1", "0.0", "-1.0")


def _strip_trailing(cells):
    """Cells without spaces and without the empty ones a trailing comma leaves."""
    cells = [c.strip() for c in cells]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _rows(path, text):
    """(header names, [(row number, cells)]) of a CSV or a whitespace-separated table."""
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not lines:
        raise DatasetError(f"{path}: empty attributes file")
    if "," in lines[0][1] or (len(lines) > 1 and "," in lines[1][1]):
        cells = [(n, _strip_trailing(next(csv.reader(io.StringIO(line))))) for n, line in lines]
    else:
        cells = [(n, line.split()) for n, line in lines]
    if len(cells[0][1]) == 1 and cells[0][1][0].isdigit():  # CelebA: the image count first
        cells = cells[1:]
    if not cells:
        raise DatasetError(f"{path}: no header row of attribute names")
    header, rows = cells[0][1], cells[1:]
    return header, rows


def read_attributes(path, attribute_names=None):
    """(dict relative path -> float32 row [c_dim] of 0/1, attribute names).

    attribute_names: None (every column) or a list of column names to keep, in that order.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such attributes file")
    header, rows = _rows(path, path.read_text(encoding="utf-8-sig"))
    # CelebA's name line has no cell for the file column; a CSV header has one.
    names = header if rows and len(rows[0][1]) == len(header) + 1 else header[1:]
    if not names:
        raise DatasetError(f"{path}: the header names no attribute columns")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DatasetError(f"{path}: attribute {dup!r} appears twice in the header")
    keep = list(range(len(names)))
    if attribute_names:
        unknown = [n for n in attribute_names if n not in names]
        if unknown:
            raise DatasetError(
                f"--attribute-names: {unknown[0]!r} is not a column of {path} "
                f"(columns: {', '.join(names)})"
            )
        keep = [names.index(n) for n in attribute_names]
    mapping = {}
    for number, cells in rows:
        if len(cells) != len(names) + 1:
            raise DatasetError(
                f"{path}: line {number} has {len(cells) - 1} values for {len(names)} attributes"
            )
        row = np.zeros([len(keep)], np.float32)
        for j, k in enumerate(keep):
            value = cells[k + 1]
            if value not in _TRUE + _FALSE:
                raise DatasetError(
                    f"{path}: line {number}, attribute {names[k]!r}: {value!r} is not 0/1 or -1/1"
                )
            row[j] = 1.0 if value in _TRUE else 0.0
        mapping[cells[0].replace("\\", "/")] = row
    if not mapping:
        raise DatasetError(f"{path}: no image rows")
    return mapping, [names[k] for k in keep]


def parse_names(text):
    """--attribute-names a,b,c -> ['a', 'b', 'c'] (None when empty)."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    if text and not names:
        raise DatasetError(f"--attribute-names {text!r}: no names")
    if len(set(names)) != len(names):
        raise DatasetError(f"--attribute-names {text!r}: a name is given twice")
    return names or None
