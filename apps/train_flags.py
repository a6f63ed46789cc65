"""The flags of training/run.py (absl), defined in one place so the script stays short."""


def define(flags, precisions):
    """Define every flag of training/run.py on absl `flags`."""
    flags.DEFINE_integer(
        "gpus",
        None,
        "Devices per machine (replicas); without GPUs, logical CPU devices. Default 1.",
    )
    flags.DEFINE_string(
        "data", None, "Dataset directory (dataset_tool.py output or NVIDIA's TFRecords)."
    )
    flags.DEFINE_string(
        "config",
        "config-f",
        "Preset: config-a, config-b, config-c, config-d (progressive growing), config-e, "
        "config-f, stylegan2, paper256, paper512, paper1024, cifar, tiny, demo; StyleALAE: "
        "alae-small, alae-demo, alae-64.",
    )
    flags.DEFINE_string("outdir", "runs", "Parent directory of the run directories.")
    flags.DEFINE_integer("batch", None, "Global minibatch (all replicas and rounds together).")
    flags.DEFINE_integer(
        "batch-gpu",
        None,
        "Samples per device and round (default: the preset's, "
        "e.g. 4); --batch must be a multiple of batch-gpu x replicas, the gradient "
        "is accumulated over the rounds. Peak memory follows batch-gpu.",
    )
    flags.DEFINE_float("gamma", None, "Override R1 gamma.")
    flags.DEFINE_boolean("mirror", None, "Random x-flips of the reals.")
    flags.DEFINE_float("total-kimg", None, "Training length in thousands of real images.")
    flags.DEFINE_integer("seed", None, "Random seed (default 0).")
    flags.DEFINE_float("kimg-per-tick", None, "Tick length in kimg.")
    flags.DEFINE_integer("snap", None, "Ticks between snapshots (network, image grid, metrics).")
    flags.DEFINE_string(
        "resume",
        None,
        "RUN_DIR or 'latest' (continue exactly), or SNAPSHOT.keras / "
        "official .pkl (new run from these weights).",
    )
    flags.DEFINE_string("metrics", "none", "Comma-separated metrics at each snapshot, or 'none'.")
    flags.DEFINE_boolean("cond", False, "Conditional training on the dataset labels.")
    flags.DEFINE_enum(
        "cond-mode",
        None,
        ["projection", "acgan", "both"],
        "With --cond: D's conditioning: projection (ADA-PT, default), acgan (auxiliary "
        "classifier and AC-GAN loss) or both.",
    )
    flags.DEFINE_float(
        "acgan-weight",
        None,
        "Weight of the AC-GAN class terms (--cond-mode acgan|both; default 1).",
    )
    flags.DEFINE_string(
        "guide",
        None,
        "With --cond: a frozen classifier (metrics/run.py train-classifier) whose cross-entropy "
        "on G's images joins G's loss.",
    )
    flags.DEFINE_float("guide-weight", None, "Weight beta of the --guide term (default 1).")
    flags.DEFINE_boolean("dry-run", False, "Print the resolved configuration and exit.")
    flags.DEFINE_boolean(
        "deterministic",
        False,
        "Deterministic TF kernels (tf.config.experimental."
        "enable_op_determinism): a resumed run is then bit-identical to an uninterrupted one.",
    )
    flags.DEFINE_boolean(
        "grappler",
        True,
        "TensorFlow's graph optimizations (--nograppler: faster "
        "start-up of small networks, slower steps; the tests use it).",
    )
    flags.DEFINE_boolean(
        "jit", False, "XLA-compile the per-replica phase computations (jit_compile)."
    )
    flags.DEFINE_enum(
        "precision",
        "fp32",
        precisions,
        "Compute precision of G and D: fp32 (default: results independent of the CPU), bf16 or "
        "fp16 in the top num_fp16_res resolutions (weights, losses, EMA stay float32), fp64 "
        "(reference), auto (fp16 on GPUs, bf16 on CPUs with native bfloat16, else fp32).",
    )
    flags.DEFINE_enum(
        "aug",
        None,
        ["ada", "noaug", "fixed"],
        "Augmentation (ADA): adaptive strength p, none, or fixed p (default: ada for the "
        "stylegan2-ada presets, noaug for config-e/f, tiny, demo).",
    )
    flags.DEFINE_integer(
        "freezed", None, "Freeze the first N layers of D (highest resolutions; transfer learning)."
    )
    flags.DEFINE_float("p", None, "Augmentation strength for --aug fixed.")
    flags.DEFINE_float("target", None, "ADA target of r_t = E[sign(D(real))] (default 0.6).")
    flags.DEFINE_string(
        "augpipe",
        None,
        "Augmentation pipeline: blit, geom, color, filter, noise, cutout, bg, "
        "bgc (default), bgcf, bgcfn, bgcfnc.",
    )
    flags.DEFINE_float(
        "max-minutes",
        0.0,
        "Stop at the first tick end after this many minutes (0 = off), "
        "writing a snapshot and a checkpoint.",
    )
    flags.DEFINE_float(
        "lod-kimg",
        None,
        "Configs A-D: kimg a level trains alone and kimg of each fade-in (TF1 600 and 600).",
    )
    flags.DEFINE_integer("cbase", None, "Channel base: channels(R) = min(cbase / R, cmax).")
    flags.DEFINE_integer("cmax", None, "Most channels of any layer (default: the preset's).")
    flags.DEFINE_integer("epochs", None, "StyleALAE configs: training length in epochs.")
    flags.DEFINE_integer(
        "epochs-per-lod", None, "StyleALAE configs: epochs per level of detail (half fade-in)."
    )
    flags.DEFINE_enum(
        "generator",
        None,
        ["alae", "stylegan2"],
        "StyleALAE configs: the official AdaIN decoder (alae, default) or StyleGAN2's skip "
        "synthesis network (stylegan2).",
    )
