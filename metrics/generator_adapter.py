"""What the metrics need from a generator (ours, or any callable), and the official uint8
rounding."""

import numpy as np


class GeneratorAdapter:
    """What the metrics need from a generator.

    Accepted forms:
      * our Generator (or anything with z_dim, c_dim, mapping and synthesis as in CONTRACT.md):
        images = G(z, c, noise_mode='random'); PPL uses G.mapping(z, c) and
        G.synthesis(ws, noise_mode='random', noise_seed=seed) (seeds shared by both ends of a pair);
      * a callable `generator(z, c) -> images NHWC float32 in [-1,1]` with z_dim= (and c_dim=);
        PPL then needs mapping=(z, c) -> ws and synthesis=(ws, noise_seed) -> images.
    """

    def __init__(
        self,
        generator=None,
        z_dim=None,
        c_dim=None,
        mapping=None,
        synthesis=None,
        noise_mode="random",
    ):
        self.G = generator
        self.z_dim = z_dim if z_dim is not None else getattr(generator, "z_dim", None)
        self.c_dim = c_dim if c_dim is not None else getattr(generator, "c_dim", 0)
        self.noise_mode = noise_mode
        self._mapping = mapping
        self._synthesis = synthesis
        self._is_network = hasattr(generator, "mapping") and hasattr(generator, "synthesis")
        if generator is not None and self.z_dim is None:
            raise ValueError("the generator has no z_dim attribute: pass z_dim=")

    def generate(self, z, c, noise_seed=None):
        """[N,H,W,C] float32 in [-1,1]; metrics never truncate; random noise as the official code
        (drawn from noise_seed, int32 [2], so runs are repeatable and work under op determinism)."""
        c = c if self.c_dim else None
        if self._is_network:
            return self.G(
                z, c, truncation_psi=1.0, noise_mode=self.noise_mode, noise_seed=noise_seed
            )
        return self.G(z, c)

    @property
    def has_mapping(self):
        return self._mapping is not None or self._is_network

    def mapping(self, z, c):
        c = c if self.c_dim else None
        if self._mapping is not None:
            return self._mapping(z, c)
        return self.G.mapping(z, c, truncation_psi=1.0)

    def synthesis(self, ws, noise_seed):
        if self._synthesis is not None:
            return self._synthesis(ws, noise_seed)
        return self.G.synthesis(ws, noise_mode="random", noise_seed=noise_seed)


def sample_labels(labels, num, rng):
    """Random dataset labels [num, c_dim] (none when c_dim == 0), as the official fakes use."""
    if labels is None or labels.shape[1] == 0:
        return np.zeros([num, 0], np.float32)
    return labels[rng.randint(len(labels), size=num)]
