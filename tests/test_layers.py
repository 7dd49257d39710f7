"""The packages' imports point one way: down the layer order of scripts/code_health.py (the design's
`nas` -> `surrogates` -> `search_spaces`, and inside `nas` each role on those below it)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "code_health.py"


@pytest.fixture(scope="module")
def health() -> ModuleType:
    spec = importlib.util.spec_from_file_location("code_health", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_no_import_points_up_the_layer_order(health: ModuleType) -> None:
    found = health.back_arrows()
    assert not found, "imports from a lower layer into a higher one:\n" + "\n".join(f"{i.module}:{i.line} imports {i.target}" for i in found)


def test_every_module_has_a_layer(health: ModuleType) -> None:
    modules = [module for module, _ in health.module_files()]
    assert len(modules) > 100 and all(health.layer_of(module) >= 0 for module in modules)


def test_the_check_sees_an_import_that_points_up(health: ModuleType, tmp_path: Path) -> None:
    written = tmp_path / "store.py"
    written.write_text("from __future__ import annotations\n\ndef f():\n    from nas.service import get_job  # a function-local import counts too\n    from ..results import front\n")
    found = list(health.imports("nas.store.store", written))
    assert [(i.target, i.line) for i in found] == [("nas.service", 4), ("nas.results", 5)]
    assert all(health.points_up(i) for i in found)
    assert not health.points_up(health.Import("nas.service", "nas.store", 1))
