"""Keras layers with weights (equalized LR): dense, conv, synthesis layer, ToRGB, D blocks."""

from tf_stylegan2.layers.base import Conv2dLayer, FullyConnectedLayer
from tf_stylegan2.layers.discriminator import (
    DiscriminatorBlock,
    DiscriminatorEpilogue,
    MinibatchStdLayer,
)
from tf_stylegan2.layers.synthesis import NOISE_MODES, SynthesisBlock, SynthesisLayer, ToRGBLayer

__all__ = [
    "Conv2dLayer",
    "FullyConnectedLayer",
    "DiscriminatorBlock",
    "DiscriminatorEpilogue",
    "MinibatchStdLayer",
    "NOISE_MODES",
    "SynthesisBlock",
    "SynthesisLayer",
    "ToRGBLayer",
]
