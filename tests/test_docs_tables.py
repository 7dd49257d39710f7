"""docs/spec.md and docs/api.md against the code they describe, so that neither can drift: every
field of the job spec's models is a row of its section's table, with its bounds, allowed values
and default; every route of the OpenAPI schema is a row of the API's table, with its query and
body fields. A failure says which rows to add, change or remove. And the README stays readable:
its prose lines fit in 100 characters and its relative links lead to files that exist."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from nas.api import create_app
from nas.job.parse import decode_spec_text, parse_spec
from nas.job.schema import JobSpec
from nas.store import Store
from nas.tasks.catalog import BENCHMARK_TASK, BUILTIN_TASKS
from search_spaces import space_names
from tests.helpers import REPO

SPEC_DOC, API_DOC, README = REPO / "docs" / "spec.md", REPO / "docs" / "api.md", REPO / "README.md"

# ---- markdown tables ----

CODE = re.compile(r"`([^`]*)`")
SEPARATOR = re.compile(r"^\|[\s:|-]+\|$")


@dataclass(frozen=True)
class Table:
    heading: str  # the nearest heading above the table, without its #s
    rows: list[dict[str, str]]  # cells by column name


def split_row(line: str) -> list[str]:
    """The cells of a table line, split at the pipes outside code spans."""
    cells, cell, in_code = [], "", False
    for char in line.strip():
        if char == "|" and not in_code:
            cells.append(cell.strip())
            cell = ""
            continue
        in_code ^= char == "`"
        cell += char
    if cell.strip():  # a row without its closing pipe
        cells.append(cell.strip())
    return cells[1:]  # cells[0] is what precedes the leading pipe


def tables(text: str, first_column: str) -> list[Table]:
    """The tables of a markdown text whose first column is `first_column`, outside code blocks."""
    found: list[Table] = []
    heading, in_fence = "", False
    lines = text.splitlines()
    for i, line in enumerate(lines):
        in_fence ^= line.startswith("```")
        if in_fence:
            continue
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and i + 1 < len(lines) and SEPARATOR.match(lines[i + 1].strip()):
            header = split_row(line)
            if header[0] != first_column:
                continue
            rows = [split_row(row) for row in _table_lines(lines, i + 2)]
            for row in rows:
                assert len(row) == len(header), f"a row of the table under '{heading}' has {len(row)} cells, not {len(header)}: {row}"
            found.append(Table(heading, [dict(zip(header, row)) for row in rows]))
    return found


def _table_lines(lines: list[str], start: int) -> list[str]:
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return lines[start:end]


def code_spans(cell: str) -> list[str]:
    return CODE.findall(cell)


def unquoted(cell: str) -> str:
    return cell.replace("`", "").strip()


# ---- docs/spec.md against the models ----

TOP_LEVEL = "Top level"  # the top level's heading; every other section's heading names its paths in code spans
FIELD, TYPE, DEFAULT = "field", "type / allowed values", "default"
REQUIRED = "required"
# Allowed values of plain strings that are checked against catalogues, not by the model.
CATALOGUE_CHOICES = {"space": space_names(), "task.name": [*BUILTIN_TASKS, BENCHMARK_TASK]}
BOUND_SIGNS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "≥", "max_length": "≤"}  # length bounds of strings and lists
DOC_BOUND = re.compile(r"(≥|>|≤|<)\s*(\d[\d,]*(?:\.\d+)?)")
TYPE_WORDS = {int: "integer", float: "number", str: "string", bool: "true or false"}


def _parts(annotation: Any) -> tuple[Any, ...]:
    """The annotation and its arguments: `X | None` and `list[X]` both hold X."""
    return (annotation, *get_args(annotation))


def nested_model(annotation: Any) -> type[BaseModel] | None:
    return next((a for a in _parts(annotation) if isinstance(a, type) and issubclass(a, BaseModel)), None)


def spec_sections(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Each section of the spec by its path ("" for the top level, "resources.verify", ...) and the
    model of its fields; a model used in several places is a section under each path."""
    sections: dict[str, type[BaseModel]] = {}

    def walk(path: str, model: type[BaseModel]) -> None:
        sections[path] = model
        for name, field in model.model_fields.items():
            if (nested := nested_model(field.annotation)) is not None:
                walk(dotted(path, name), nested)

    walk("", root)
    return sections


def dotted(section: str, name: str) -> str:
    return f"{section}.{name}" if section else name


def shown(section: str) -> str:
    return f"`{section}`" if section else "the top level"


@dataclass(frozen=True)
class Expected:
    """What a field's row must say: its bounds, allowed values, default."""

    bounds: frozenset[tuple[str, float]]
    choices: frozenset[str] | None
    required: bool
    default: float | str | None  # bool, int, float or str: a plain default the row must show; None: not checked

    @classmethod
    def of(cls, path: str, field: FieldInfo) -> Expected:
        bounds = frozenset(
            (sign, float(getattr(m, attr))) for m in field.metadata for attr, sign in BOUND_SIGNS.items() if hasattr(m, attr)
        )
        literal = next((get_args(a) for a in _parts(field.annotation) if get_origin(a) is Literal), None)
        allowed = literal if literal is not None else CATALOGUE_CHOICES.get(path)
        # Defaults filled at submission (None here) or built by a factory are described in words.
        plain = field.default if field.default_factory is None and isinstance(field.default, (bool, int, float, str)) else None
        return cls(bounds, frozenset(map(str, allowed)) if allowed is not None else None, field.is_required(), plain)

    def problems(self, path: str, row: dict[str, str]) -> list[str]:
        out = []
        found_bounds = frozenset((sign, float(value.replace(",", ""))) for sign, value in DOC_BOUND.findall(row[TYPE]))
        if found_bounds != self.bounds:
            out.append(f"`{path}`: the type should give the bounds {_bounds(self.bounds) or 'none'}, not {_bounds(found_bounds) or 'none'}")
        if self.choices is not None and set(code_spans(row[TYPE])) != self.choices:
            out.append(f"`{path}`: the type should list {_spans(self.choices)}, not {_spans(code_spans(row[TYPE])) or 'nothing'}")
        default = row[DEFAULT].strip()
        if self.required and default != REQUIRED:
            out.append(f"`{path}`: the default should say {REQUIRED!r}, not {default!r}")
        elif not self.required and default == REQUIRED:
            out.append(f"`{path}`: is optional; its default says {REQUIRED!r}")
        elif self.default is not None and not _same(_first_literal(default), self.default):
            out.append(f"`{path}`: the default should start with {self.default_text}, not {default!r}")
        return out

    @property
    def default_text(self) -> str:
        if self.required:
            return REQUIRED
        return f"`{_literal_text(self.default)}`" if self.default is not None else "…"

    def row(self, name: str, field: FieldInfo) -> str:
        """A row to paste into the doc, its meaning left to write."""
        containers = {list: "list", dict: "mapping"}
        kind = containers.get(get_origin(field.annotation)) or next(
            (TYPE_WORDS[a] for a in _parts(field.annotation) if a in TYPE_WORDS), "mapping"
        )
        what = _spans(self.choices) if self.choices is not None else " ".join([kind, _bounds(self.bounds)]).strip()
        return f"| `{name}` | {what} | {self.default_text} | … |"


def _bounds(bounds: frozenset[tuple[str, float]]) -> str:
    order = {"≥": 0, ">": 0, "≤": 1, "<": 1}  # lower bound first
    return ", ".join(f"{sign} {_literal_text(value)}" for sign, value in sorted(bounds, key=lambda b: order[b[0]]))


def _literal_text(value: float | str) -> str:
    """A value as the doc writes it: `true`, `1000000`, `0.002`, `boshnas`."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # bounds are floats here: ≥ 1, not ≥ 1.0
    return value if isinstance(value, str) else json.dumps(value)


def _spans(values: Any) -> str:
    return ", ".join(f"`{v}`" for v in sorted(values))


def _first_literal(cell: str) -> Any:
    """The first code span of a cell as a value, read as JSON where it is JSON (numbers, true)."""
    spans = code_spans(cell)
    if not spans:
        return None
    try:
        return json.loads(spans[0])
    except json.JSONDecodeError:
        return spans[0]


def _same(found: Any, expected: Any) -> bool:
    return isinstance(found, bool) == isinstance(expected, bool) and found == expected


def documented_sections(text: str) -> tuple[dict[str, dict[str, dict[str, str]]], list[str]]:
    """The field tables of docs/spec.md by section path, each row by field name; and the
    problems of the doc's own layout (a table that names no section, one named twice)."""
    sections: dict[str, dict[str, dict[str, str]]] = {}
    problems = []
    for table in tables(text, FIELD):
        paths = [""] if table.heading == TOP_LEVEL else code_spans(table.heading)
        if not paths:
            problems.append(
                f"the field table under '{table.heading}' names no section: head it '{TOP_LEVEL}' or with its paths in backticks"
            )
        for path in paths:
            if path in sections:
                problems.append(f"{shown(path)} is documented twice; keep one table")
            sections[path] = {unquoted(row[FIELD]): row for row in table.rows}
    return sections, problems


def spec_doc_problems(text: str, root: type[BaseModel] = JobSpec) -> list[str]:
    documented, problems = documented_sections(text)
    models = spec_sections(root)
    for path in sorted(documented.keys() - models.keys()):
        problems.append(f"remove the section {shown(path)}: the spec has no such part")
    for path, model in models.items():
        rows = documented.get(path)
        if rows is None:
            problems.append(f"add a section headed {shown(path)} with a '{FIELD}' table of {model.__name__}'s fields")
            rows = {}
        for name in sorted(rows.keys() - model.model_fields.keys()):
            problems.append(f"{shown(path)}: remove the row of `{name}`: {model.__name__} has no such field")
        for name, field in model.model_fields.items():
            expected = Expected.of(dotted(path, name), field)
            if name not in rows:
                problems.append(f"{shown(path)}: add the row {expected.row(name, field)}")
            else:
                problems += expected.problems(dotted(path, name), rows[name])
    return problems


def test_spec_doc_documents_every_field_of_the_models() -> None:
    problems = spec_doc_problems(SPEC_DOC.read_text(encoding="utf-8"))
    assert not problems, "docs/spec.md is out of date with nas/job/schema.py:\n- " + "\n- ".join(problems)


def test_spec_doc_example_is_a_valid_spec() -> None:
    example = re.search(r"```yaml\n(.*?)```", SPEC_DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert example is not None, "docs/spec.md: no ```yaml example"
    parse_spec(decode_spec_text(example.group(1), "docs/spec.md"))  # raises SpecError naming each problem


class _Inner(BaseModel):
    size: int = Field(8, ge=1)
    count: int | None = None


class _Outer(BaseModel):
    name: str = Field(min_length=1)
    mode: Literal["fast", "slow"] = "fast"
    inner: _Inner = _Inner()


_DRIFTED_SPEC_DOC = """
## Top level

| field | type / allowed values | default | meaning |
|---|---|---|---|
| `name` | string, length ≥ 1 | required | |
| `mode` | `fast` | `slow` | |
| `old` | string | none | |
| `inner` | mapping | | |

## `inner`

| field | type / allowed values | default | meaning |
|---|---|---|---|
| `size` | integer ≥ 2 | `8` | |

## `outer`

| field | type / allowed values | default | meaning |
|---|---|---|---|
"""


def test_spec_doc_check_names_each_row_to_change() -> None:
    problems = spec_doc_problems(_DRIFTED_SPEC_DOC, _Outer)
    assert problems == [
        "remove the section `outer`: the spec has no such part",
        "the top level: remove the row of `old`: _Outer has no such field",
        "`mode`: the type should list `fast`, `slow`, not `fast`",
        "`mode`: the default should start with `fast`, not '`slow`'",
        "`inner.size`: the type should give the bounds ≥ 1, not ≥ 2",
        "`inner`: add the row | `count` | integer | … | … |",
    ]


# ---- docs/api.md against the OpenAPI schema ----

METHOD, PATH, AUTH, FIELDS = "method", "path", "auth", "query / body fields"
NO_AUTH = "none"
SPEC_BODY = "JobSpec"  # POST /jobs's body: documented field by field in docs/spec.md, checked above
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def openapi_schema(root: Path) -> dict[str, Any]:
    store = Store(f"sqlite:///{root / 'nas.db'}")
    try:
        return create_app(store, "docs-token", root / "exports", root / "data").openapi()
    finally:
        store.close()


def schema_routes(schema: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, ops in schema["paths"].items() for method, op in ops.items() if method in HTTP_METHODS}


def route_fields(schema: dict[str, Any], op: dict[str, Any]) -> list[str]:
    """The query parameters and JSON body fields a client sends (path parameters are in the path)."""
    names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
    ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    model = ref.rpartition("/")[2]
    if model and model != SPEC_BODY:
        names += list(schema["components"]["schemas"][model].get("properties", {}))
    return names


def api_doc_problems(text: str, schema: dict[str, Any]) -> list[str]:
    routes = schema_routes(schema)
    documented: dict[tuple[str, str], dict[str, str]] = {}
    problems = []
    for table in tables(text, METHOD):
        for row in table.rows:
            key = (unquoted(row[METHOD]).upper(), unquoted(row[PATH]))
            if key in documented:
                problems.append(f"remove the second row of {' '.join(key)}")
            documented[key] = row
    for method, path in sorted(documented.keys() - routes.keys(), key=lambda k: (k[1], k[0])):
        problems.append(f"remove the row of {method} {path}: the API has no such route")
    for (method, path), op in sorted(routes.items(), key=lambda item: (item[0][1], item[0][0])):
        secured = bool(op.get("security"))
        fields = route_fields(schema, op)
        row = documented.get((method, path))
        if row is None:
            auth = "key" if secured else NO_AUTH
            problems.append(f"add the row | `{method}` | `{path}` | {op.get('summary', '…')} | {auth} | {_spans(fields)} | … |")
            continue
        if secured == (row[AUTH].strip() == NO_AUTH):
            problems.append(f"{method} {path}: auth should be {'a key' if secured else NO_AUTH!r}, not {row[AUTH]!r}")
        if missing := [name for name in fields if name not in code_spans(row[FIELDS])]:
            problems.append(f"{method} {path}: name {_spans(missing)} in '{FIELDS}'")
    return problems


def test_api_doc_lists_every_route_of_the_schema(tmp_path: Path) -> None:
    problems = api_doc_problems(API_DOC.read_text(encoding="utf-8"), openapi_schema(tmp_path))
    assert not problems, "docs/api.md is out of date with the OpenAPI schema (nas/api.py):\n- " + "\n- ".join(problems)


_SCHEMA = {
    "paths": {
        "/health": {"get": {"summary": "Health"}},
        "/things/{thing_id}": {
            "get": {"summary": "Thing", "security": [{"HTTPBearer": []}], "parameters": [{"name": "thing_id", "in": "path"}]},
            "post": {
                "summary": "Change",
                "security": [{"HTTPBearer": []}],
                "parameters": [{"name": "thing_id", "in": "path"}, {"name": "dry_run", "in": "query"}],
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Change"}}}},
            },
        },
    },
    "components": {"schemas": {"Change": {"properties": {"size": {}, "colour": {}}}}},
}
_DRIFTED_API_DOC = """
| method | path | what it does | auth | query / body fields | answer |
|---|---|---|---|---|---|
| `GET` | `/health` | up? | key | | |
| `GET` | `/things/{id}` | one thing | key | | |
| `POST` | `/things/{thing_id}` | change it | key | `dry_run`; body: `size` | |
"""


def test_api_doc_check_names_each_row_to_change() -> None:
    assert api_doc_problems(_DRIFTED_API_DOC, _SCHEMA) == [
        "remove the row of GET /things/{id}: the API has no such route",
        "GET /health: auth should be 'none', not 'key'",
        "add the row | `GET` | `/things/{thing_id}` | Thing | key |  | … |",
        "POST /things/{thing_id}: name `colour` in 'query / body fields'",
    ]


# ---- README.md: line length and links ----

README_WIDTH = 100  # fenced code may be wider (an install line, real program output)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)[^)]*\)")  # [text](target "title"), images too
EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|#)", re.IGNORECASE)  # https:, mailto:, an anchor here


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, with their numbers (from 1)."""
    out, in_fence = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence:
            out.append((number, line))
    return out


def long_lines(text: str, width: int = README_WIDTH) -> list[int]:
    return [number for number, line in prose_lines(text) if len(line) > width]


def broken_links(text: str, base: Path) -> list[str]:
    """The relative link targets of the prose (not of code spans) that name no file or directory
    under `base`, each with its line number."""
    broken = []
    for number, line in prose_lines(text):
        for target in LINK.findall(CODE.sub("", line)):
            path = target.split("#", 1)[0]
            if EXTERNAL.match(target) or not path:
                continue
            if not (base / path).exists():
                broken.append(f"line {number}: {target}")
    return broken


def test_readme_prose_lines_fit_in_100_characters() -> None:
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    too_long = long_lines(text)
    assert not too_long, f"README.md: lines over {README_WIDTH} characters outside code blocks (wrap them): " + ", ".join(
        f"{n} ({len(lines[n - 1])})" for n in too_long
    )


def test_readme_relative_links_lead_to_files() -> None:
    broken = broken_links(README.read_text(encoding="utf-8"), README.parent)
    assert not broken, "README.md: relative links to nothing:\n- " + "\n- ".join(broken)


_README = f"""# title

{"x" * 101}
```bash
{"y" * 140}
```
{"z" * 100}
See [the spec](docs/spec.md), [a section](docs/api.md#routes), [this](#title),
[the web](https://example.org/a b), [gone](docs/gone.md) and ![a picture](docs/none.png).
`[not a link](nowhere.md)`
```text
[in code](nowhere.md)
```
"""


def test_readme_checks_name_each_line(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "spec.md").write_text("")
    (tmp_path / "docs" / "api.md").write_text("")
    assert long_lines(_README) == [3]
    assert broken_links(_README, tmp_path) == ["line 9: docs/gone.md", "line 9: docs/none.png"]
