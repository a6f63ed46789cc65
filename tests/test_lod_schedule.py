"""Progressive growing's pieces: TF1's lod schedule for configs A-D (the table of
../shared/spec/NETWORKS_TRAINING.md §5.4 at 1024²), the optimizer-reset rule, and the naive
resampling and LOD fade of the reals (training_loop.py process_reals)."""

import numpy as np
import pytest

from tf_stylegan2 import ops
from training.lod_schedule import LodSchedule, lod_at, resets_optimizer


@pytest.mark.parametrize(
    "kimg, lod, res, minibatch, minibatch_gpu, lrate, tick",
    [
        (0, 7.0, 8, 256, 32, 0.001, 28),
        (599, 7.0, 8, 256, 32, 0.001, 28),
        (900, 6.5, 16, 128, 16, 0.001, 24),  # fading in 16x16: resolution switched at 600
        (1200, 6.0, 16, 128, 16, 0.001, 24),
        (2100, 5.5, 32, 64, 8, 0.001, 20),
        (3600, 4.0, 64, 32, 4, 0.001, 16),
        (4500, 3.5, 128, 32, 4, 0.0015, 12),
        (6000, 2.0, 256, 32, 4, 0.002, 8),
        (7800, 1.0, 512, 32, 4, 0.003, 6),
        (8100, 0.5, 1024, 32, 4, 0.003, 4),
        (8400, 0.0, 1024, 32, 4, 0.003, 4),
        (25000, 0.0, 1024, 32, 4, 0.003, 4),
    ],
)
def test_schedule_table_at_1024(kimg, lod, res, minibatch, minibatch_gpu, lrate, tick):
    s = lod_at(kimg * 1000, 10)
    assert (s.lod, s.resolution, s.minibatch, s.minibatch_gpu, s.lrate, s.tick_kimg) == (
        pytest.approx(lod),
        res,
        minibatch,
        minibatch_gpu,
        lrate,
        tick,
    )


def test_schedule_at_32_and_the_optimizer_resets():
    # 32x32 data: lod 2 (8x8) until 600 kimg, 16x16 fades in to 1200, ..., lod 0 from 2400
    assert [lod_at(k * 1000, 5).lod for k in (0, 600, 900, 1200, 1800, 2100, 2400, 5000)] == [
        2.0, 2.0, 1.5, 1.0, 1.0, 0.5, 0.0, 0.0,
    ]  # fmt: skip
    s = [lod_at(k * 1000, 5) for k in (0, 599, 601, 1199, 1200, 1201)]
    assert [resets_optimizer(a, b) for a, b in zip(s, s[1:])] == [False, True, False, True, False]
    flat = LodSchedule(initial_resolution=32)  # no growing: lod 0 throughout
    assert lod_at(0, 5, flat).lod == 0 and lod_at(0, 5, flat).resolution == 32


def test_naive_resampling_and_lod_fade():
    rnd = np.random.RandomState(0)
    x = rnd.uniform(-1, 1, [2, 4, 4, 3]).astype(np.float32)
    up = ops.nearest_upsample(x, 2).numpy()
    np.testing.assert_array_equal(up, x.repeat(2, axis=1).repeat(2, axis=2))
    down = ops.box_downsample(x, 2).numpy()
    want = x.reshape(2, 2, 2, 2, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(down, want, rtol=1e-6)
    np.testing.assert_array_equal(ops.fade_lod(x, 0.0, 4).numpy(), x)
    np.testing.assert_array_equal(ops.fade_lod(x, 2.0, 16).numpy(), x.repeat(4, 1).repeat(4, 2))
    coarse = want.repeat(2, axis=1).repeat(2, axis=2)
    faded = ops.fade_lod(x, 1.25, 8).numpy()  # 4x4 level, 25 % toward its 2x2 version, then x2
    np.testing.assert_allclose(faded, (x + (coarse - x) * 0.25).repeat(2, 1).repeat(2, 2), 1e-6)
