"""tf_stylegan2: StyleGAN2 networks as Keras 3 layers, equal to NVIDIA's.

import tf_stylegan2
from tf_stylegan2.networks import Generator, Discriminator, presets
nets = tf_stylegan2.load_network("network-snapshot-000100.keras")   # or an official .pkl
img = nets["G_ema"](z, c, truncation_psi=0.7, noise_mode="const")     # [N, H, W, C] in [-1, 1]
"""

from tf_stylegan2.snapshot import load_network, load_snapshot, save_snapshot

__all__ = ["load_network", "load_snapshot", "save_snapshot"]
