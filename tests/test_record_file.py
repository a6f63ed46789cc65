"""dataset_tool/record_file.py: TFRecord files written without TensorFlow, byte for byte as
tf.io.TFRecordWriter writes them."""

import os
import subprocess

import numpy as np
import pytest

from dataset_tool import record_file, records

from dataset_helpers import REPO, TOOL


def test_masked_crc32c_known_values():
    # CRC32C check value of "123456789" (RFC 3720, Castagnoli) is 0xe3069283; masked per TF's
    # tensorflow/core/lib/hash/crc32c.h: rotate right by 15, add 0xa282ead8.
    crc = 0xE3069283
    masked = ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    assert record_file.masked_crc32c(b"123456789") == masked
    assert record_file.masked_crc32c(b"") == 0xA282EAD8  # crc32c of nothing is 0


def test_same_bytes_as_tf_record_writer(tmp_path):
    import tensorflow as tf

    rng = np.random.RandomState(0)
    payloads = [b"", b"x", rng.bytes(12288), rng.bytes(1 << 20), rng.bytes(77)]
    with record_file.RecordFileWriter(tmp_path / "ours.tfrecords") as w:
        for p in payloads:
            w.write(p)
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecords")) as w:
        for p in payloads:
            w.write(p)
    assert (tmp_path / "ours.tfrecords").read_bytes() == (tmp_path / "tf.tfrecords").read_bytes()
    # and TensorFlow reads it back, checking the CRCs
    got = [r.numpy() for r in tf.data.TFRecordDataset(str(tmp_path / "ours.tfrecords"))]
    assert got == payloads
    assert list(records.iter_records(tmp_path / "ours.tfrecords")) == payloads


def test_factory_falls_back_to_tensorflow_without_google_crc32c(monkeypatch):
    import tensorflow as tf

    assert record_file.writer_factory() is record_file.RecordFileWriter
    monkeypatch.setattr(record_file, "google_crc32c", None)  # as when the import failed
    assert record_file.writer_factory() is tf.io.TFRecordWriter


@pytest.mark.parametrize("workers", [1, 2])
def test_dataset_tool_does_not_import_tensorflow(tmp_path, workers):
    """A build never imports TensorFlow (3 s of start-up), so workers are forked safely."""
    import PIL.Image

    src = tmp_path / "img"
    src.mkdir()
    for i in range(6):
        PIL.Image.fromarray(np.full([8, 8, 3], i * 40, np.uint8)).save(src / f"{i}.png")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(  # -X importtime: every imported module, on stderr
        TOOL[:1]
        + ["-X", "importtime"]
        + TOOL[1:]
        + ["create_from_images", tmp_path / "d", src]
        + ["--workers", str(workers)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "PIL.Image" in imported and "google_crc32c" in imported
    assert not {m for m in imported if m.split(".")[0] == "tensorflow"}
    assert records.describe(tmp_path / "d")["count"] == 6
