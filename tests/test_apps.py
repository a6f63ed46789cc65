"""apps/ as a library: seed parsing, NVIDIA's per-seed draws, uint8, grids, generation, style
mixing, interpolation, the projector's pieces and a short projection, official-pickle parity."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps import cli, generate, latents, loading, media, projector, style_mixing
from tf_stylegan2.networks import Generator, presets

from conftest import shared_path


def assert_u8_close(a, b):
    """uint8 images from two code paths (eager / graph / another process): float rounding may flip a
    value across a rounding boundary: allow 0.1 % of the values (at least one) off by 1."""
    a, b = np.asarray(a).astype(int), np.asarray(b).astype(int)
    assert a.shape == b.shape, (a.shape, b.shape)
    off = int(np.sum(a != b))
    assert off <= max(1, 1e-3 * a.size) and np.abs(a - b).max(initial=0) <= 1, off


def _tiny_G(c_dim=0, resolution=16):
    keras.utils.set_random_seed(1000 + c_dim)  # the same weights in every run
    G = Generator(**presets.network_kwargs("tiny", resolution, 3, c_dim)[0])
    for v in G.synthesis.weights:
        if "noise_strength" in v.path:  # zero when built, as NVIDIA's; make the noise visible
            v.assign(0.5)
    z = tf.constant(np.random.RandomState(1).randn(256, G.z_dim), tf.float32)
    c = None if c_dim == 0 else tf.one_hot(np.arange(256) % c_dim, c_dim)
    G.mapping.w_avg.assign(tf.reduce_mean(G.mapping(z, c)[:, 0], axis=0))  # truncation matters
    return G


@pytest.fixture(scope="module")
def G():
    return _tiny_G()


@pytest.fixture(scope="module")
def G_cond():
    return _tiny_G(c_dim=3)


# ----------------------------------------------------------------------------
# Parsing and NVIDIA's random draws.


def test_parse_range():
    assert cli.parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert cli.parse_seeds(" 5 ") == [5]
    assert cli.parse_seeds("10-10,2") == [10, 2]
    assert cli.parse_range("0-6", "styles") == list(range(7))
    for bad, msg in [
        ("1-x", "cannot parse '1-x'"),
        ("3-1", "ends before it starts"),
        ("", "empty"),
        ("-2", "cannot parse"),
        ("4294967296", "outside NumPy's RandomState range"),
    ]:
        with pytest.raises(cli.UserError, match=msg):
            cli.parse_seeds(bad)


def test_seed_z_is_nvidias_draw():
    # TF1 run_generator.py and ADA-PT generate.py: np.random.RandomState(seed).randn(1, z_dim).
    for seed in (0, 1, 66, 6600, 2**32 - 1):
        np.testing.assert_array_equal(
            latents.seed_z(seed, 512), np.random.RandomState(seed).randn(1, 512).astype(np.float32)
        )
    # Pinned values of the legacy MT19937 + polar Gaussian stream (seed 0).
    np.testing.assert_allclose(latents.seed_z(0, 3)[0], [1.7640524, 0.4001572, 0.978738], rtol=1e-6)
    assert latents.seed_z(0, 512).shape == (1, 512) and latents.seed_z(0, 512).dtype == np.float32


def test_tf1_noise_draw_order():
    # z first, then every noise map [1,1,R,R] from the same RandomState, in order noise0, ...
    z, noises = latents.seed_z_and_noise(42, 16, [4, 8, 8])
    rnd = np.random.RandomState(42)
    np.testing.assert_array_equal(z, rnd.randn(1, 16).astype(np.float32))
    for r, n in zip([4, 8, 8], noises):
        np.testing.assert_array_equal(n, rnd.randn(1, 1, r, r)[0, 0].astype(np.float32))


def test_noise_variables_in_tf1_order():
    G32 = Generator(**presets.network_kwargs("tiny", 32, 3, 0)[0])
    found = latents.noise_variables(G32)
    order = ["b4.conv1", "b8.conv0", "b8.conv1", "b16.conv0", "b16.conv1", "b32.conv0", "b32.conv1"]
    assert [n for n, _ in found] == order
    for name, v in found:  # the variable is the one its name says
        assert v.path.endswith(name.replace(".", "/") + "/noise_const"), v.path
    assert latents.noise_resolutions(G32) == [4, 8, 8, 16, 16, 32, 32]


def test_to_uint8_is_nvidias_rounding():
    x = np.array([-1.5, -1.0, -0.999, 0.0, 0.5 / 127.5, 0.999, 1.0, 2.0], np.float32)
    np.testing.assert_array_equal(media.to_uint8(x), [0, 0, 0, 128, 128, 255, 255, 255])
    grid = np.linspace(-1.2, 1.2, 10001).astype(np.float32)
    tf1 = np.clip(np.floor(grid * np.float32(127.5) + np.float32(127.5) + np.float32(0.5)), 0, 255)
    assert np.mean(media.to_uint8(grid) != tf1) < 1e-3  # the two official forms agree


def test_image_grid_layout():
    imgs = np.stack([np.full([2, 3, 1], i, np.uint8) for i in range(1, 6)])
    grid = media.image_grid(imgs, cols=3)
    assert grid.shape == (4, 9, 1)
    assert grid[0, 0, 0] == 1 and grid[0, 8, 0] == 3 and grid[2, 0, 0] == 4 and grid[3, 8, 0] == 0
    assert media.grid_cols(5) == 3 and media.grid_cols(16) == 4 and media.grid_cols(1) == 1


# ----------------------------------------------------------------------------
# Generation.


def test_generate_const_noise_is_deterministic(G):
    a = generate.generate_images(G, [0, 1, 2], truncation_psi=0.7)
    b = generate.generate_images(G, [2, 0], truncation_psi=0.7)
    assert a.shape == (3, 16, 16, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a[0], b[1])
    np.testing.assert_array_equal(a[2], b[0])
    assert np.any(a[0] != a[1])
    # The same as running the network directly on NVIDIA's z.
    ref = G(tf.constant(latents.seed_z(1, G.z_dim)), None, truncation_psi=0.7, noise_mode="const")
    assert_u8_close(a[1], media.to_uint8(ref.numpy())[0])
    assert np.any(generate.generate_images(G, [0], truncation_psi=1.0) != a[0])  # psi matters
    for mode in ("const", "tf1", "random"):  # the largest RandomState seed
        assert generate.generate_images(G, [2**32 - 1], noise_mode=mode).shape == (1, 16, 16, 3)


def test_generate_noise_modes(G):
    const = generate.generate_images(G, [3])
    none = generate.generate_images(G, [3], noise_mode="none")
    r1 = generate.generate_images(G, [3], noise_mode="random")
    r2 = generate.generate_images(G, [3], noise_mode="random")
    assert np.any(const != none)
    np.testing.assert_array_equal(r1, r2)  # random noise is seeded by the seed
    before = [v.numpy().copy() for _, v in latents.noise_variables(G)]
    tf1 = generate.generate_images(G, [3], noise_mode="tf1")
    after = [v.numpy() for _, v in latents.noise_variables(G)]
    for x, y in zip(before, after):
        np.testing.assert_array_equal(x, y)  # stored maps restored
    z, noises = latents.seed_z_and_noise(3, G.z_dim, latents.noise_resolutions(G))
    with latents.noise_maps_set(G, noises):
        ref = G(tf.constant(z), None, noise_mode="const")
    assert_u8_close(tf1[0], media.to_uint8(ref.numpy())[0])
    with pytest.raises(cli.UserError, match="--noise-mode bogus"):
        generate.generate_images(G, [3], noise_mode="bogus")


def test_class_handling(G, G_cond):
    np.testing.assert_array_equal(loading.class_labels(G_cond, 2), [[0, 0, 1]])
    assert loading.class_labels(G, None) is None
    with pytest.raises(cli.UserError, match=r"--class 3: outside the network's classes 0\.\.2"):
        loading.class_labels(G_cond, 3)
    with pytest.raises(cli.UserError, match="--class is required: the network is conditional"):
        loading.class_labels(G_cond, None)
    with pytest.raises(cli.UserError, match="unconditional"):
        loading.class_labels(G, 0)
    assert cli.parse_class("all") == "all" and cli.parse_class("2") == 2
    with pytest.raises(cli.UserError, match="not a class index"):
        cli.parse_class("cat")
    a = generate.generate_images(G_cond, [5], class_idx=0)
    b = generate.generate_images(G_cond, [5], class_idx=1)
    assert np.any(a != b)


def test_interpolation_frames(G, tmp_path, monkeypatch):
    frames = generate.interpolation_frames(G, [0, 1, 2], frames=3, space="w")
    assert frames.shape == (7, 16, 16, 3)
    ends = generate.generate_images(G, [0, 2])
    np.testing.assert_array_equal(frames[0], ends[0])
    np.testing.assert_array_equal(frames[-1], ends[1])
    zf = generate.interpolation_frames(G, [0, 1], frames=4, space="z")
    assert zf.shape == (5, 16, 16, 3)
    assert_u8_close(zf[0], ends[0])
    a, b = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    np.testing.assert_allclose(generate.slerp(a, b, 0.5), [1.5 / 2**0.5, 1.5 / 2**0.5])
    with pytest.raises(cli.UserError, match="at least two seeds"):
        generate.interpolation_frames(G, [0], frames=3)
    media.save_gif(tmp_path / "walk.gif", frames, fps=10)
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 7 and gif.size == (16, 16)
    # MP4 through the ffmpeg of imageio-ffmpeg (the export extra): decodes to the same frames
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="pip install '.[export]'")
    assert media.save_mp4(tmp_path / "walk.mp4", frames, fps=10) is True
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "walk.mp4"))
    meta = next(reader)
    decoded = [np.frombuffer(f, np.uint8).reshape(16, 16, 3) for f in reader]
    assert meta["size"] == (16, 16) and meta["fps"] == 10 and len(decoded) == 7
    # 4:2:0 chroma on 16x16 noise-like frames is lossy (mean error 31-41 measured), so each decoded
    # frame is checked to be nearest to its own source frame, in order
    dist = [[np.abs(d.astype(int) - f.astype(int)).mean() for f in frames] for d in decoded]
    assert [int(np.argmin(row)) for row in dist] == list(range(7))
    monkeypatch.setattr(media, "ffmpeg_binary", lambda: None)  # no ffmpeg: no MP4, nothing written
    assert media.save_mp4(tmp_path / "none.mp4", frames) is False
    assert not (tmp_path / "none.mp4").exists()


def test_images_from_projected_w(G):
    ws = G.mapping(tf.constant(latents.seed_z(4, G.z_dim)), None).numpy()
    assert_u8_close(generate.images_from_ws(G, ws), generate.generate_images(G, [4]))
    with pytest.raises(cli.UserError, match="do not fit the network"):
        generate.images_from_ws(G, ws[:, :2])


# ----------------------------------------------------------------------------
# Style mixing.


def test_style_mixing_grid(G):
    rows, cols = [85, 100], [55, 821, 1789]
    images, grid = style_mixing.style_mixing(G, rows, cols, [0, 1, 2])
    assert grid.shape == (16 * 3, 16 * 4, 3)
    assert set(images) == {(r, k) for r in rows for k in cols} | {(s, s) for s in rows + cols}
    assert not grid[:16, :16].any()  # empty top-left cell
    np.testing.assert_array_equal(grid[:16, 16:32], images[(55, 55)])
    np.testing.assert_array_equal(grid[32:48, :16], images[(100, 100)])
    np.testing.assert_array_equal(grid[32:48, 48:64], images[(100, 1789)])
    assert_u8_close(images[(85, 85)], generate.generate_images(G, [85])[0])
    # Taking every layer from the column seed gives the column image.
    every, _ = style_mixing.style_mixing(G, [85], [55], list(range(G.num_ws)))
    np.testing.assert_array_equal(every[(85, 55)], every[(55, 55)])
    with pytest.raises(cli.UserError, match="--styles: layer 6 outside 0..5"):
        style_mixing.style_mixing(G, [1], [2], [6])


# ----------------------------------------------------------------------------
# Projector.


def test_projector_schedules():
    lr = [projector.learning_rate(s, 1000) for s in (0, 25, 50, 500, 875, 999)]
    np.testing.assert_allclose(
        lr, [0.0, 0.05, 0.1, 0.1, 0.05, 0.1 * (0.5 - 0.5 * np.cos(np.pi * 0.004))], atol=1e-12
    )
    assert projector.w_noise_scale(0, 1000, 2.0) == pytest.approx(0.1)
    assert projector.w_noise_scale(375, 1000, 2.0) == pytest.approx(0.1 * 0.25)
    assert projector.w_noise_scale(750, 1000, 2.0) == 0.0


def test_noise_regularization_and_downsample():
    ones8, ones16 = tf.ones([8, 8]), tf.ones([16, 16])
    assert float(projector.noise_regularization([ones8])) == pytest.approx(2.0)
    assert float(projector.noise_regularization([ones16])) == pytest.approx(4.0)  # 16 and 8
    checker = tf.constant(np.indices([8, 8]).sum(0) % 2 * 2 - 1, tf.float32)
    assert float(projector.noise_regularization([checker])) == pytest.approx(2.0)  # (-1)^2 twice
    x = np.random.RandomState(0).rand(1, 512, 512, 3).astype(np.float32)
    y = projector.box_downsample_to_256(x)
    assert y.shape == (1, 256, 256, 3)
    np.testing.assert_allclose(y[0, 3, 5], x[0, 6:8, 10:12].mean(axis=(0, 1)), rtol=1e-6)
    np.testing.assert_allclose(
        projector.box_downsample_to_256(tf.constant(x)).numpy(), y, rtol=1e-5
    )
    assert projector.box_downsample_to_256(x[:, :256, :256]).shape == (1, 256, 256, 3)


def test_w_stats(G):
    w_avg, w_std = projector.w_stats(G, num_samples=300, batch=128)
    z = np.random.RandomState(123).randn(300, G.z_dim).astype(np.float32)
    w = G.mapping(tf.constant(z), None).numpy()[:, :1]
    np.testing.assert_allclose(w_avg, w.mean(0, keepdims=True), atol=1e-6)
    assert w_std == pytest.approx(np.sqrt(((w - w.mean(0)) ** 2).sum() / 300), rel=1e-5)


def test_projector_loss_falls_on_own_image(G):
    from metrics.lpips import LPIPS

    lpips = LPIPS(weights_path=shared_path("weights", "vgg16_lpips_v0.1_keras_layout.npz"))
    target = generate.generate_images(G, [7])[0]
    before = [v.numpy().copy() for _, v in latents.noise_variables(G)]
    result = projector.project(G, target, lpips, num_steps=40, w_avg_samples=1000, seed=303)
    assert result["ws"].shape == (1, G.num_ws, G.w_dim) and result["w"].shape == (40, G.w_dim)
    assert result["dist"][-5:].mean() < 0.7 * result["dist"][0], result["dist"]
    assert result["loss"][-1] < result["loss"][0]
    for (_, v), x in zip(latents.noise_variables(G), before):
        np.testing.assert_array_equal(v.numpy(), x)  # the network's own noise maps are restored
    for n in result["noises"]:  # renormalised after every step
        assert abs(n.mean()) < 1e-4 and abs(n.std() - 1) < 1e-3
    proj = projector.render(G, result["ws"], result["noises"])
    assert proj.shape == (1, 16, 16, 3)
    np.testing.assert_array_equal(
        generate.images_from_ws(G, result["ws"], noises=result["noises"]), proj
    )
    with pytest.raises(cli.UserError, match="target of shape"):
        projector.project(G, target[:8], lpips, num_steps=1)


# ----------------------------------------------------------------------------
# An official network converted by us writes the images NVIDIA's generate.py writes.


def test_official_tf1_pickle_seed_images():
    pkl = shared_path("fixtures", "tf1_small", "tf1_small.pkl")
    ref = np.load(shared_path("fixtures", "tf1_small", "tf1_small_expected.npz"))
    G_off, _ = loading.load_generator(pkl)
    # The fixture's z is RandomState(20340).randn(4, 64): its row 0 is seed 20340's z.
    np.testing.assert_array_equal(latents.seed_z(20340, G_off.z_dim), ref["z"][:1])
    for psi, key in ((1.0, "G_ema/img_psi100"), (0.7, "G_ema/img_psi070")):
        ours = generate.generate_images(G_off, [20340], truncation_psi=psi)
        nvidia = media.to_uint8(ref[key][:1].transpose(0, 2, 3, 1))
        assert np.mean(ours != nvidia) < 1e-3, (psi, np.mean(ours != nvidia))
        assert np.abs(ours.astype(int) - nvidia).max() <= 1
