"""Load this exported model and classify raw inputs, without the NAS service.

    python loader.py DIR INPUT_FILE   # .txt: one text per line; .npy: images. Prints JSON lines.

    from loader import load
    predictor = load(DIR)             # load(DIR, "pytorch") rebuilds from model.safetensors instead
    predictor.predict(inputs)         # class indices (predictor.classes names them)
    predictor.logits(inputs)          # (n, classes) array

Inputs: text models take a list of strings; image models a numpy array (n, size, size) or
(n, channels, size, size) in the original pixel scale. Needs numpy and, by format: onnx ->
onnxruntime; torchscript -> torch; pytorch -> torch, safetensors and the `search_spaces` package
(transformer-nas). Text models also need `tokenizers`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

BATCH_SIZE = 256


class Predictor:
    def __init__(self, directory: str | Path, backend: str | None = None):
        self.directory = Path(directory)
        self.meta = json.loads((self.directory / "arch.json").read_text())
        self.classes: list[str] = self.meta["classes"]
        self.kind: str = self.meta["task"]["kind"]
        self.backend = backend or self.meta["format"]
        if self.kind == "text":
            from tokenizers import Tokenizer  # pads and truncates to the model's max_len

            self.tokenizer = Tokenizer.from_file(str(self.directory / "tokenizer.json"))
        else:
            self.preprocessing = json.loads((self.directory / "preprocessing.json").read_text())
        runners = {"onnx": self._onnx, "torchscript": self._torchscript, "pytorch": self._pytorch}
        if self.backend not in runners:
            raise ValueError(f"backend: {self.backend!r} not in {sorted(runners)}")
        self._run = runners[self.backend]()

    def logits(self, inputs) -> np.ndarray:
        x = self._text(inputs) if self.kind == "text" else self._images(inputs)
        batches = [self._run(x[i : i + BATCH_SIZE]) for i in range(0, len(x), BATCH_SIZE)]
        return np.concatenate(batches) if batches else np.zeros((0, len(self.classes)), np.float32)

    def predict(self, inputs) -> np.ndarray:
        return self.logits(inputs).argmax(-1)

    def _text(self, texts: list[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("inputs: expected a list of texts, got a single string")
        return np.array([e.ids for e in self.tokenizer.encode_batch(list(texts))], dtype=np.int64)

    def _images(self, images) -> np.ndarray:
        p = self.preprocessing
        x = np.asarray(images, dtype=np.float32)
        if x.ndim == 3:
            x = x[:, None]
        expected = (p["channels"], p["image_size"], p["image_size"])
        if x.ndim != 4 or x.shape[1:] != expected:
            raise ValueError(f"inputs: expected images (n, {expected[1]}, {expected[2]}) or (n, {', '.join(map(str, expected))}), got {x.shape}")
        return ((x / p["max_value"] - p["mean"]) / p["std"]).astype(np.float32)

    def _onnx(self):
        import onnxruntime

        session = onnxruntime.InferenceSession(str(self.directory / "model.onnx"), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]

    def _torchscript(self):
        import torch

        return _torch_runner(torch, torch.jit.load(str(self.directory / "model.pt"), map_location="cpu"))

    def _pytorch(self):
        import torch
        from safetensors.torch import load_file
        from search_spaces import ImageTaskShape, TextTaskShape, get_space

        m = self.meta
        space = get_space(m["space"], m["preset"], m["choices"])
        shape = (TextTaskShape if self.kind == "text" else ImageTaskShape)(**m["task"]["shape"])
        with torch.device("meta"):  # no random init: the weights come from the file
            model = space.build(space.validate(m["arch"]), shape)
        model.load_state_dict(load_file(self.directory / "model.safetensors"), strict=True, assign=True)
        return _torch_runner(torch, model)


def _torch_runner(torch, module):
    module.eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    return run


def load(directory: str | Path, backend: str | None = None) -> Predictor:
    return Predictor(directory, backend)


def read_texts(path: Path) -> list[str]:
    """One text per line; only \n ends a line (str.splitlines would also split inside a text)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python loader.py EXPORT_DIR INPUT_FILE (.txt one text per line, or .npy images)", file=sys.stderr)
        return 2
    predictor = load(argv[0])
    path = Path(argv[1])
    inputs = read_texts(path) if predictor.kind == "text" else np.load(path, allow_pickle=False)
    for i, k in enumerate(predictor.predict(inputs)):
        print(json.dumps({"index": i, "class": predictor.classes[int(k)]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
