"""Project an image into a generator's W space (NVIDIA's projector: TF1 / ADA-PT projector.py).

    python projector.py --network N --target photo.png --outdir out [--steps 1000] [--seed 303]
        [--save-video]
    python projector.py --network N --target photos/ --outdir out     # every image of a folder

Writes target.png (the target, centre-cropped and Lanczos-resized to the network's resolution),
proj.png (the projection), projected_w.npz (key w: [1, num_ws, w_dim]; plus the optimised noise maps
noise0, noise1, ... in TF1 order) and with --save-video proj.mp4 (target | projection per step,
10 fps; proj.gif when ffmpeg is not installed). With a folder of targets (sorted by name), each is
projected in turn (same seed): target-<name>.png and proj-<name>.png each, and one projected_w.npz
with w [N, num_ws, w_dim] and names [N] (the noise maps, optimised per target, are not kept: the
ws are for style mixing, `style_mixing.py --rows-w / --cols-w`, and generate.py --projected-w).

Hyper-parameters (NVIDIA's): 1000 steps; w_avg and the scalar w_std from 10 000 mapped z
(RandomState(123)); one w [1,1,w_dim] broadcast to all layers, starting at w_avg; the noise maps
start at N(0,1) and are optimised too; Adam (0.9, 0.999, 1e-8) with lr 0.1 * cosine ramp-down over
the last 25% * linear ramp-up over the first 5%; w noise of strength
w_std * 0.05 * max(0, 1 - t/0.75)^2; loss = LPIPS(VGG16) of (x+1)*127.5, box-downsampled to 256
when larger, + 1e5 * noise autocorrelation penalty; noise maps renormalised to zero mean / unit
variance after every step.
"""

import os
import sys

import numpy as np
from absl import flags

from apps import cli, generate, latents, loading, media
from apps.quiet_start import quiet_tensorflow
from fileio import atomic
from metrics.progress import Progress

FLAGS = flags.FLAGS

DEFAULTS = dict(
    num_steps=1000,
    w_avg_samples=10000,
    initial_learning_rate=0.1,
    initial_noise_factor=0.05,
    lr_rampdown_length=0.25,
    lr_rampup_length=0.05,
    noise_ramp_length=0.75,
    regularize_noise_weight=1e5,
)


# ----------------------------------------------------------------------------
# Schedules and pieces (NumPy / TF), bottom-up.


def learning_rate(
    step, num_steps, initial_learning_rate=0.1, lr_rampdown_length=0.25, lr_rampup_length=0.05
):
    """lr at `step`: cosine ramp-down over the last lr_rampdown_length, linear ramp-up over the
    first lr_rampup_length (exactly 0 at step 0)."""
    t = step / num_steps
    ramp = min(1.0, (1.0 - t) / lr_rampdown_length)
    ramp = 0.5 - 0.5 * np.cos(ramp * np.pi)
    ramp = ramp * min(1.0, t / lr_rampup_length)
    return initial_learning_rate * ramp


def w_noise_scale(step, num_steps, w_std, initial_noise_factor=0.05, noise_ramp_length=0.75):
    t = step / num_steps
    return w_std * initial_noise_factor * max(0.0, 1.0 - t / noise_ramp_length) ** 2


def box_downsample_to_256(x):
    """[N,H,W,C] -> [N,256,256,C] by averaging factor x factor boxes when H > 256 (factor H // 256),
    as NVIDIA's projector does; unchanged otherwise. Works on NumPy arrays and TF tensors."""
    h = x.shape[1]
    if h is None or h <= 256:
        return x
    f = h // 256
    if isinstance(x, np.ndarray):
        n, _, w, c = x.shape
        return x.reshape(n, h // f, f, w // f, f, c).mean(axis=(2, 4))
    import tensorflow as tf

    n, _, w, c = x.shape
    return tf.reduce_mean(tf.reshape(x, [-1, h // f, f, w // f, f, c]), axis=[2, 4])


def noise_regularization(noises):
    """Sum over noise maps and their 2x2-box pyramids (down to 8x8) of squared one-pixel
    autocorrelations along x and y. noises: TF tensors [R,R] (any shape with R*R elements)."""
    import tensorflow as tf

    reg = 0.0
    for v in noises:
        r = int(round(int(np.prod(v.shape)) ** 0.5))
        n = tf.reshape(v, [1, r, r, 1])  # [1,H,W,1]
        while True:
            reg += tf.square(tf.reduce_mean(n * tf.roll(n, shift=1, axis=2)))
            reg += tf.square(tf.reduce_mean(n * tf.roll(n, shift=1, axis=1)))
            if n.shape[1] <= 8:
                break
            n = tf.nn.avg_pool2d(n, 2, 2, "VALID")
    return reg


def w_stats(G, num_samples=10000, c=None, batch=1000):
    """(w_avg [1,1,w_dim] float32, w_std scalar): z = RandomState(123).randn(N, z_dim), mapped
    without truncation; w_std = sqrt(sum((w - w_avg)^2) / N), a single RMS distance over all
    dimensions."""
    import tensorflow as tf

    z = np.random.RandomState(123).randn(num_samples, G.z_dim)
    ws = []
    for i in range(0, num_samples, batch):
        zb = tf.constant(z[i : i + batch], tf.float32)
        cb = None if c is None else tf.constant(np.repeat(c[:1], len(zb), axis=0))
        ws.append(G.mapping(zb, cb, truncation_psi=1.0)[:, :1, :].numpy())  # [n,1,C]
    w = np.concatenate(ws).astype(np.float32)
    w_avg = np.mean(w, axis=0, keepdims=True)  # [1,1,C]
    w_std = float((np.sum((w - w_avg) ** 2) / num_samples) ** 0.5)
    return w_avg, w_std


def _watchable(v):
    return getattr(v, "value", v)  # the tf.Variable behind a keras.Variable


class _Adam:
    """TF1 AdamOptimizer arithmetic (eps outside the bias-corrected root), on any variables, with
    the learning rate given per step (the projector's schedule)."""

    def __init__(self, variables, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        import tensorflow as tf

        self.variables = variables
        self.b1, self.b2, self.eps = beta_1, beta_2, epsilon
        self.m = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in variables]
        self.v = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in variables]
        self.t = tf.Variable(0.0, trainable=False)

    def apply(self, grads, lr):
        import tensorflow as tf

        self.t.assign_add(1.0)
        lr_t = lr * tf.sqrt(1.0 - self.b2**self.t) / (1.0 - self.b1**self.t)
        for var, g, m, v in zip(self.variables, grads, self.m, self.v):
            m.assign(self.b1 * m + (1.0 - self.b1) * g)
            v.assign(self.b2 * v + (1.0 - self.b2) * tf.square(g))
            var.assign_sub(lr_t * m / (tf.sqrt(v) + self.eps))


# ----------------------------------------------------------------------------
# The projector.


def project(G, target, lpips, num_steps=1000, seed=303, class_idx=None, progress=None, **hparams):
    """Optimise w (and the noise maps) so that G reproduces `target` (uint8 [H,W,C] at G's
    resolution).

    lpips: metrics.lpips.LPIPS. The network's stored noise maps are restored on return; the
    optimised ones are in the result. Returns dict(
        w       [num_steps, w_dim]: w after each step, without the w noise,
        ws      [1, num_ws, w_dim]: the final w broadcast to every layer,
        noises  list of [R, R]: the optimised noise maps in TF1 order,
        dist    [num_steps] LPIPS, loss [num_steps] LPIPS + noise penalty, w_std float).
    """
    import tensorflow as tf

    hp = dict(DEFAULTS, num_steps=num_steps, **hparams)
    target = np.asarray(target)
    want = (G.img_resolution, G.img_resolution, G.img_channels)
    if target.shape != want:
        raise cli.UserError(f"target of shape {list(target.shape)}, the network makes {list(want)}")
    c = loading.class_labels(G, class_idx)
    w_avg, w_std = w_stats(G, hp["w_avg_samples"], c)

    noise_vars = [v for _, v in latents.noise_variables(G)]
    saved = [np.array(v.numpy()) for v in noise_vars]
    rnd = np.random.RandomState(seed)
    w_opt = tf.Variable(w_avg, trainable=False, name="w_opt")  # [1,1,C]
    rng = tf.random.Generator.from_seed(seed)

    target_x = box_downsample_to_256(target[None].astype(np.float32))  # [1,h,w,C] in [0,255]
    target_features = lpips.features(tf.constant(target_x), value_range=(0, 255))  # [1,D]
    variables = [w_opt] + [_watchable(v) for v in noise_vars]
    adam = _Adam(variables)
    weight = float(hp["regularize_noise_weight"])
    num_ws = G.num_ws

    @tf.function
    def step(lr, noise_scale):
        w_noise = rng.normal(w_opt.shape) * noise_scale
        with tf.GradientTape() as tape:
            tape.watch(variables)
            ws = tf.tile(w_opt + w_noise, [1, num_ws, 1])  # [1,L,C]
            images = G.synthesis(ws, noise_mode="const")  # [1,H,W,C]
            images = box_downsample_to_256((images + 1.0) * 127.5)
            features = lpips.features(images, value_range=(0, 255))
            dist = tf.reduce_sum(tf.square(target_features - features))
            reg = noise_regularization([_watchable(v) for v in noise_vars])
            loss = dist + reg * weight
        grads = tape.gradient(loss, variables)
        adam.apply(grads, lr)
        for v in noise_vars:  # renormalise each map to zero mean, unit variance
            x = tf.convert_to_tensor(_watchable(v))
            x = x - tf.reduce_mean(x)
            v.assign(x * tf.math.rsqrt(tf.reduce_mean(tf.square(x))))
        return dist, loss

    w_steps, dists, losses = [], [], []
    try:
        for v in noise_vars:
            v.assign(rnd.randn(*v.shape).astype(np.float32))
        for i in range(hp["num_steps"]):
            lr = learning_rate(
                i,
                hp["num_steps"],
                hp["initial_learning_rate"],
                hp["lr_rampdown_length"],
                hp["lr_rampup_length"],
            )
            scale = w_noise_scale(
                i, hp["num_steps"], w_std, hp["initial_noise_factor"], hp["noise_ramp_length"]
            )
            dist, loss = step(tf.constant(lr, tf.float32), tf.constant(scale, tf.float32))
            w_steps.append(w_opt.numpy()[0, 0])
            dists.append(float(dist))
            losses.append(float(loss))
            if progress is not None:
                progress(i, dists[-1], losses[-1])
        noises = [np.array(v.numpy()) for v in noise_vars]
    finally:
        for v, x in zip(noise_vars, saved):
            v.assign(x)
    w_steps = np.stack(w_steps).astype(np.float32)  # [S,C]
    return dict(
        w=w_steps,
        ws=np.tile(w_steps[-1][None, None], [1, num_ws, 1]),
        noises=noises,
        dist=np.asarray(dists, np.float32),
        loss=np.asarray(losses, np.float32),
        w_std=w_std,
    )


def render(G, ws, noises):
    """uint8 [N,H,W,C] images of ws [N,num_ws,w_dim] with the given noise maps (TF1 order); the same
    code path as generate.py --projected-w, so proj.png and proj00.png are equal."""
    return generate.images_from_ws(G, ws, noises=noises)


# ----------------------------------------------------------------------------
# Command line.


def define_flags():
    flags.DEFINE_string("network", None, "Network: .keras snapshot, run folder or official .pkl.")
    flags.DEFINE_string(
        "target",
        None,
        "Target image file (centre-cropped, resized to the network), or a folder of them.",
    )
    flags.DEFINE_string("outdir", None, "Output folder (created).")
    flags.DEFINE_integer("steps", 1000, "Optimisation steps.")
    flags.DEFINE_integer("seed", 303, "Random seed (initial noise maps, w noise).")
    flags.DEFINE_string(
        "class", None, "Class index for a conditional network (1,2: a mix of several)."
    )
    flags.DEFINE_string("attrs", None, cli.ATTRS_HELP)
    flags.DEFINE_boolean(
        "save-video", False, "Write proj.mp4 of the optimisation (proj.gif without ffmpeg)."
    )
    flags.DEFINE_string(
        "lpips-weights",
        None,
        "vgg16_lpips_v0.1_keras_layout.npz (default: found by "
        "metrics.weights: --weights-dir, $TF_STYLEGAN2_WEIGHTS, the cache).",
    )
    flags.DEFINE_string("weights-dir", None, "Folder holding the metric weight files.")


def _targets(path):
    """[path] for an image file, or the sorted image files of a folder (not recursive)."""
    from fileio.images import is_image_name

    if not os.path.isdir(path):
        return [path]
    files = sorted(os.path.join(path, f) for f in os.listdir(path) if is_image_name(f))
    if not files:
        raise cli.UserError(f"--target {path}: no images in the folder")
    return files


def _project_folder(G, targets, lpips, outdir, class_idx):
    """Every target in turn; writes target-/proj-<name>.png each and one projected_w.npz."""
    ws, names = [], []
    for path in targets:
        name = os.path.splitext(os.path.basename(path))[0]
        target = media.load_target_image(path, G.img_resolution, G.img_channels)
        bar = Progress(f"project {name}", FLAGS.steps, unit="step")
        result = project(
            G,
            target,
            lpips,
            num_steps=FLAGS.steps,
            seed=FLAGS.seed,
            class_idx=class_idx,
            progress=lambda i, dist, loss: bar.update(1, f"dist {dist:.4f} loss {loss:.4f}"),
        )
        bar.close()
        media.save_image(outdir / f"target-{name}.png", target)
        media.save_image(outdir / f"proj-{name}.png", render(G, result["ws"], result["noises"])[0])
        ws.append(result["ws"][0])
        names.append(name)
    atomic.save_npz(outdir / "projected_w.npz", {"w": np.stack(ws), "names": np.array(names)})
    print(
        f"Projected {len(targets)} targets; wrote projected_w.npz (w [{len(ws)}, ...]) to {outdir}"
    )


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors():
        for name in ("network", "target", "outdir"):
            if not FLAGS[name].value:
                raise cli.UserError(f"--{name} is required")
        if FLAGS.steps < 1:
            raise cli.UserError(f"--steps {FLAGS.steps}: must be at least 1")
        loading.resolve_network(FLAGS.network)
        targets = _targets(FLAGS.target)
        if len(targets) > 1 and FLAGS["save-video"].value:
            raise cli.UserError("--save-video: give one --target image, not a folder")
        for path in targets:
            media.load_target_image(path, 8, 3)  # fail fast on an unreadable image
        lpips_path = FLAGS["lpips-weights"].value
        if lpips_path and not os.path.isfile(lpips_path):
            raise cli.UserError(f"{lpips_path}: LPIPS weights not found")
        G, file = loading.load_generator(FLAGS.network)
        class_idx = cli.class_or_attrs(G, cli.parse_class(FLAGS["class"].value), FLAGS.attrs)
        loading.class_labels(G, class_idx)  # a wrong --class/--attrs fails before LPIPS loads
        from metrics import lpips as lpips_lib

        try:
            lpips = lpips_lib.LPIPS(weights_path=lpips_path, weights_dir=FLAGS["weights-dir"].value)
        except Exception as e:  # noqa: BLE001 -- missing or bad weight file
            raise cli.UserError(f"cannot load the LPIPS weights: {str(e).splitlines()[0]}") from e
        outdir = cli.make_outdir(FLAGS.outdir)
        if os.path.isdir(FLAGS.target):
            return _project_folder(G, targets, lpips, outdir, class_idx)
        target = media.load_target_image(FLAGS.target, G.img_resolution, G.img_channels)
        bar = Progress("project", FLAGS.steps, unit="step")
        result = project(
            G,
            target,
            lpips,
            num_steps=FLAGS.steps,
            seed=FLAGS.seed,
            class_idx=class_idx,
            progress=lambda i, dist, loss: bar.update(1, f"dist {dist:.4f} loss {loss:.4f}"),
        )
        bar.close()

        media.save_image(outdir / "target.png", target)
        proj = render(G, result["ws"], result["noises"])[0]
        media.save_image(outdir / "proj.png", proj)
        arrays = {"w": result["ws"]}
        arrays.update({f"noise{i}": n for i, n in enumerate(result["noises"])})
        atomic.save_npz(outdir / "projected_w.npz", arrays)
        wrote = ["target.png", "proj.png", "projected_w.npz"]
        if FLAGS["save-video"].value:
            ws = np.tile(result["w"][:, None, :], [1, G.num_ws, 1])
            frames = [
                np.concatenate([target, img], axis=1)
                for img in np.concatenate(
                    [render(G, ws[i : i + 16], result["noises"]) for i in range(0, len(ws), 16)]
                )
            ]
            if media.save_mp4(outdir / "proj.mp4", frames, fps=10):
                wrote.append("proj.mp4")
            else:
                media.save_gif(outdir / "proj.gif", frames, fps=10)
                wrote.append("proj.gif (no ffmpeg available)")
        print(
            f"Projected {FLAGS.target}: final dist {result['dist'][-1]:.4f}; wrote "
            f"{', '.join(wrote)} to {outdir}"
        )


def run():
    quiet_tensorflow("2")
    define_flags()
    cli.run_script(main, sys.modules[__name__])


if __name__ == "__main__":
    run()
