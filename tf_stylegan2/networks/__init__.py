"""Networks: MappingNetwork, SynthesisNetwork, Generator, Discriminator, and named presets."""

from tf_stylegan2.networks import precision, presets
from tf_stylegan2.networks.discriminator import Discriminator
from tf_stylegan2.networks.generator import Generator
from tf_stylegan2.networks.mapping import MappingNetwork
from tf_stylegan2.networks.synthesis import SynthesisNetwork, channels_at

__all__ = [
    "precision",
    "presets",
    "Discriminator",
    "Generator",
    "MappingNetwork",
    "SynthesisNetwork",
    "channels_at",
]
