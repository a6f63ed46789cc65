"""Metrics command line.

python metrics/run.py --network SNAPSHOT_OR_PKL --data DATA_DIR --metrics fid50k,ppl_wend [--gpus N]
python metrics/run.py fid DIR_OR_DATASET_A DIR_OR_DATASET_B     # FID between two image sets
python metrics/run.py kid DIR_OR_DATASET_A DIR_OR_DATASET_B     # KID between two image sets
python metrics/run.py train-classifier --data DATA_DIR [--out FILE] # the judge of cls_acc
"""

import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from absl import flags  # noqa: E402

from apps import cli  # noqa: E402
from apps.quiet_start import quiet_tensorflow  # noqa: E402

quiet_tensorflow("2")

FLAGS = flags.FLAGS
RUN_DIR_MARKERS = ("training_options.json", "log.txt", "run.txt", "stats.jsonl")


def define_flags():
    flags.DEFINE_string("network", None, "Network snapshot (.keras) or official pickle (.pkl).")
    flags.DEFINE_string(
        "data", None, "Dataset directory (ours or NVIDIA's), folder of images or .npz."
    )
    flags.DEFINE_list(
        "metrics", ["fid50k_full"], "Comma-separated metric names, e.g. fid50k,ppl_wend."
    )
    flags.DEFINE_integer("gpus", 1, "Number of GPUs (replicas of a MirroredStrategy).")
    flags.DEFINE_enum(
        "precision",
        "fp32",
        cli.PRECISIONS,
        "G's compute precision: fp32 (default; the published protocol), bf16 or fp16 in the top "
        "num_fp16_res resolutions, fp64, auto (fp16 on GPUs, bf16 on CPUs with native bfloat16).",
    )
    flags.DEFINE_string("weights-dir", None, "Folder with the metric weight files.")
    flags.DEFINE_string(
        "detector",
        "inception",
        "inception (official FID) or keras_inception (keras.applications, not comparable).",
    )
    flags.DEFINE_integer("batch", None, "Images per batch (default 32; PPL pairs 4).")
    flags.DEFINE_boolean("mirror", False, "Randomly mirror reals (fid50k/kid50k/pr50k3 protocol).")
    flags.DEFINE_string(
        "cache-dir", None, "Real-statistics cache (default ~/.cache/tf_stylegan2/metrics)."
    )
    flags.DEFINE_boolean("no-cache", False, "Do not read or write the real-statistics cache.")
    flags.DEFINE_integer("max-images", None, "fid/kid between two sets: use the first N of each.")
    flags.DEFINE_integer("seed", None, "Seed for latents (default: fresh randomness, as NVIDIA).")
    flags.DEFINE_string(
        "run-dir",
        None,
        "Where to append metric-<name>.jsonl (default: the snapshot's run folder, if it is one).",
    )
    flags.DEFINE_boolean("verbose", True, "Progress bars on stderr.")
    flags.DEFINE_string(
        "classifier", None, "cls_acc's classifier (.keras; default DATA_DIR/classifier.keras)."
    )
    flags.DEFINE_string(
        "out", None, "train-classifier: where to save (default DATA_DIR/classifier.keras)."
    )
    flags.DEFINE_integer("epochs", 5, "train-classifier: passes over the training images.")


def _fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _strategy(num_gpus):
    """Training's strategy helper: N GPUs, or N logical CPU devices on a machine without GPUs.
    Must run before anything initializes TensorFlow's devices."""
    if num_gpus <= 1:
        return None
    from training.distribute import make_strategy

    try:
        return make_strategy(num_gpus, log=lambda message: print(message, file=sys.stderr))
    except (ValueError, RuntimeError) as err:
        _fail(str(err))


def _cache_dir():
    from metrics import extraction

    if FLAGS["no-cache"].value:
        return None
    return FLAGS["cache-dir"].value or extraction.default_cache_dir()


def _exists(path, what):
    if not os.path.exists(path):
        _fail(f"{path}: no such {what}")


def main_two_sets(kind, a, b):
    _exists(a, "folder or dataset")
    _exists(b, "folder or dataset")
    from metrics import fid, kid, metric_main, weights

    strategy = _strategy(FLAGS.gpus)
    try:
        det = metric_main.get_detector(FLAGS.detector, weights_dir=FLAGS["weights-dir"].value)
        fn = fid.fid_between if kind == "fid" else kid.kid_between
        value = fn(
            a,
            b,
            det,
            batch_size=FLAGS.batch or 32,
            max_items=FLAGS["max-images"].value,
            cache_dir=_cache_dir(),
            strategy=strategy,
            verbose=FLAGS.verbose,
        )
    except (weights.MissingWeightsError, ValueError, OSError) as err:
        _fail(str(err))
    note = "" if det.comparable else "  (Keras InceptionV3, not comparable)"
    print(f"{kind.upper()}: {value:.6g}{note}")


def main_train_classifier():
    data = FLAGS.data
    if not data:
        _fail("train-classifier: --data DATA_DIR is required")
    _exists(data, "dataset")
    if FLAGS.epochs < 1:
        _fail(f"--epochs {FLAGS.epochs} must be >= 1")
    out = FLAGS.out
    if out is not None and not out.endswith(".keras"):
        _fail(f"--out {out}: the classifier file must end in .keras")
    from dataset_tool.records import DatasetError
    from metrics import classifier_training

    try:
        classifier_training.train_classifier(
            data,
            out,
            epochs=FLAGS.epochs,
            batch_size=FLAGS.batch or 64,
            max_images=FLAGS["max-images"].value,
            seed=FLAGS.seed or 0,
        )
    except (DatasetError, ValueError, OSError) as err:
        _fail(str(err))


def _run_dir(network):
    if FLAGS["run-dir"].value:
        return FLAGS["run-dir"].value
    folder = pathlib.Path(network).resolve().parent
    return str(folder) if any((folder / m).exists() for m in RUN_DIR_MARKERS) else None


def _alae_generator(model):
    """A StyleALAE model as calc_metric's generator (no truncation, random noise) with the
    mapping / synthesis of PPL and the reconstruction of fidrec / rec."""

    def generate(z, c=None):
        return model.generate(z, truncation_psi=1.0, noise_mode="random")

    def reconstruct(images):
        return model.decode(model.encode(images), noise_mode="random")

    return generate, dict(
        z_dim=model.latent_size,
        mapping=lambda z, c=None: model.mapping(z),
        synthesis=lambda ws, seed: model.decode(ws, noise_mode="random", noise_seed=seed),
        reconstruct=reconstruct,
    )


def main_network():
    from metrics import metric_main, weights

    network, data = FLAGS.network, FLAGS.data
    for name in FLAGS.metrics:
        if not metric_main.is_valid_metric(name):
            _fail(f"--metrics: unknown metric {name!r}")
    _exists(network, "network file")
    if data is not None:
        _exists(data, "dataset")
    import tf_stylegan2

    strategy = _strategy(FLAGS.gpus)
    try:
        nets = tf_stylegan2.load_network(network)
    except Exception as err:  # noqa: BLE001 (any loading problem is a user error here)
        _fail(f"{network}: cannot load network ({err})")
    from tf_stylegan2.networks.precision import resolve_precision, with_policy

    extra = {}
    if nets.get("ALAE") is not None:  # StyleALAE: the averaged model, as the official metrics
        G, extra = _alae_generator(nets.get("ALAE_ema") or nets["ALAE"])
    else:
        G = with_policy(nets.get("G_ema") or nets.get("G"), resolve_precision(FLAGS.precision))
    run_dir = _run_dir(network)
    snapshot = os.path.basename(network).rsplit(".", 1)[0]
    print(f"{'network':<30s} {'time':<17s} metric values")
    for name in FLAGS.metrics:
        try:
            result = metric_main.calc_metric(
                name,
                generator=G,
                data=data,
                weights_dir=FLAGS["weights-dir"].value,
                detector=FLAGS.detector,
                batch_size=FLAGS.batch,
                mirror=FLAGS.mirror,
                cache_dir=_cache_dir(),
                strategy=strategy,
                seed=FLAGS.seed,
                verbose=FLAGS.verbose,
                snapshot=network,
                num_gpus=FLAGS.gpus,
                classifier=FLAGS.classifier,
                **extra,
            )
        except (weights.MissingWeightsError, ValueError, OSError) as err:
            _fail(str(err))
        print(metric_main.format_result(result, snapshot), flush=True)
        metric_main.report_metric(result, run_dir=run_dir, snapshot=network)


def main(argv):
    args = argv[1:]
    weights_dir = FLAGS["weights-dir"].value
    if weights_dir and not os.path.isdir(weights_dir):
        _fail(f"--weights-dir {weights_dir}: no such folder")
    if args:
        if args == ["train-classifier"]:
            return main_train_classifier()
        if args[0] in ("fid", "kid") and len(args) == 3:
            return main_two_sets(args[0], args[1], args[2])
        _fail(
            f"usage: run.py fid|kid A B, run.py train-classifier --data DATA, or run.py "
            f"--network ... (got {' '.join(args)})"
        )
    if FLAGS.network is None:
        _fail("--network is required (or use: run.py fid|kid A B)")
    main_network()


def run():
    define_flags()

    cli.run_script(main, sys.modules[__name__])


if __name__ == "__main__":
    run()
