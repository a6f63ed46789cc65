"""Run an exported generator (export.py --format litert|onnx|openvino) with the format's own
runtime. Imports numpy and that runtime only: no TensorFlow, Keras or networks code.

    from apps.exported import load
    gen = load("models/g-onnx")              # the folder export.py wrote
    images = gen(z)                          # z [N, z_dim] f32 (, c [N, c_dim]) -> [N, H, W, C]
    ws = gen.mapping(z); x = gen.synthesis(ws)
"""

import json
import pathlib

import numpy as np


class _LiteRT:
    def __init__(self, path):
        import os

        from ai_edge_litert.interpreter import Interpreter

        # The interpreter runs on one thread unless told otherwise; the other runtimes use all.
        self.interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())
        self.runner = self.interpreter.get_signature_runner()  # the one (serving_default) signature
        # keyword inputs, listed by name ("c", "z"): z first, as the other runtimes take them
        self.names = sorted(self.runner.get_input_details(), key=lambda name: name == "c")

    def __call__(self, *arrays):
        (out,) = self.runner(**dict(zip(self.names, arrays))).values()
        return out


class _ONNX:
    def __init__(self, path):
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]  # in signature order: z, c

    def __call__(self, *arrays):
        return self.session.run(None, dict(zip(self.names, arrays)))[0]


class _OpenVINO:
    def __init__(self, path):
        import openvino as ov

        # OpenVINO's CPU plugin computes in bfloat16 by default on CPUs that have it (max error
        # 0.03 here on [-1, 1] images): ask for float32, the precision of the exported model.
        config = {"INFERENCE_PRECISION_HINT": "f32"}
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.names = [next(iter(i.get_names())) for i in self.compiled.inputs]

    def __call__(self, *arrays):
        return self.compiled(dict(zip(self.names, arrays)))[0]


RUNNERS = {"litert": _LiteRT, "onnx": _ONNX, "openvino": _OpenVINO}


class Exported:
    """generator(z[, c]) -> images; .mapping(z[, c]) -> ws; .synthesis(ws) -> float images."""

    def __init__(self, folder):
        folder = pathlib.Path(folder)
        self.meta = json.loads((folder / "stylegan2.json").read_text())
        runner = RUNNERS[self.meta["format"]]
        self._fns = {name: runner(folder / file) for name, file in self.meta["files"].items()}

    def _inputs(self, z, c):
        z = np.asarray(z, np.float32)
        if self.meta["c_dim"]:
            if c is None:
                raise ValueError(
                    f"c [N, {self.meta['c_dim']}] is required: the model is conditional"
                )
            return z, np.asarray(c, np.float32)
        return (z,)

    def __call__(self, z, c=None):
        return self._fns["generator"](*self._inputs(z, c))

    def mapping(self, z, c=None):
        return self._fns["mapping"](*self._inputs(z, c))

    def synthesis(self, ws):
        return self._fns["synthesis"](np.asarray(ws, np.float32))


def load(folder):
    return Exported(folder)
