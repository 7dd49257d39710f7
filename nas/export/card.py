"""The model card of an export (MODEL_CARD.md): what the model is, how well it does on which
split, and how the search found it, written from the same record as arch.json."""

from __future__ import annotations

from typing import Any

from nas.job.metrics import ACCURACY, FLOPS, LATENCY, PARAMS, Metric, metric


def _percent(value: Any) -> str:
    return ACCURACY.format(value) if isinstance(value, (int, float)) else "–"


def _count(value: Any, shown: Metric) -> str:
    """As every surface writes it, with the exact count beside it: '1.83 M (1,831,306)'."""
    return f"{shown.format(value)} ({value:,})" if isinstance(value, int) else "–"


def model_card(meta: dict[str, Any]) -> str:
    """Markdown for the export described by `meta` (the content of its arch.json)."""
    metrics, cost, task = meta.get("metrics", {}), meta.get("cost", {}), meta["task"]
    found = meta.get("provenance") or {}
    lines = [
        f"# Model card: {meta['space']} architecture {meta['arch_id'][:12]}",
        "",
        f"{_indefinite(task['kind']).capitalize()} classifier for task `{task['name']}` ({len(meta['classes'])} classes), exported as `{meta['format']}` by transformer-nas {meta['package_version']} (torch {meta['torch_version']}).",
        "",
        "## Results",
        "",
        "| split | accuracy |",
        "|---|---|",
        f"| validation | {_percent(metrics.get('val_accuracy'))} |",
        f"| test (held out: never read by the search) | {_percent(metrics.get('test_accuracy'))} |",
        "",
    ]
    weights = metrics.get("weights")
    if weights == "inherited":
        lines.append("Weights inherited from the weight-sharing supernet (not trained alone).")
    elif weights == "trained":
        lines.append("Weights from the verified stage: the architecture trained alone.")
    if metrics.get("finetune_epochs"):
        lines.append(
            f"Fine-tuned {metrics['finetune_epochs']} epoch(s) at peak learning rate {metrics.get('finetune_lr')}, keeping epoch {metrics.get('finetune_best_epoch')}; "
            f"before it: validation {_percent(metrics.get('val_accuracy_start'))}, test {_percent(metrics.get('test_accuracy_start'))}."
        )
    if found.get("chance_accuracy") is not None:
        lines.append(f"Always answering the most frequent class scores {_percent(found['chance_accuracy'])} on validation.")
    lines += ["", "## Cost", "", f"- parameters: {_count(cost.get('params'), PARAMS)}", f"- FLOPs per example: {_count(cost.get('flops'), FLOPS)}"]
    lines += [*_latency_lines(meta.get("latency"), metrics.get("latency_ms")), ""]
    if found:
        objectives = ", ".join(f"{o['goal']} {o['metric']}" for o in found.get("objectives", []))
        owner = f" of {found['owner']}" if found.get("owner") else ""
        constraints = ", ".join(f"{metric(name).label} ≤ {metric(name).format(limit)}" for name, limit in (found.get("constraints") or {}).items()) or "none"
        lines += [
            "## How it was found",
            "",
            f"- job {found['job_id']} `{found['job_name']}`{owner}, candidate {found['candidate']}",
            f"- search space {meta['space']} (preset {meta['preset']}), strategy {found['strategy']}, seed {found['seed']}",
            f"- objectives: {objectives}; constraints: {constraints}",
            f"- {found['candidates_evaluated']} of a budget of {found['budget_candidates']} candidates evaluated",
            f"- search (inherited) accuracy on validation: {_percent(metrics.get('search_accuracy'))}",
        ]
        verified = metrics.get("verified")
        if verified:
            lines.append(f"- verified: trained alone ({verified['init']}), validation {_percent(verified['val_accuracy'])}, test {_percent(verified['test_accuracy'])}")
        lines.append("")
    example = "['some text']" if task["kind"] == "text" else "images"
    lines += [
        "## Use",
        "",
        "```python",
        "from loader import load  # loader.py, in this directory",
        "predictor = load('.')",
        f"predictor.predict({example})  # class indices; predictor.classes names them",
        "```",
        "",
        "or `python loader.py . INPUT_FILE` (one text per line, or a .npy of images).",
        "",
        "`arch.json` holds the architecture, its preprocessing and everything above as data.",
        "",
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def latency_text(measured: dict[str, Any]) -> str:
    """An export's measured latency (its arch.json `latency`) as one line for people."""
    threads = f"{measured['threads']} thread{'s' * (measured['threads'] != 1)}"
    return (
        f"{LATENCY.format(measured['ms'])} per call (95% interval {measured['low_ms']:.3g}–{measured['high_ms']:.3g} ms; median {LATENCY.format(measured['median_ms'])}; "
        f"the {round(100 * measured['quantile'])}th percentile of {measured['repeats']} calls), {measured['runtime']}, batch {measured['batch_size']}, {threads}, "
        f"measured at export on {measured['machine']}"
    )


def _latency_lines(measured: dict[str, Any] | None, searched_ms: Any) -> list[str]:
    """The latency measured at export (the job's runtime settings, this machine), and the one the
    search measured on its evaluator's node when there was one."""
    lines = []
    if measured:
        lines.append(f"- latency: {latency_text(measured)}")
    if isinstance(searched_ms, (int, float)):
        lines.append(f"- latency measured by the search, on its evaluator's node: {LATENCY.format(searched_ms)}")
    return lines


def _indefinite(noun: str) -> str:
    """"an image", "a text": the article by the noun's first letter (enough for task kinds)."""
    return f"{'an' if noun.lower().startswith(tuple('aeiou')) else 'a'} {noun}"
