"""tf-stylegan2: a faithful TensorFlow 2 / Keras 3 port of StyleGAN2."""

from setuptools import setup

setup(
    name="tf-stylegan2",
    version="0.1.0",
    description="StyleGAN2 in TensorFlow 2 / Keras 3, equal to NVIDIA's networks",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=[
        "fileio",
        "tf_stylegan2",
        "tf_stylegan2.ops",
        "tf_stylegan2.layers",
        "tf_stylegan2.networks",
        "tf_stylegan2.legacy",
        "dataset_tool",
        "training",
        "metrics",
        "apps",
    ],
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "pillow>=10",
        "absl-py>=1.4",
        "keras>=3.5",
        "google-crc32c>=1.5",  # dataset_tool writes TFRecords without importing TensorFlow
    ],
    extras_require={
        "cpu": ["tensorflow-cpu>=2.16"],
        "gpu": ["tensorflow[and-cuda]>=2.16"],
        # ruff: the lint step of `make test`; pytest-xdist: make test runs the tests in 2 processes
        "test": ["pytest>=7", "pytest-xdist>=3", "ruff>=0.6"],
        # export.py --format litert|onnx|openvino: each format's own runtime (and tf2onnx, which
        # Keras' ONNX exporter uses on TensorFlow); imageio-ffmpeg ships an ffmpeg for MP4 videos
        "export": [
            "ai-edge-litert>=2.0",
            "onnxruntime>=1.18",
            "onnx>=1.16",
            "tf2onnx>=1.16",
            "openvino>=2024.4",
            "imageio-ffmpeg>=0.5",
        ],
    },
    entry_points={
        "console_scripts": [
            "tfsg2-dataset-tool=dataset_tool.__main__:run",
            "tfsg2-train=training.run:run",
            "tfsg2-metrics=metrics.run:run",
            "tfsg2-generate=apps.generate:run",
            "tfsg2-style-mixing=apps.style_mixing:run",
            "tfsg2-project=apps.projector:run",
            "tfsg2-export=apps.export:run",
            "tfsg2-convert=apps.convert:run",
        ],
    },
)
