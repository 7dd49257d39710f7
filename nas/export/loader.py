"""Load this exported model and classify raw inputs, without the NAS service.

    python loader.py DIR INPUT_FILE   # .txt: one text per line; .npy: images. Prints JSON lines.

    from loader import load
    predictor = load(DIR)             # load(DIR, "pytorch") rebuilds from model.safetensors instead
    predictor.predict(inputs)         # class indices (predictor.classes names them)
    predictor.logits(inputs)          # (n, classes) array

Inputs: text models take a list of strings; image models a numpy array (n, size, size) or
(n, channels, size, size) of numbers in the original pixel scale. Inputs they cannot take raise
LoaderError (a ValueError) naming what was expected and what came; the command prints that one
line and exits with 2. Needs numpy and, by format: onnx -> onnxruntime; torchscript -> torch;
pytorch -> torch, safetensors and the `search_spaces` package (transformer-nas). Text models also
need `tokenizers`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

BATCH_SIZE = 256
INVALID_INPUT = 2  # the command's exit code for inputs it cannot take, as the `nas` command's
IMAGE_FILE, TEXT_FILE = ".npy", ".txt"


class LoaderError(ValueError):
    """What the loader was given cannot be used: the message names what it expected and what came."""


class Predictor:
    def __init__(self, directory: str | Path, backend: str | None = None):
        self.directory = Path(directory)
        if not (self.directory / "arch.json").is_file():
            raise LoaderError(f"export directory: {directory} holds no arch.json; expected a directory written by `nas export`")
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
            raise LoaderError(f"backend: {self.backend!r} not in {sorted(runners)}")
        try:
            self._run = runners[self.backend]()
        except ImportError as exc:
            raise LoaderError(f"backend {self.backend}: cannot import {exc.name or exc}; install what this format needs (the top of loader.py lists it)") from None

    def logits(self, inputs) -> np.ndarray:
        x = self._text(inputs) if self.kind == "text" else self._images(inputs)
        batches = [self._run(x[i : i + BATCH_SIZE]) for i in range(0, len(x), BATCH_SIZE)]
        return np.concatenate(batches) if batches else np.zeros((0, len(self.classes)), np.float32)

    def predict(self, inputs) -> np.ndarray:
        return self.logits(inputs).argmax(-1)

    @property
    def expects(self) -> str:
        """What `predict` takes, for messages."""
        if self.kind == "text":
            return "a list of texts (str)"
        p = self.preprocessing
        size, channels = p["image_size"], p["channels"]
        return f"images as a numpy array of numbers (n, {size}, {size}) or (n, {channels}, {size}, {size}), pixel values 0 to {p['max_value']:g}"

    def _text(self, texts) -> np.ndarray:
        if isinstance(texts, (str, bytes)):
            raise LoaderError(f"inputs: expected {self.expects}, got a single {type(texts).__name__}; wrap it in a list")
        if isinstance(texts, np.ndarray) and texts.dtype.kind != "U":
            raise LoaderError(f"inputs: expected {self.expects}, got a numpy array of {texts.dtype} {texts.shape}")
        try:
            texts = list(texts)
        except TypeError:
            raise LoaderError(f"inputs: expected {self.expects}, got {type(texts).__name__}") from None
        wrong = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
        if wrong is not None:
            raise LoaderError(f"inputs[{wrong}]: expected a text (str), got {type(texts[wrong]).__name__} {texts[wrong]!r:.40}")
        return np.array([e.ids for e in self.tokenizer.encode_batch(texts)], dtype=np.int64)

    def _images(self, images) -> np.ndarray:
        p = self.preprocessing
        try:
            x = np.asarray(images)
        except ValueError:  # ragged: images of different sizes
            raise LoaderError(f"inputs: expected {self.expects}, got images of different shapes") from None
        if x.dtype.kind not in "biuf":  # bool, int, unsigned, float
            raise LoaderError(f"inputs: expected {self.expects}, got {'texts' if x.dtype.kind in 'US' else f'an array of {x.dtype}'} {x.shape}")
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1:] != (p["channels"], p["image_size"], p["image_size"]):
            raise LoaderError(f"inputs: expected {self.expects}, got shape {np.shape(images)}")
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise LoaderError(f"inputs: expected {self.expects}, got NaN or infinite values ({np.count_nonzero(~np.isfinite(x))} of {x.size})")
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


def read_inputs(path: Path, predictor: Predictor):
    """The inputs in `path` for `predictor`: a text file of one text per line (text models) or a
    .npy array (image models); LoaderError, naming the file and what it should be, otherwise."""
    wanted = f"{TEXT_FILE} file of one text per line (UTF-8)" if predictor.kind == "text" else f"{IMAGE_FILE} file of {predictor.expects}"
    if not path.is_file():
        raise LoaderError(f"INPUT_FILE: {path} {'is not a file' if path.exists() else 'not found'}; this {predictor.kind} model reads a {wanted}")
    if predictor.kind == "text":
        try:
            return read_texts(path)
        except UnicodeDecodeError:
            raise LoaderError(f"INPUT_FILE: {path} is not UTF-8 text; this text model reads a {wanted}") from None
    if path.suffix.lower() != IMAGE_FILE:
        raise LoaderError(f"INPUT_FILE: {path} is not a {IMAGE_FILE} file; this image model reads a {wanted}, e.g. numpy.save('images.npy', images)")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):  # numpy's own reason ("pickled data") would mislead
        raise LoaderError(f"INPUT_FILE: {path} is not a numpy array file; this image model reads a {wanted}") from None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: python loader.py EXPORT_DIR INPUT_FILE ({TEXT_FILE} one text per line, or {IMAGE_FILE} images)", file=sys.stderr)
        return INVALID_INPUT
    try:
        predictor = load(argv[0])
        predictions = predictor.predict(read_inputs(Path(argv[1]), predictor))
    except LoaderError as exc:  # the user's mistake: one line, no traceback
        print(exc, file=sys.stderr)
        return INVALID_INPUT
    for i, k in enumerate(predictions):
        print(json.dumps({"index": i, "class": predictor.classes[int(k)]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
