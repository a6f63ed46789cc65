"""Feature statistics: streaming mean/covariance in float64, optionally every feature vector."""

import json
import pathlib

import numpy as np

from fileio import atomic


class FeatureStats:
    """Streaming mean/covariance in float64 (memory: D^2 doubles), optionally all features.

    The covariance is the unbiased estimate (divides by N-1) as np.cov, accumulated around a shift
    (the first batch's mean) to avoid cancellation.
    """

    def __init__(self, capture_all=False, capture_mean_cov=True, max_items=None):
        self.capture_all, self.capture_mean_cov, self.max_items = (
            capture_all,
            capture_mean_cov,
            max_items,
        )
        self.num_items, self.num_features = 0, None
        self.all_features, self.shift, self.raw_sum, self.raw_outer = [], None, None, None

    def is_full(self):
        return self.max_items is not None and self.num_items >= self.max_items

    def append(self, x):
        x = np.asarray(x, np.float32)
        if self.max_items is not None:
            x = x[: max(self.max_items - self.num_items, 0)]
        if x.shape[0] == 0:
            return
        if self.num_features is None:
            self.num_features = x.shape[1]
            self.shift = x.astype(np.float64).mean(axis=0)
            self.raw_sum = np.zeros(self.num_features, np.float64)
            self.raw_outer = np.zeros([self.num_features] * 2, np.float64)
        self.num_items += x.shape[0]
        if self.capture_all:
            self.all_features.append(x)
        if self.capture_mean_cov:
            d = x.astype(np.float64) - self.shift
            self.raw_sum += d.sum(axis=0)
            self.raw_outer += d.T @ d

    def get_all(self):
        return np.concatenate(self.all_features) if self.all_features else np.zeros([0, 0])

    def get_mean_cov(self):
        n = self.num_items
        mean_d = self.raw_sum / n
        cov = (self.raw_outer - n * np.outer(mean_d, mean_d)) / max(n - 1, 1)
        return mean_d + self.shift, cov

    # Cache format: npz with mu, sigma, num_items[, features].
    def save(self, path, extra=None):
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = dict(num_items=np.int64(self.num_items))
        if self.capture_mean_cov:
            arrays["mu"], arrays["sigma"] = self.get_mean_cov()
        if self.capture_all:
            arrays["features"] = self.get_all()
        arrays["meta"] = np.array(json.dumps(extra or {}))
        atomic.save_npz(path, arrays)

    @classmethod
    def load(cls, path):
        with np.load(path) as data:
            stats = cls(capture_all="features" in data.files, capture_mean_cov="mu" in data.files)
            stats.num_items = int(data["num_items"])
            if "mu" in data.files:
                mu, sigma = data["mu"], data["sigma"]
                stats.num_features = mu.shape[0]
                stats.shift = mu
                stats.raw_sum = np.zeros_like(mu)
                stats.raw_outer = sigma * max(stats.num_items - 1, 1)
            if "features" in data.files:
                stats.all_features = [data["features"]]
                stats.num_features = data["features"].shape[1]
        return stats
