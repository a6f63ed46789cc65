"""Generator = MappingNetwork + SynthesisNetwork (ADA-PT training/networks.py Generator)."""

import copy

import keras

from tf_stylegan2.layers.base import full_precision, no_autocast
from tf_stylegan2.networks.mapping import MappingNetwork
from tf_stylegan2.networks.style_synthesis import StyleSynthesisNetwork
from tf_stylegan2.networks.synthesis import SynthesisNetwork

PACKAGE = "tf_stylegan2"


@keras.saving.register_keras_serializable(package=PACKAGE)
class Generator(keras.Model):
    """StyleGAN2 generator (ADA-PT `Generator`), NHWC float32 output with nominal range [-1, 1].

    Args:
        z_dim, c_dim, w_dim, img_resolution, img_channels.
        mapping_kwargs: MappingNetwork kwargs (num_layers=8, embed_features, layer_features,
            lr_multiplier=0.01, w_avg_beta=0.995).
        synthesis_kwargs: SynthesisNetwork kwargs (architecture='skip', channel_base=32768,
            channel_max=512, conv_clamp=None, fused_modconv=True, resample_filter=[1,3,3,1]);
            architecture='adain' builds StyleGAN's StyleSynthesisNetwork (config A).
        label_names: None, or c_dim names of the label columns (classes or attributes, from the
            dataset manifest), kept so that tools can ask for labels by name.
    Call: `G(z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const',
        noise_seed=None,
        fused_modconv=None, update_w_avg=False)` -> [N, R, R, img_channels].
    Example:
        >>> G = Generator(512, 0, 512, 1024, 3)
        >>> img = G(tf.random.normal([1, 512]), None, truncation_psi=0.7)   # [1, 1024, 1024, 3]
    Reference: ADA-PT training/networks.py Generator.
    """

    def __init__(
        self,
        z_dim,
        c_dim,
        w_dim,
        img_resolution,
        img_channels,
        mapping_kwargs=None,
        synthesis_kwargs=None,
        label_names=None,
        **kwargs,
    ):
        super().__init__(**no_autocast(kwargs))
        if label_names is not None and len(label_names) != int(c_dim):
            raise ValueError(f"label_names has {len(label_names)} names for c_dim {c_dim}")
        self.label_names = None if label_names is None else [str(n) for n in label_names]
        self.z_dim = int(z_dim)
        self.c_dim = int(c_dim)
        self.w_dim = int(w_dim)
        self.img_resolution = int(img_resolution)
        self.img_channels = int(img_channels)
        self.mapping_kwargs = copy.deepcopy(dict(mapping_kwargs or {}))
        self.synthesis_kwargs = copy.deepcopy(dict(synthesis_kwargs or {}))
        # architecture 'adain': StyleGAN's (v1) synthesis network of config A
        adain = self.synthesis_kwargs.get("architecture") == "adain"
        self.synthesis = (StyleSynthesisNetwork if adain else SynthesisNetwork)(
            w_dim=self.w_dim,
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            name="synthesis",
            dtype=self.dtype_policy,
            **self.synthesis_kwargs,
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=self.z_dim,
            c_dim=self.c_dim,
            w_dim=self.w_dim,
            num_ws=self.num_ws,
            name="mapping",
            dtype=full_precision(self.dtype_policy),  # the mapping runs in float32 (ADA-PT)
            **self.mapping_kwargs,
        )
        self.build(None)

    def build(self, input_shape=None):
        if self.built:
            return
        self.synthesis.build(None)
        self.mapping.build(None)
        self.built = True

    def call(
        self,
        z,
        c=None,
        truncation_psi=1.0,
        truncation_cutoff=None,
        noise_mode="const",
        noise_seed=None,
        fused_modconv=None,
        update_w_avg=False,
    ):
        ws = self.mapping(
            z,
            c,
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
            update_w_avg=update_w_avg,
        )
        return self.synthesis(
            ws, noise_mode=noise_mode, noise_seed=noise_seed, fused_modconv=fused_modconv
        )

    def compute_output_shape(self, input_shape=None, *args, **kwargs):
        r = self.img_resolution
        return (input_shape[0] if input_shape else None, r, r, self.img_channels)

    def get_config(self):
        config = super().get_config()  # name, trainable, dtype
        config.update(
            z_dim=self.z_dim,
            c_dim=self.c_dim,
            w_dim=self.w_dim,
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            mapping_kwargs=copy.deepcopy(self.mapping_kwargs),
            synthesis_kwargs=copy.deepcopy(self.synthesis_kwargs),
        )
        if self.label_names is not None:
            config["label_names"] = list(self.label_names)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def _default_save_signature(self):
        # Keras would trace `self(inputs)` with one input for a SavedModel export, which cannot
        # express this call signature; exporters define their own tf.function signatures.
        return None
