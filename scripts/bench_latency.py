"""How repeatable a latency measurement is (`nas.export.latency`): each model measured several
times, in each runtime, and how far the figures of those measurements spread.

    python scripts/bench_latency.py                      # ViT-ResNAS digits and FlexiBERT models, 5 times each
    python scripts/bench_latency.py --times 10 --json out.json

For each (model, runtime): the median of the measurements' figures (the 10th percentile of call
times, what `latency_ms` is) and their spread (largest over smallest, minus one: the figure a 3%
goal is about), the same for the measurements' medians, and the mean stated precision (the
half-width of each measurement's 95% interval, relative). Then, for ONNX Runtime, how the file the
measurement times (the TorchScript-based exporter's) compares with the one `nas export` writes
(the dynamo exporter's): their figures measured alternately, as a ratio. Run it on a quiet
machine: another process on the same cores is what it would measure.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.export.latency import QUANTILE, RUNTIMES, LatencySettings, measure_latency  # noqa: E402
from search_spaces import ImageTaskShape, get_space  # noqa: E402


def models() -> list[tuple[str, torch.nn.Module, torch.Tensor]]:
    """The digits space's smallest and largest subnets and a random one; a FlexiBERT one."""
    picked = []
    vit = get_space("vit-resnas", "small-images")
    shape = vit.default_task()
    assert isinstance(shape, ImageTaskShape)
    image = torch.rand(1, shape.channels, shape.image_size, shape.image_size) * 16
    for name, arch in (("vit smallest", vit.extreme(random.Random(0), largest=False)), ("vit random", vit.sample(random.Random(1))), ("vit largest", vit.extreme(random.Random(0), largest=True))):
        picked.append((name, vit.build(arch, shape).eval(), image))
    bert = get_space("flexibert", "nas-bench-bert")
    text_shape = bert.default_task()
    tokens = torch.randint(4, text_shape.vocab_size, (1, text_shape.max_len))
    picked.append(("flexibert random", bert.build(bert.sample(random.Random(2)), text_shape).eval(), tokens))
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--times", type=int, default=5, help="Measurements of each model in each runtime.")
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    rows = []
    for name, model, example in models():
        for runtime in args.runtimes:
            settings = LatencySettings(runtime=runtime, threads=args.threads)
            measured = [measure_latency(model, example, settings) for _ in range(args.times)]
            figures, medians = [m.ms for m in measured], [m.median_ms for m in measured]
            rows.append({
                "model": name, "runtime": runtime, "latency_ms": statistics.median(figures), "spread": max(figures) / min(figures) - 1,
                "median_ms": statistics.median(medians), "median_spread": max(medians) / min(medians) - 1,
                "stated_precision": statistics.mean(m.relative_error for m in measured), "calls": statistics.mean(m.repeats for m in measured),
                "figures_ms": figures, "medians_ms": medians,
            })  # fmt: skip
    table = Table("model", "runtime", "latency_ms", "spread", "median", "spread of medians", "stated precision", "calls", title=f"{args.times} measurements each, {args.threads} thread(s), batch 1")
    for row in rows:
        table.add_row(
            row["model"], row["runtime"], f"{row['latency_ms']:.3g} ms", f"{row['spread']:.1%}", f"{row['median_ms']:.3g} ms", f"{row['median_spread']:.1%}",
            f"±{row['stated_precision']:.1%}", f"{row['calls']:.0f}",
        )  # fmt: skip
    Console().print(table)
    exporters = exporter_agreement(args.times, args.threads) if "onnxruntime" in args.runtimes else []
    if exporters:
        table = Table("model", "timed file", "nas export's file", "ratio", title="ONNX Runtime: the file a measurement times against the one nas export writes")
        for row in exporters:
            table.add_row(row["model"], f"{row['timed_ms']:.3g} ms", f"{row['exported_ms']:.3g} ms", f"{row['ratio']:.3f}")
        Console().print(table)
    if args.json:
        args.json.write_text(json.dumps({"times": args.times, "threads": args.threads, "quantile": QUANTILE, "rows": rows, "exporters": exporters}, indent=1))


def exporter_agreement(times: int, threads: int) -> list[dict[str, float | str]]:
    """Each model's two ONNX files timed alternately `times` times: the median of each one's figures."""
    import tempfile

    import onnxruntime

    from nas.export.exporter import save_onnx
    from nas.export.latency import onnx_for_timing, time_calls

    rows: list[dict[str, float | str]] = []
    settings = LatencySettings(threads=threads)
    for name, model, example in models():
        with tempfile.TemporaryDirectory() as scratch:
            timed, exported = Path(scratch) / "timed.onnx", Path(scratch) / "exported.onnx"
            onnx_for_timing(model, example, timed)
            save_onnx(model, example, exported)
            runs = []
            for path in (timed, exported):
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
                session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                feed = {session.get_inputs()[0].name: example.numpy()}
                runs.append(lambda session=session, feed=feed: session.run(None, feed))
            figures: list[list[float]] = [[], []]
            for _ in range(times):
                for i, run in enumerate(runs):
                    figures[i].append(time_calls(run, settings).ms)
        timed_ms, exported_ms = statistics.median(figures[0]), statistics.median(figures[1])
        rows.append({"model": name, "timed_ms": timed_ms, "exported_ms": exported_ms, "ratio": timed_ms / exported_ms})
    return rows


if __name__ == "__main__":
    main()
