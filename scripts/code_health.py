"""Three measures of the code's shape, each rerunnable on any checkout:

- `layers`: imports that point up the package's layer order (`LAYERS`, lowest first), i.e. a
  lower layer reaching into a higher one. The design fixes `nas` -> `surrogates` ->
  `search_spaces`; inside `nas`, roles build on one another in the order below. Imports made only
  for type checking count: the module still depends on the other's names.
- `functions`: the longest functions and methods (lines from `def` to the last line of the body).
- `repeats`: blocks of `--lines` consecutive lines (stripped, blank lines and comments ignored)
  that occur more than once across the packages.

    python scripts/code_health.py layers
    python scripts/code_health.py functions --top 15
    python scripts/code_health.py repeats --lines 6

tests/test_layers.py asserts that `layers` finds nothing.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("search_spaces", "surrogates", "nas")

# Lowest first. A module belongs to the longest prefix listed; modules of one layer may import
# each other. Migrations are Alembic's scripts, not part of the import structure.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("search_spaces",),
    ("surrogates",),
    ("nas", "nas.clock", "nas.log", "nas.paths", "nas.documents", "nas.statuses"),  # foundations: no role of their own
    ("nas.tasks",),  # task data, tokenizers, generators
    ("nas.datasets",),  # datasets uploaded to a server
    ("nas.job",),  # the job spec: what a user may write, validated
    ("nas.store",),  # the database
    ("nas.access", "nas.artifact_root"),  # API keys; where a job's files live
    ("nas.results",),  # fronts, promotion, verdicts, analysis read from the store
    ("nas.read_models",),  # the service's answers, typed
    ("nas.training",),
    ("nas.export",),
    ("nas.search",),  # running a job: coordinator, evaluators, stages
    ("nas.service",),  # the operations the CLI and the API share
    ("nas.dashboard",),
    ("nas.api", "nas.client"),
    ("nas.cli",),
)
IGNORED = ("nas.store.migrations",)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (or module.name for `from module import name`)
    line: int


def module_files() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(parts)
            if not name.startswith(IGNORED):
                yield name, path


def imports(module: str, path: Path) -> Iterator[Import]:
    """Every import of the project's own packages in the file, wherever it stands (function-local
    and TYPE_CHECKING imports included)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(parent + ([base] if base else []))
            targets = [base]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                yield Import(module, target, node.lineno)


def layer_of(module: str) -> int:
    best, rank = -1, None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    if rank is None:
        raise SystemExit(f"{module}: in no layer of LAYERS (scripts/code_health.py); add it where it belongs")
    return rank


def points_up(i: Import) -> bool:
    return layer_of(i.target) > layer_of(i.module)


def back_arrows() -> list[Import]:
    """Imports from a lower layer into a higher one."""
    return [i for module, path in module_files() for i in imports(module, path) if points_up(i)]


@dataclass(frozen=True)
class Function:
    name: str  # module:qualified name
    lines: int


def functions() -> list[Function]:
    found = []
    for module, path in module_files():
        tree = ast.parse(path.read_text(), str(path))

        def visit(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.append(Function(f"{module}:{prefix}{child.name}", child.end_lineno - child.lineno + 1))
                    visit(child, f"{prefix}{child.name}.")
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")

        visit(tree, "")
    return sorted(found, key=lambda f: -f.lines)


def repeats(window: int) -> dict[str, list[str]]:
    """{block text: ["path:line", ...]} for blocks of `window` code lines found more than once
    (overlapping windows of one longer repeat are reported once, at their first line)."""
    seen: dict[str, list[str]] = defaultdict(list)
    texts: dict[str, str] = {}
    for _, path in module_files():
        code = [(n, line.strip()) for n, line in enumerate(path.read_text().splitlines(), 1) if line.strip() and not line.strip().startswith("#")]
        for i in range(len(code) - window + 1):
            block = "\n".join(text for _, text in code[i : i + window])
            if block.count("\n") + 1 == window and len(block) > 40 * window // 2:  # short lines (brackets, returns) repeat by nature
                key = hashlib.sha1(block.encode()).hexdigest()
                seen[key].append(f"{path.relative_to(ROOT)}:{code[i][0]}")
                texts[key] = block
    found = {texts[k]: places for k, places in seen.items() if len(places) > 1}
    # Drop windows that continue a repeat already reported at the previous line.
    starts = {place for places in found.values() for place in places}
    kept = {}
    for text, places in found.items():
        previous = []
        for place in places:
            path, line = place.rsplit(":", 1)
            previous.append(any(f"{path}:{n}" in starts for n in range(int(line) - 3, int(line))))
        if not all(previous):
            kept[text] = places
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="measure", required=True)
    sub.add_parser("layers", help="imports that point up the layer order")
    top = sub.add_parser("functions", help="the longest functions")
    top.add_argument("--top", type=int, default=15)
    rep = sub.add_parser("repeats", help="repeated blocks of code")
    rep.add_argument("--lines", type=int, default=6)
    args = parser.parse_args()
    if args.measure == "layers":
        found = back_arrows()
        for i in found:
            print(f"{i.module}:{i.line} imports {i.target} (layer {layer_of(i.module)} -> {layer_of(i.target)})")
        print(f"{len(found)} imports point up the layer order")
        sys.exit(1 if found else 0)
    if args.measure == "functions":
        every = functions()
        for f in every[: args.top]:
            print(f"{f.lines:5d}  {f.name}")
        print(f"{len(every)} functions; {sum(f.lines > 50 for f in every)} over 50 lines, {sum(f.lines > 100 for f in every)} over 100")
        return
    found = repeats(args.lines)
    for text, places in sorted(found.items(), key=lambda item: -len(item[1])):
        print(f"{len(places)}x  {', '.join(places)}\n    " + text.replace("\n", "\n    "))
    print(f"{len(found)} blocks of {args.lines} lines occur more than once")


if __name__ == "__main__":
    main()
