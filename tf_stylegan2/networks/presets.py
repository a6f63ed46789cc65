"""Named network configurations as data: TF1 config-e / config-f, ADA-PT `train.py --cfg` presets,
and the CPU presets 'tiny' (tests) and 'demo' (make demo, 32x32 conditional).

`network_kwargs(name, img_resolution, img_channels, c_dim)` -> (G_kwargs, D_kwargs) for
`Generator(**G_kwargs)` and `Discriminator(**D_kwargs)`. The training hyper-parameters of the same
names live in one place only: training/config.py (PRESETS).
"""

import copy

# name -> dict(z_dim, w_dim, mapping layers, channel_base, channel_max, G/D architecture,
#              mbstd group,
#              conv_clamp, num_fp16_res, D mapping kwargs)
_NETWORKS = {
    # TF1 StyleGAN2 (paper Table 1): fp32, no clamp, fmap_base 8192 / 16384 -> channel_base x2.
    "config-e": dict(
        z_dim=512,
        w_dim=512,
        map=8,
        channel_base=16384,
        channel_max=512,
        g_arch="skip",
        d_arch="resnet",
        mbstd=4,
        conv_clamp=None,
        num_fp16_res=0,
    ),
    "config-f": dict(
        z_dim=512,
        w_dim=512,
        map=8,
        channel_base=32768,
        channel_max=512,
        g_arch="skip",
        d_arch="resnet",
        mbstd=4,
        conv_clamp=None,
        num_fp16_res=0,
    ),
    # Configs A-D of the paper (progressive growing; TF1 fmap_base 8192 -> channel_base 16384).
    # A: StyleGAN (v1) G_style / D_basic; B-D: G_synthesis_stylegan_revised / D_stylegan.
    "config-a": dict(
        z_dim=512,
        w_dim=512,
        map=8,
        channel_base=16384,
        channel_max=512,
        g_arch="adain",
        d_arch="basic",
        mbstd=4,
        conv_clamp=None,
        num_fp16_res=0,
        sg1_mapping=True,
    ),
    **{
        f"config-{x}": dict(
            z_dim=512,
            w_dim=512,
            map=8,
            channel_base=16384,
            channel_max=512,
            g_arch="progressive",
            d_arch="progressive",
            mbstd=4,
            conv_clamp=None,
            num_fp16_res=0,
        )
        for x in "bcd"
    },
    # ADA-PT train.py --cfg presets (fp16 on the top 4 resolutions there; we: fp32 + the clamp).
    "stylegan2": dict(
        z_dim=512,
        w_dim=512,
        map=8,
        channel_base=32768,
        channel_max=512,
        g_arch="skip",
        d_arch="resnet",
        mbstd=4,
        conv_clamp=256,
        num_fp16_res=4,
    ),
    "paper256": dict(
        z_dim=512,
        w_dim=512,
        map=8,
        channel_base=16384,
        channel_max=512,
        g_arch="skip",
        d_arch="resnet",
        mbstd=8,
        conv_clamp=256,
        num_fp16_res=4,
    ),
    "paper512": dict(
        z_dim=512,
        w_dim=512,
        map=8,
        channel_base=32768,
        channel_max=512,
        g_arch="skip",
        d_arch="resnet",
        mbstd=8,
        conv_clamp=256,
        num_fp16_res=4,
    ),
    "paper1024": dict(
        z_dim=512,
        w_dim=512,
        map=8,
        channel_base=32768,
        channel_max=512,
        g_arch="skip",
        d_arch="resnet",
        mbstd=4,
        conv_clamp=256,
        num_fp16_res=4,
    ),
    "cifar": dict(
        z_dim=512,
        w_dim=512,
        map=2,
        channel_base=32768,
        channel_max=512,
        g_arch="skip",
        d_arch="orig",
        mbstd=32,
        conv_clamp=256,
        num_fp16_res=4,
    ),
    # CPU presets. tiny: a few channels, for tests (res 16-32). demo: 32x32 conditional, 2 cores.
    "tiny": dict(
        z_dim=32,
        w_dim=32,
        map=2,
        channel_base=512,
        channel_max=32,
        g_arch="skip",
        d_arch="resnet",
        mbstd=4,
        conv_clamp=None,
        num_fp16_res=4,  # only with --precision bf16/fp16 (no clamp: bf16 has float32's range)
        d_map=2,
    ),
    "demo": dict(
        z_dim=128,
        w_dim=128,
        map=2,
        channel_base=2048,
        channel_max=128,
        g_arch="skip",
        d_arch="resnet",
        mbstd=4,
        conv_clamp=None,
        num_fp16_res=4,  # only with --precision bf16/fp16 (no clamp: bf16 has float32's range)
        d_map=2,
    ),
}

NAMES = tuple(_NETWORKS)


def network_kwargs(name, img_resolution, img_channels=3, c_dim=0):
    """(G_kwargs, D_kwargs) of preset `name` for the given data shape."""
    if name not in _NETWORKS:
        raise ValueError(f"unknown network preset {name!r}; choose one of {', '.join(NAMES)}")
    p = _NETWORKS[name]
    G_kwargs = dict(
        z_dim=p["z_dim"],
        c_dim=int(c_dim),
        w_dim=p["w_dim"],
        img_resolution=int(img_resolution),
        img_channels=int(img_channels),
        mapping_kwargs=dict(num_layers=p["map"]),
        synthesis_kwargs=dict(
            architecture=p["g_arch"],
            channel_base=p["channel_base"],
            channel_max=p["channel_max"],
            num_fp16_res=p["num_fp16_res"],
            conv_clamp=p["conv_clamp"],
        ),
    )
    D_kwargs = dict(
        c_dim=int(c_dim),
        img_resolution=int(img_resolution),
        img_channels=int(img_channels),
        architecture=p["d_arch"],
        channel_base=p["channel_base"],
        channel_max=p["channel_max"],
        mbstd_group_size=p["mbstd"],
        conv_clamp=p["conv_clamp"],
        num_fp16_res=p["num_fp16_res"],
        mapping_kwargs=dict(num_layers=p["d_map"]) if "d_map" in p else {},
    )
    if p.get("sg1_mapping"):  # TF1 G_style: gains in the weights, truncation cutoff 8
        G_kwargs["mapping_kwargs"].update(gain_in_weights=True, truncation_cutoff=8)
        for key in ("num_fp16_res", "conv_clamp"):
            del G_kwargs["synthesis_kwargs"][key], D_kwargs[key]
        del D_kwargs["mapping_kwargs"]
    return copy.deepcopy(G_kwargs), copy.deepcopy(D_kwargs)
