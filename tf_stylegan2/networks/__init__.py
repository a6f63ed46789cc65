"""Networks: MappingNetwork, SynthesisNetwork, Generator, Discriminator, and named presets."""

from tf_stylegan2.networks import precision, presets
from tf_stylegan2.networks.basic_discriminator import BasicDiscriminator
from tf_stylegan2.networks.discriminator import Discriminator
from tf_stylegan2.networks.generator import Generator
from tf_stylegan2.networks.mapping import MappingNetwork
from tf_stylegan2.networks.style_synthesis import StyleSynthesisNetwork
from tf_stylegan2.networks.synthesis import SynthesisNetwork, channels_at


def make_discriminator(**D_kwargs):
    """The discriminator D_kwargs describe: BasicDiscriminator for architecture 'basic' (config A,
    StyleGAN's D_basic), else Discriminator."""
    cls = BasicDiscriminator if D_kwargs.get("architecture") == "basic" else Discriminator
    return cls(**D_kwargs)


__all__ = [
    "precision",
    "presets",
    "BasicDiscriminator",
    "Discriminator",
    "make_discriminator",
    "StyleSynthesisNetwork",
    "Generator",
    "MappingNetwork",
    "SynthesisNetwork",
    "channels_at",
]
