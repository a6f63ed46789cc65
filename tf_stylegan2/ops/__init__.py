"""Stateless TF ops (NHWC): FIR resampling, resampling convs, bias+activation, modulated conv,
minibatch stddev, second-moment normalization, naive resampling of progressive growing.
Imports nothing from the repo."""

from tf_stylegan2.ops.bias_act import ACTIVATIONS, bias_act, def_gain, lrelu
from tf_stylegan2.ops.conv2d_resample import conv2d_resample
from tf_stylegan2.ops.misc import minibatch_std, normalize_2nd_moment
from tf_stylegan2.ops.modulated_conv2d import modulated_conv2d
from tf_stylegan2.ops.naive_resample import box_downsample, fade_lod, nearest_upsample
from tf_stylegan2.ops.upfirdn2d import (
    downsample2d,
    filter2d,
    four_d_ops,
    setup_filter,
    upfirdn2d,
    upsample2d,
)

__all__ = [
    "ACTIVATIONS",
    "bias_act",
    "def_gain",
    "lrelu",
    "conv2d_resample",
    "minibatch_std",
    "normalize_2nd_moment",
    "modulated_conv2d",
    "box_downsample",
    "fade_lod",
    "nearest_upsample",
    "downsample2d",
    "filter2d",
    "four_d_ops",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]
