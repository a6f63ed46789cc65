"""TensorBoard scalars and images written with core TF only (tensorflow-cpu ships without
tensorboard).

`tf.summary.scalar`/`image` live in the tensorboard package; `tf.summary.write` does not. These
write the same records (plugin 'scalars' / 'images'), so TensorBoard shows them as usual.
"""

import io

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2


def _metadata(plugin):
    md = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin)
    )
    if plugin == "images":
        md.data_class = summary_pb2.DATA_CLASS_BLOB_SEQUENCE
    else:
        md.data_class = summary_pb2.DATA_CLASS_SCALAR
    return md.SerializeToString()


_SCALAR = _metadata("scalars")
_IMAGE = _metadata("images")


def scalar(tag, value, step):
    """Scalar summary on the default writer."""
    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step, metadata=_SCALAR)


def image(tag, img, step):
    """One uint8 image [H,W,C] as an image summary (PNG)."""
    from PIL import Image

    img = np.asarray(img, np.uint8)
    pil = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    tensor = tf.constant([str(img.shape[1]).encode(), str(img.shape[0]).encode(), buf.getvalue()])
    tf.summary.write(tag, tensor, step=step, metadata=_IMAGE)
