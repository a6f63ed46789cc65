"""Official StyleGAN2 network pickles (TF1 and stylegan2-ada-pytorch) without TF1 or torch.

    nets = tf_stylegan2.legacy.load_pickle("stylegan2-ffhq-config-f.pkl")   # G, D, G_ema
    specs = tf_stylegan2.legacy.read_network_pickle(path)   # ADA-PT kwargs + numpy state

Nothing stored in a pickle is executed: a restricted unpickler maps a fixed list
of globals to plain-data stand-ins and refuses every other one (PickleRefusedError).
"""

from tf_stylegan2.legacy.ada_pickle import NetworkSpec
from tf_stylegan2.legacy.loader import build_network, load_pickle, read_network_pickle
from tf_stylegan2.legacy.safe_pickle import LegacyFormatError, PickleRefusedError
from tf_stylegan2.legacy.tf1_pickle import UnsupportedTF1Pickle

__all__ = [
    "LegacyFormatError",
    "NetworkSpec",
    "PickleRefusedError",
    "UnsupportedTF1Pickle",
    "build_network",
    "load_pickle",
    "read_network_pickle",
]
