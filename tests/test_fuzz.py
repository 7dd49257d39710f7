"""Fuzzing what users send: mutated job specs and architecture files (hypothesis) and the REST
API's own OpenAPI schema (schemathesis). Whatever arrives: a result or a clear error naming a
field, never another exception or a 5xx, and nothing written for a rejected input."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.job.errors import SpecError
from nas.job.parse import decode_spec_text, parse_spec
from nas.service import submit_job
from nas.store import Store
from search_spaces import ArchValidationError, get_space
from tests.helpers import REPO, cli

EXAMPLES = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "examples").glob("*.yaml"))]
ARCHS = {
    "flexibert": {"layers": [{"hidden": 256, "heads": 4, "op": "sa-sdp", "ff": [1024, 1024, 1024]}, {"hidden": 256, "heads": 2, "op": "lt-dft", "ff": [512]}]},
    "vit-resnas": get_space("vit-resnas", "small-images").sample(__import__("random").Random(0)).to_dict(),
}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Values a field should never be, by kind: wrong types, non-finite and huge numbers, unicode and
# control characters, deep nesting, empty containers.
nasty_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.just(2**64), st.just(10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -0.0]),
    st.text(max_size=20), st.sampled_from(["", "\x00", "a\x00b", "\u202e", "é" * 300, "../../etc/passwd", "/etc/passwd", "NaN", "1e999"]),
)  # fmt: skip


def deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


nasty = st.one_of(
    nasty_scalars,
    st.lists(nasty_scalars, max_size=4),
    st.dictionaries(st.text(max_size=8), nasty_scalars, max_size=3),
    # Deeper values are tested one by one below: hypothesis's own printer recurses past Python's
    # limit on them.
    st.sampled_from([deep(40), deep(300), {"a": deep(100)}]),
)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place inside a JSON value down to 8 levels (deeper is an earlier mutation), as key /
    index paths."""
    out = [prefix]
    if len(prefix) >= 8:
        return out
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += paths(item, (*prefix, index))
    return out


def replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


@st.composite
def mutated(draw: st.DrawFn, documents: list[Any]) -> Any:
    """A valid document with one to three places replaced by a nasty value or an unknown field."""
    document = draw(st.sampled_from(documents))
    for _ in range(draw(st.integers(1, 3))):
        places = paths(document)
        place = draw(st.sampled_from(places))
        target = document
        for part in place:
            target = target[part]
        if isinstance(target, dict) and draw(st.booleans()):
            document = replaced(document, place, {**target, draw(st.text(min_size=1, max_size=8)): draw(nasty)})
        else:
            document = replaced(document, place, draw(nasty))
    return document


@FUZZ
@given(data=mutated(EXAMPLES))
def test_mutated_specs_are_accepted_or_rejected_with_field_errors(data: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'nas.db'}")
    try:
        job = submit_job(store, data) if isinstance(data, dict) else parse_spec(data)  # type: ignore[arg-type]
    except SpecError as err:
        assert err.problems and all(isinstance(p, str) and ": " in p and "Traceback" not in p for p in err.problems)
        assert store.list_jobs() == []  # nothing written for a rejected spec
    else:
        assert store.get_job(job.id).spec == parse_spec(data).to_dict()
    finally:
        store.close()


def as_text(document: Any, use_yaml: bool) -> str:
    """The document as a user's file would hold it (very deep ones written out by hand: the
    encoders themselves recurse)."""
    try:
        return yaml.safe_dump(document) if use_yaml else json.dumps(document, allow_nan=True)
    except RecursionError:
        return "[" * 5000 + "]" * 5000


@FUZZ
@given(text=st.one_of(st.text(max_size=300), st.builds(as_text, mutated(EXAMPLES), st.booleans())))
def test_spec_text_decodes_or_names_the_problem(text: str) -> None:
    try:
        decode_spec_text(text, "spec.yaml")
    except SpecError as err:
        assert err.problems[0].startswith("spec.yaml")


@FUZZ
# One strategy, not st.data(): hypothesis pretty-prints each interactive draw, and the printer
# recurses past Python's limit on the deeply nested values.
@given(case=st.sampled_from(sorted(ARCHS)).flatmap(lambda name: st.tuples(st.just(name), mutated([ARCHS[name]]))))
def test_mutated_architectures_are_valid_or_named_errors(case: tuple[str, Any]) -> None:
    space_name, arch = case
    space = get_space(space_name, "small-images" if space_name == "vit-resnas" else "flexibert")
    try:
        space.validate(arch)
    except ArchValidationError as err:
        assert err.problems and all(str(p).strip() and "Traceback" not in str(p) for p in err.problems)


@pytest.mark.parametrize("space_name", sorted(ARCHS))
def test_very_deep_values_in_an_architecture_are_named_errors(space_name: str) -> None:
    space = get_space(space_name, "small-images" if space_name == "vit-resnas" else "flexibert")
    first = next(iter(ARCHS[space_name]))
    for arch in (deep(2000), {**ARCHS[space_name], first: deep(2000)}):
        with pytest.raises(ArchValidationError) as info:
            space.validate(arch)
        assert "expected" in str(info.value) or "length" in str(info.value)


def test_the_cli_never_shows_a_traceback_for_a_deep_or_aliased_file(tmp_path: Path) -> None:
    cases = {
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "deep.yaml": "a:\n" + "".join("  " * (i + 1) + "b:\n" for i in range(40)),
        "bomb.yaml": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
        "twice.yaml": "name: a\nname: b\nspace: vit-resnas\ntask: digits\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        for args in (["submit", str(path), "--db", f"sqlite:///{tmp_path / 'nas.db'}"], ["arch", "validate", "flexibert", str(path)]):
            result = cli(*args)  # an uncaught error would raise here: the user would see its traceback
            assert result.exit_code == 2 and "Traceback" not in result.stderr, (name, args, result.stderr[-500:])
