"""Converting the public .pth weight files (pytorch-fid's Inception, torchvision's VGG16 with the
LPIPS linear layers) to the npz layouts our Keras detectors load. Reads through fileio's restricted
torch reader: no code from the file runs."""

import pathlib

import numpy as np

from fileio.torch_files import read_pth

_FID_BLOCKS = {
    "Conv2d_1a_3x3": "conv",
    "Conv2d_2a_3x3": "conv_1",
    "Conv2d_2b_3x3": "conv_2",
    "Conv2d_3b_1x1": "conv_3",
    "Conv2d_4a_3x3": "conv_4",
    "Mixed_5b": "mixed",
    "Mixed_5c": "mixed_1",
    "Mixed_5d": "mixed_2",
    "Mixed_6a": "mixed_3",
    "Mixed_6b": "mixed_4",
    "Mixed_6c": "mixed_5",
    "Mixed_6d": "mixed_6",
    "Mixed_6e": "mixed_7",
    "Mixed_7a": "mixed_8",
    "Mixed_7b": "mixed_9",
    "Mixed_7c": "mixed_10",
}
_FID_BRANCHES = {  # torchvision branch name -> TF graph name, per block type
    "A": {
        "branch1x1": "conv",
        "branch5x5_1": "tower.conv",
        "branch5x5_2": "tower.conv_1",
        "branch3x3dbl_1": "tower_1.conv",
        "branch3x3dbl_2": "tower_1.conv_1",
        "branch3x3dbl_3": "tower_1.conv_2",
        "branch_pool": "tower_2.conv",
    },
    "B": {
        "branch3x3": "conv",
        "branch3x3dbl_1": "tower.conv",
        "branch3x3dbl_2": "tower.conv_1",
        "branch3x3dbl_3": "tower.conv_2",
    },
    "C": {
        "branch1x1": "conv",
        "branch7x7_1": "tower.conv",
        "branch7x7_2": "tower.conv_1",
        "branch7x7_3": "tower.conv_2",
        "branch7x7dbl_1": "tower_1.conv",
        "branch7x7dbl_2": "tower_1.conv_1",
        "branch7x7dbl_3": "tower_1.conv_2",
        "branch7x7dbl_4": "tower_1.conv_3",
        "branch7x7dbl_5": "tower_1.conv_4",
        "branch_pool": "tower_2.conv",
    },
    "D": {
        "branch3x3_1": "tower.conv",
        "branch3x3_2": "tower.conv_1",
        "branch7x7x3_1": "tower_1.conv",
        "branch7x7x3_2": "tower_1.conv_1",
        "branch7x7x3_3": "tower_1.conv_2",
        "branch7x7x3_4": "tower_1.conv_3",
    },
    "E": {
        "branch1x1": "conv",
        "branch3x3_1": "tower_conv",
        "branch3x3_2a": "tower_mixed_conv",
        "branch3x3_2b": "tower_mixed_conv_1",
        "branch3x3dbl_1": "tower_1_conv",
        "branch3x3dbl_2": "tower_1_conv_1",
        "branch3x3dbl_3a": "tower_1_mixed_conv",
        "branch3x3dbl_3b": "tower_1_mixed_conv_1",
        "branch_pool": "tower_2_conv",
    },
}
_BLOCK_TYPE = {"Mixed_5": "A", "Mixed_6a": "B", "Mixed_6": "C", "Mixed_7a": "D", "Mixed_7": "E"}


def _block_type(block):
    return _BLOCK_TYPE.get(block) or _BLOCK_TYPE[block[:-1]]


def pytorch_fid_to_npz(state):
    """pytorch-fid `pt_inception-2015-12-05-*.pth` state dict -> our npz arrays (+ fc.* for IS)."""
    out = {}
    for name, value in state.items():
        parts = name.split(".")
        if parts[0] == "fc":
            out[name] = value.astype(np.float32)
            continue
        block, param = parts[0], parts[-1]
        if block.startswith("Conv2d"):
            prefix = _FID_BLOCKS[block]
        else:
            prefix = _FID_BLOCKS[block] + "." + _FID_BRANCHES[_block_type(block)][parts[1]]
        tf_param = {
            "weight": "weight",
            "bias": "beta",
            "running_mean": "mean",
            "running_var": "var",
        }.get(param)
        if parts[-2] == "bn" and param == "weight":
            if not np.allclose(value, 1.0):
                raise ValueError(f"{name}: the 2015 Inception has no batch-norm scale")
            continue
        if tf_param is None:
            continue
        out[f"{prefix}.{tf_param}"] = value.astype(np.float32)
    return out


def lpips_vgg_to_npz(vgg_state, lin_state):
    """torchvision vgg16 state dict + lpips vgg.pth -> `vgg16_lpips_v0.1_keras_layout` arrays."""
    conv_index = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    names = [
        f"block{b}_conv{c}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for c in range(1, n + 1)
    ]
    out = {}
    for idx, name in zip(conv_index, names):
        out[f"{name}/kernel"] = vgg_state[f"features.{idx}.weight"].transpose(
            2, 3, 1, 0
        )  # OIHW->HWIO
        out[f"{name}/bias"] = vgg_state[f"features.{idx}.bias"]
    for layer in range(5):
        out[f"lin{layer}/kernel"] = lin_state[f"lin{layer}.model.1.weight"].transpose(2, 3, 1, 0)
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def load_inception_arrays(path):
    """Inception arrays from our npz, or from pytorch-fid's .pth (converted on the fly)."""
    path = pathlib.Path(path)
    if path.suffix == ".pth":
        return pytorch_fid_to_npz(read_pth(path))
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
