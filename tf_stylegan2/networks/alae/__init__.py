"""StyleALAE (official ALAE): the model and its layers; official state dicts in alae_state."""

from tf_stylegan2.networks.alae.alae_state import apply_official_state
from tf_stylegan2.networks.alae.model import ALAE

__all__ = ["ALAE", "apply_official_state"]
