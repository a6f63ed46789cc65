"""info, display, extract, compare: reading datasets back (numpy + PIL, no TensorFlow)."""

import json
import math
import pathlib

import numpy as np

from dataset_tool import records
from dataset_tool.records import DatasetError


def _level(info, resolution):
    if resolution in (None, "", 0):
        return max(info["files"])
    level = int(round(math.log2(int(resolution))))
    if level not in info["files"] or 2**level != int(resolution):
        raise DatasetError(
            f"no {resolution}x{resolution} level (levels: "
            f"{', '.join(str(2**lv) for lv in sorted(info['files']))})"
        )
    return level


def iter_images(info, level, limit=None):
    """uint8 HWC images of one level in global record order (round-robin over the parts)."""
    parts = info["files"][level]
    iters = [records.iter_records(p) for p in parts]
    count = info["count"] if limit is None else min(limit, info["count"])
    for j in range(count):
        part, _ = records.part_of(j, len(parts))
        try:
            data = next(iters[part])
        except StopIteration:
            raise DatasetError(
                f"{parts[part]}: fewer records than the {info['count']} images expected"
            ) from None
        yield records.decode_example(data, info["encoding"])


def _class_of(row):
    return int(np.argmax(row)) if row.size and row.max() == 1 and row.sum() == 1 else None


def info(data_dir, log=print):
    d = records.describe(data_dir, count_all=True)
    data_dir = pathlib.Path(data_dir)
    sizes = {p.name: p.stat().st_size for p in data_dir.iterdir() if p.is_file()}
    layout = "official layout, no manifest" if d["official"] else "manifest " + records.MANIFEST
    log(f"Dataset:    {data_dir} ({layout})")
    log(f"Name:       {d['name']}")
    log(
        f"Images:     {d['count']} x {d['resolution']}x{d['resolution']}x{d['channels']} "
        f"({'RGB' if d['channels'] == 3 else 'greyscale'}), encoding {d['encoding']}"
    )
    log(f"Shards:     {d['shards']}")
    for lv in sorted(d["files"], reverse=True):
        counts = d["level_counts"][lv]
        nbytes = sum(sizes.get(pathlib.Path(f).name, 0) for f in d["files"][lv])
        parts = "" if len(counts) == 1 else f"  parts {counts}"
        log(
            f"  r{lv:02d} {2**lv:>5}x{2**lv:<5} {sum(counts):>8} images "
            f"{nbytes / 2**20:10.2f} MiB{parts}"
        )
        if sum(counts) != d["count"]:
            log(f"  WARNING: level r{lv:02d} has {sum(counts)} records, expected {d['count']}")
    hist = None
    if d["c_dim"]:
        labels = records.load_labels(d)
        names = (d.get("labels") or {}).get("names")
        log(f"Labels:     {pathlib.Path(d['labels_file']).name}, c_dim {d['c_dim']}")
        multi_hot = records.is_multi_hot(labels, (d.get("labels") or {}).get("multi_hot"))
        binary = bool(np.all((labels == 0) | (labels == 1)))
        if not multi_hot:  # one-hot rows: a histogram of classes
            hist = np.bincount([_class_of(r) for r in labels], minlength=d["c_dim"]).tolist()
            for c, n in enumerate(hist):
                log(f"  {c:>4} {names[c] if names and c < len(names) else '':<20} {n:>8}")
        elif binary:  # multi-hot attributes: images having each one
            hist = labels.sum(axis=0).astype(np.int64).tolist()
            log(f"  multi-hot attributes; images with each (of {d['count']}):")
            for c, n in enumerate(hist):
                log(f"  {c:>4} {names[c] if names and c < len(names) else '':<20} {n:>8}")
        else:
            log(
                f"  (not one-hot) range [{labels.min():g}, {labels.max():g}], mean L2 norm "
                f"{np.linalg.norm(labels, axis=1).mean():g}"
            )
    else:
        log("Labels:     none")
    log(f"On disk:    {sum(sizes.values()) / 2**20:.2f} MiB in {len(sizes)} files")
    return {
        "count": d["count"],
        "resolution": d["resolution"],
        "channels": d["channels"],
        "shards": d["shards"],
        "encoding": d["encoding"],
        "level_counts": d["level_counts"],
        "c_dim": d["c_dim"],
        "label_histogram": hist,
        "bytes": sum(sizes.values()),
    }


def display(data_dir, out_png=None, resolution=None, grid=None, log=print):
    """Writes the first images as a grid PNG (default <name>-grid.png in the current folder)."""
    import PIL.Image

    d = records.describe(data_dir)
    level = _level(d, resolution)
    if grid:
        try:
            gw, gh = (int(v) for v in str(grid).lower().split("x"))
        except ValueError:
            raise DatasetError(f"--grid {grid!r}: expected WxH, e.g. 8x4") from None
    else:
        n = min(d["count"], 64)
        gw = int(math.ceil(math.sqrt(n)))
        gh = int(math.ceil(n / gw))
    imgs = list(iter_images(d, level, gw * gh))
    res, c = 2**level, d["channels"]
    canvas = np.full([gh * res, gw * res, c], 255, np.uint8)
    for i, img in enumerate(imgs):
        y, x = divmod(i, gw)
        canvas[y * res : (y + 1) * res, x * res : (x + 1) * res] = img
    out_png = pathlib.Path(out_png or f"{d['name']}-grid.png")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(canvas[:, :, 0] if c == 1 else canvas, "L" if c == 1 else "RGB").save(
        out_png
    )
    log(f"Wrote {out_png} ({len(imgs)} images, grid {gw}x{gh}, {res}x{res})")
    return out_png


def extract(data_dir, out_dir, resolution=None, max_images=None, log=print):
    """Writes OUT_DIR/img%08d.png for every image of one level, plus dataset.json with labels
    (ada-pytorch form,
    so the folder goes back in with `create_from_images --labels OUT_DIR/dataset.json
    --no-shuffle`), and for multi-hot attributes attributes.csv (`--attributes`)."""
    import PIL.Image

    d = records.describe(data_dir)
    level = _level(d, resolution)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for n, img in enumerate(iter_images(d, level, max_images), 1):
        mode = "L" if img.shape[2] == 1 else "RGB"
        PIL.Image.fromarray(img[:, :, 0] if mode == "L" else img, mode).save(
            out_dir / f"img{n - 1:08d}.png"
        )
    if d["c_dim"]:
        labels = records.load_labels(d)[:n]
        classes = [_class_of(r) for r in labels]
        value = classes if all(c is not None for c in classes) else labels.tolist()
        (out_dir / "dataset.json").write_text(
            json.dumps({"labels": [[f"img{i:08d}.png", v] for i, v in enumerate(value)]}) + "\n",
            encoding="utf-8",
        )
        if (d.get("labels") or {}).get("multi_hot"):  # create_from_images --attributes takes it
            names = d["labels"].get("names") or [f"attr{k}" for k in range(d["c_dim"])]
            rows = [",".join(["file", *names])]
            rows += [
                f"img{i:08d}.png," + ",".join(str(int(v)) for v in r) for i, r in enumerate(labels)
            ]
            (out_dir / "attributes.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    log(f"Extracted {n} images of {2**level}x{2**level} to {out_dir}")
    return n


def compare(dir_a, dir_b, ignore_labels=False, log=print):
    """Walks both datasets in global order at every common level; returns True when equal."""
    a, b = records.describe(dir_a), records.describe(dir_b)
    equal = True
    if a["count"] != b["count"]:
        log(f"Image counts differ: {a['count']} vs {b['count']}")
        equal = False
    levels = sorted(set(a["files"]) & set(b["files"]), reverse=True)
    if set(a["files"]) != set(b["files"]):
        log(f"Levels differ: {sorted(a['files'])} vs {sorted(b['files'])}")
        equal = False
    n = min(a["count"], b["count"])
    for lv in levels:
        same = diff = 0
        for i, (x, y) in enumerate(zip(iter_images(a, lv, n), iter_images(b, lv, n))):
            if x.shape == y.shape and np.array_equal(x, y):
                same += 1
            else:
                if diff < 5:
                    log(f"  r{lv:02d} image {i} differs")
                diff += 1
        log(f"r{lv:02d}: {same} identical images, {diff} differing")
        equal &= diff == 0
    if not ignore_labels:
        la, lb = records.load_labels(a)[:n], records.load_labels(b)[:n]
        if la.shape[1] != lb.shape[1]:
            log(f"Label sizes differ: {la.shape[1]} vs {lb.shape[1]}")
            equal = False
        else:
            same = int(np.sum(np.all(la == lb, axis=1)))
            log(f"labels: {same} identical, {n - same} differing")
            equal &= same == n
    log("Datasets are equal." if equal else "Datasets differ.")
    return equal


def disk_bytes(data_dir):
    return sum(p.stat().st_size for p in pathlib.Path(data_dir).iterdir() if p.is_file())
