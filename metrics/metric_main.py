"""The metric registry and the one entry point, `calc_metric`.

Names say the protocol, as NVIDIA's do (stylegan2-ada-pytorch metrics/metric_main.py,
register_metric):
  fid50k        first 50k reals (wrapping around a smaller set, optional mirroring) vs 50k fakes
  fid50k_full   all reals (no mirroring) vs 50k fakes; fidNk / fidN / fidNk_full for other counts
  kid50k_full   all reals vs 50k fakes, 100 subsets of <= 1000; kidNk, kidNk_full, kidN...
  ppl_zfull, ppl_wfull, ppl_zend, ppl_wend   50k pairs, eps 1e-4, LPIPS VGG16, face crop;
                ppl2_wend without the crop; a count suffix for small runs: ppl_wend2k
  pr50k3        first 50k reals vs 50k fakes, k = 3; prNk3, pr50k3_full
  is50k         50k fakes, 10 splits; isNk
  cls_acc       10k fakes judged by a classifier trained on the reals (DATA/classifier.keras or
                classifier=); cls_accNk. Conditional generators only.
  msssim        100 pairs of fakes (and of reals) per label: mean MS-SSIM; msssimN pairs.
  fidrec50k     autoencoders (StyleALAE): the first 50k reals (wrapping) vs their reconstructions
                (official ALAE fid_rec.py); fidrecNk for other counts
  rec2k         autoencoders: mean squared error ([-1, 1]) and LPIPS VGG16 distance between the
                first 2k reals and their reconstructions (rec2k_mse, rec2k_lpips); recNk
Each result is a dict that calc_metric's caller can append to `metric-<name>.jsonl`.
"""

import json
import os
import pathlib
import re
import time

from metrics.progress import format_time

# The metric modules (and TensorFlow) are imported when a metric runs, so name checks are instant.

_COUNT = r"(\d+)(k?)"


def _count(digits, k):
    return int(digits) * (1000 if k else 1)


def parse_metric(name):
    """name -> (kind, options dict). Raises ValueError for unknown names."""
    m = re.fullmatch(rf"(fid|kid){_COUNT}(_full)?", name)
    if m:
        return m.group(1), dict(
            num_gen=_count(m.group(2), m.group(3)),
            max_real=None if m.group(4) else _count(m.group(2), m.group(3)),
            full=bool(m.group(4)),
        )
    m = re.fullmatch(rf"ppl(2?)_(z|w)(full|end)(?:{_COUNT})?", name)
    if m:
        num = _count(m.group(4), m.group(5)) if m.group(4) else 50000
        return "ppl", dict(
            num_samples=num, space=m.group(2), sampling=m.group(3), crop=not m.group(1)
        )
    m = re.fullmatch(rf"pr{_COUNT}(\d+)(_full)?", name)
    if m:  # pr50k3: 50k, k=3 (the last digit(s) after the count are the neighbourhood size)
        num = _count(m.group(1), m.group(2))
        return "pr", dict(
            num_gen=num,
            max_real=200000 if m.group(4) else num,
            nhood_size=int(m.group(3)),
            full=bool(m.group(4)),
        )
    m = re.fullmatch(rf"is{_COUNT}", name)
    if m:
        return "is", dict(num_gen=_count(m.group(1), m.group(2)))
    m = re.fullmatch(rf"cls_acc(?:{_COUNT})?", name)
    if m:
        return "cls_acc", dict(num_gen=_count(m.group(1), m.group(2)) if m.group(1) else 10000)
    m = re.fullmatch(rf"(fidrec|rec){_COUNT}", name)
    if m:
        return m.group(1), dict(num=_count(m.group(2), m.group(3)))
    m = re.fullmatch(r"msssim(\d+)?", name)
    if m:
        return "msssim", dict(num_pairs=int(m.group(1) or 100))
    raise ValueError(
        f"unknown metric {name!r}; known: {', '.join(KNOWN)} (and other counts, "
        f"e.g. fid10k, fid2k_full, kid10k_full, ppl_wend2k, pr10k3, is10k, cls_acc2k, msssim50)"
    )


KNOWN = (
    "fid50k",
    "fid50k_full",
    "kid50k_full",
    "kid50k",
    "ppl_zfull",
    "ppl_wfull",
    "ppl_zend",
    "ppl_wend",
    "ppl2_wend",
    "pr50k3",
    "pr50k3_full",
    "is50k",
    "cls_acc",
    "msssim",
    "fidrec50k",
    "rec2k",
)


def is_valid_metric(name):
    try:
        parse_metric(name)
        return True
    except ValueError:
        return False


# Weights each metric kind reads (metrics.weights keys); P&R uses Keras' ImageNet VGG16 file.
_KIND_WEIGHTS = {
    "fid": ("inception_fid",),
    "kid": ("inception_fid",),
    "is": ("inception_fid",),
    "ppl": ("lpips_vgg16",),
    "pr": (),
    "cls_acc": (),
    "msssim": (),
    "fidrec": ("inception_fid",),
    "rec": ("lpips_vgg16",),
}
KERAS_VGG16 = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_IMG_PER_SEC_CPU = 27  # docs/BENCHMARKS.md, 2-core CPU


def check_ready(names, weights_dir=None, on_gpu=False, log=print, data=None, c_dim=None):
    """Before a training run: every metric's weights are there (ValueError naming the metric and the
    file otherwise), the class metrics have a conditional run (c_dim) and cls_acc its classifier
    beside the data, and on a CPU a warning with the Inception passes per snapshot and their
    time."""
    from metrics import weights as weights_lib

    for name in names:
        kind, opts = parse_metric(name)
        if kind in ("cls_acc", "msssim") and c_dim == 0:
            raise ValueError(f"--metrics {name}: needs conditional training (--cond)")
        if kind == "cls_acc" and data is not None:
            _classifier_path(None, data, name)
        for key in _KIND_WEIGHTS[kind]:
            try:
                weights_lib.find_weights(key, weights_dir=weights_dir, download=False)
            except weights_lib.MissingWeightsError as e:
                if not weights_lib.downloads_allowed():
                    raise ValueError(f"--metrics {name}: {e}") from None
                log(f"WARNING: --metrics {name}: {e}; it will be downloaded at the first snapshot")
        if kind == "pr":
            keras_file = os.path.join(os.path.expanduser("~"), ".keras", "models", KERAS_VGG16)
            if not os.path.isfile(keras_file) and not weights_lib.downloads_allowed():
                raise ValueError(
                    f"--metrics {name}: needs Keras' ImageNet VGG16 weights "
                    f"({keras_file}), and downloads are disabled"
                )
        passes = opts.get("num_gen") or opts.get("num_samples") or 0
        if not on_gpu and kind in ("fid", "kid", "is", "pr") and passes >= 1000:
            minutes = passes / INCEPTION_IMG_PER_SEC_CPU / 60
            log(
                f"WARNING: --metrics {name} on a CPU: {passes} generated images through the "
                f"feature network per snapshot (about {minutes:.0f} min at "
                f"{INCEPTION_IMG_PER_SEC_CPU} img/s), plus the real images once"
            )


class MetricOptions:
    """Everything a metric function reads (built by calc_metric)."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


_DETECTORS = {}


def get_detector(name="inception", weights_dir=None, weights_path=None, jit_compile=False):
    """Detectors are loaded once per process (the Inception takes seconds to build)."""
    from metrics import inception

    key = (name, str(weights_dir), str(weights_path), jit_compile)
    if key not in _DETECTORS:
        _DETECTORS[key] = inception.make_detector(
            name, weights_path=weights_path, weights_dir=weights_dir, jit_compile=jit_compile
        )
    return _DETECTORS[key]


# One function per metric kind: (name, opts, parsed args, mirror) -> (results, extra fields).


def _fid(name, opts, args, mirror):
    from metrics import fid

    opts.mirror = mirror and not args["full"]
    opts.wrap_reals = not args["full"]  # NVlabs/stylegan2 fid50k reuses a small set's images
    return {name: fid.compute_fid(opts, args["max_real"], args["num_gen"])}, _detector(opts)


def _kid(name, opts, args, mirror):
    from metrics import kid

    opts.mirror = mirror and not args["full"]
    return {name: kid.compute_kid(opts, args["max_real"], args["num_gen"])}, _detector(opts)


def _detector(opts):
    det = opts.detector
    return dict(
        detector=getattr(det, "name", type(det).__name__),
        comparable=bool(getattr(det, "comparable", False)),
    )


def _ppl(name, opts, args, mirror):
    from metrics import ppl

    value = ppl.compute_ppl(
        opts,
        args["num_samples"],
        space=args["space"],
        sampling=args["sampling"],
        crop=args["crop"],
        batch_size=opts.batch_size,
    )
    return {name: value}, dict(detector="lpips-vgg16-v0.1")


def _pr(name, opts, args, mirror):
    from metrics import precision_recall

    opts.mirror = mirror and not args["full"]
    p, r = precision_recall.compute_pr(
        opts, args["max_real"], args["num_gen"], nhood_size=args["nhood_size"]
    )
    which = getattr(opts.pr_detector, "name", precision_recall.KerasVGG16Features.name)
    return {f"{name}_precision": p, f"{name}_recall": r}, dict(detector=which, comparable=False)


def _is(name, opts, args, mirror):
    from metrics import inception_score

    mean, std, which = inception_score.compute_is(opts, args["num_gen"])
    return (
        {f"{name}_mean": mean, f"{name}_std": std},
        dict(detector=which, comparable="not comparable" not in which),
    )


def _cls_acc(name, opts, args, mirror):
    from metrics import class_metrics

    results = class_metrics.compute_cls_acc(opts, args["num_gen"], opts.classifier)
    return {k.replace("cls_acc", name, 1): v for k, v in results.items()}, dict(
        detector=f"classifier {opts.classifier_path}"
    )


def _msssim(name, opts, args, mirror):
    from metrics import class_metrics

    results = class_metrics.compute_msssim(opts, args["num_pairs"], names=opts.label_names)
    return {k.replace("msssim", name, 1): v for k, v in results.items()}, dict(detector="ms-ssim")


def _fidrec(name, opts, args, mirror):
    from metrics import reconstruction

    return {name: reconstruction.compute_fid_rec(opts, args["num"])}, _detector(opts)


def _rec(name, opts, args, mirror):
    from metrics import reconstruction

    mse, dist = reconstruction.compute_rec(opts, args["num"])
    return {f"{name}_mse": mse, f"{name}_lpips": dist}, dict(detector="lpips-vgg16-v0.1")


KINDS = {
    "fid": _fid,
    "kid": _kid,
    "ppl": _ppl,
    "pr": _pr,
    "is": _is,
    "cls_acc": _cls_acc,
    "msssim": _msssim,
    "fidrec": _fidrec,
    "rec": _rec,
}


def _classifier_path(path, data, name="cls_acc"):
    """The cls_acc judge's file: `path`, or DATA/classifier.keras (ValueError if missing)."""
    from metrics.classifier import CLASSIFIER_FILE, default_path

    path = path or default_path(data)
    if path is None or not os.path.isfile(path):
        where = f"{path}: no such file" if path is not None else "no dataset folder"
        raise ValueError(
            f"{name} needs a classifier ({where}): train one with `python metrics/run.py "
            f"train-classifier --data DATA` (it writes DATA/{CLASSIFIER_FILE}) or pass "
            f"--classifier FILE"
        )
    return str(path)


def _classifier(classifier, data, name):
    """(model, path) of the cls_acc judge: an AttributeClassifier, a .keras path, or None for
    DATA/classifier.keras."""
    from metrics import classifier as classifier_lib

    if classifier is not None and not isinstance(classifier, (str, os.PathLike)):
        return classifier, getattr(classifier, "name", "classifier")
    path = _classifier_path(classifier, data, name)
    return classifier_lib.load_classifier(path), path


def calc_metric(
    name,
    generator=None,
    data=None,
    *,
    z_dim=None,
    c_dim=None,
    mapping=None,
    synthesis=None,
    detector="inception",
    lpips=None,
    pr_detector=None,
    weights_dir=None,
    batch_size=None,
    mirror=False,
    cache_dir="default",
    strategy=None,
    seed=None,
    verbose=True,
    snapshot=None,
    num_gpus=None,
    classifier=None,
    reconstruct=None,
):
    """Compute one metric. Returns a dict (the jsonl line):
        {results: {name[_suffix]: value}, metric, total_time, total_time_str, num_gpus,
         snapshot_pkl, timestamp, detector[, comparable]}

    generator: our Generator (G_ema) or a callable (z, c) -> NHWC float32 [-1,1] (then z_dim=,
      and for PPL mapping=(z, c)->ws and synthesis=(ws, noise_seed)->images).
    data: a dataset dir (ours or NVIDIA's), a folder of images, an .npz or a uint8 array.
    detector: 'inception' (official FID network, default), 'keras_inception' (not comparable),
      or a detector object (callable images [0,255] -> features, with .name).
    cache_dir: where real statistics are cached ('default' = ~/.cache/tf_stylegan2/metrics,
      None = no cache). strategy: a tf.distribute strategy (default: the current one, if any).
    seed: None draws fresh latents each call (as NVIDIA's metrics); an int makes it repeatable.
    classifier: cls_acc's judge (a metrics.classifier.AttributeClassifier or a .keras path;
      default DATA/classifier.keras).
    reconstruct: fidrec / rec: images [N,H,W,C] float32 [-1,1] -> their reconstructions.
    """
    from metrics import extraction, generator_adapter, image_sources, replicas

    kind, args = parse_metric(name)
    start = time.time()
    gen = (
        generator_adapter.GeneratorAdapter(
            generator, z_dim=z_dim, c_dim=c_dim, mapping=mapping, synthesis=synthesis
        )
        if generator is not None
        else None
    )
    if gen is None:
        raise ValueError(f"{name}: needs a generator")
    source = image_sources.open_images(data) if data is not None else None
    if source is None and kind != "ppl" and kind != "is":
        raise ValueError(f"{name}: needs the real images (--data DATA_DIR)")
    if gen.c_dim and (source is None or source.c_dim != gen.c_dim):
        have = "no data" if source is None else f"labels with c_dim={source.c_dim}"
        raise ValueError(
            f"{name}: the generator is conditional (c_dim={gen.c_dim}); fakes use "
            f"random dataset labels, but got {have}: pass the labelled dataset"
        )
    if kind in ("fidrec", "rec") and reconstruct is None:
        raise ValueError(f"{name}: needs an encoder (a StyleALAE network)")
    if kind in ("cls_acc", "msssim") and not gen.c_dim:
        raise ValueError(f"{name}: the generator is unconditional (c_dim = 0)")
    judge, judge_path = _classifier(classifier, data, name) if kind == "cls_acc" else (None, None)
    if kind in ("fid", "kid", "is", "fidrec") and isinstance(detector, str):
        detector = get_detector(detector, weights_dir=weights_dir)
    opts = MetricOptions(
        gen=gen,
        data=source,
        labels=source.labels if source is not None else None,
        detector=detector,
        lpips=lpips,
        pr_detector=pr_detector,
        weights_dir=weights_dir,
        batch_size=batch_size or (4 if kind == "ppl" else 32),
        mirror=mirror,
        wrap_reals=False,
        cache_dir=(extraction.default_cache_dir() if cache_dir == "default" else cache_dir),
        strategy=strategy,
        seed=seed,
        verbose=verbose,
        classifier=judge,
        classifier_path=judge_path,
        label_names=getattr(generator, "label_names", None),
        reconstruct=reconstruct,
    )
    results, extra = KINDS[kind](name, opts, args, mirror)
    total = time.time() - start
    if num_gpus is None:
        st = replicas.get_strategy(strategy)
        num_gpus = st.num_replicas_in_sync if st is not None else 1
    return dict(
        results=results,
        metric=name,
        total_time=total,
        total_time_str=format_time(total),
        num_gpus=num_gpus,
        snapshot_pkl=snapshot,
        timestamp=time.time(),
        **extra,
    )


def report_metric(result, run_dir=None, snapshot=None):
    """Append the result as a JSON line to <run_dir>/metric-<name>.jsonl (if run_dir)."""
    if snapshot is not None:
        result = dict(
            result, snapshot_pkl=os.path.relpath(snapshot, run_dir) if run_dir else str(snapshot)
        )
    if run_dir is None:
        return None
    path = pathlib.Path(run_dir) / f"metric-{result['metric']}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)  # --run-dir may name a folder not made yet
    with open(path, "at", encoding="utf-8") as f:
        f.write(json.dumps(result) + "\n")
    return path


def format_result(result, snapshot_name=""):
    """The official one-line form: `<snapshot:30> time <t:12> <name> <value:-10.4f> ...`."""
    name = snapshot_name if len(snapshot_name) < 30 else "..." + snapshot_name[-26:]
    line = f"{name:<30s} time {result['total_time_str']:<12s}"
    for key, value in result["results"].items():
        line += f" {key} {value:<10.4f}"
    return line
