"""Reading a job spec: from a YAML / JSON file or decoded data to a validated, defaults-filled
`JobSpec`, or a `SpecError` listing every problem at once. The one place a submitted spec is
checked; what is stored is `JobSpec.to_dict()`, read back with `JobSpec.from_stored`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from nas.documents import MAX_DEPTH, DocumentError, load_json, load_yaml, nesting_depth
from nas.job.checks import resolve
from nas.job.errors import SpecError, format_error
from nas.job.schema import JobSpec

MAX_SPEC_CHARS = 1_000_000  # a real spec is under 2,000


def load_spec(path: Path) -> JobSpec:
    """Read a YAML or JSON spec; relative task paths are taken from the spec file's directory."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a directory, a FIFO (reading it would block), a device
        raise SpecError([f"{path}: not a regular file; expected a YAML or JSON job spec"])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"{path}: cannot read ({exc.__class__.__name__}: {exc})"]) from None
    if not text.strip():
        raise SpecError([f"{path}: empty file; expected a YAML or JSON job spec"])
    data = decode_spec_text(text, str(path))
    if not isinstance(data, Mapping):
        raise SpecError([f"{path}: expected a mapping of spec fields (name, space, task, ...), got {type(data).__name__}"])
    return parse_spec(data, base_dir=path.resolve().parent)


def decode_spec_text(text: str, where: str) -> Any:
    """A spec's text as data: JSON, else YAML (which also reads flow mappings like {name: x})."""
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError([f"{where}: {len(text):,} characters; a job spec is at most {MAX_SPEC_CHARS:,}"])
    try:
        try:
            return load_json(text, where)
        except json.JSONDecodeError as json_error:
            if text.lstrip().startswith("{"):  # meant as JSON: its error is the precise one
                try:
                    return load_yaml(text, where)
                except DocumentError:
                    raise DocumentError(f"{where}:{json_error.lineno}:{json_error.colno}: not valid JSON ({json_error.msg})") from None
            return load_yaml(text, where)
    except DocumentError as exc:
        raise SpecError([str(exc)]) from None


def parse_spec(data: Mapping[str, Any], base_dir: Path | None = None, data_root: Path | None = None) -> JobSpec:
    """Validate decoded spec data (relative task paths from `base_dir`, default the working
    directory). Raises SpecError listing every problem. With `data_root` (a server taking specs
    from clients), task files must lie inside it and relative paths are taken from it."""
    if not isinstance(data, Mapping):
        raise SpecError([f"spec: expected a mapping of spec fields, got {type(data).__name__}"])
    if nesting_depth(dict(data)) > MAX_DEPTH:
        raise SpecError([f"spec: nested deeper than {MAX_DEPTH} levels"])
    problems: list[str] = []
    try:
        fields = dict(JobSpec.model_validate(data))
    except ValidationError as err:
        problems += [format_error(e, JobSpec) for e in err.errors()]
        fields = _valid_fields(data, {e["loc"][0] for e in err.errors() if e["loc"]})
    resolved = resolve(fields, set(data), base_dir or Path.cwd(), problems, data_root)
    if problems:
        raise SpecError(problems)
    return JobSpec.model_validate(resolved)


_FIELD_ADAPTERS = {
    name: TypeAdapter(Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation)
    for name, field in JobSpec.model_fields.items()
}


def _valid_fields(data: Mapping[str, Any], bad: set[Any]) -> dict[str, Any]:
    """The top-level fields that passed validation (each validated on its own, defaults for those
    not given), so that the checks across fields can still run beside structural errors."""
    out: dict[str, Any] = {}
    for name, field in JobSpec.model_fields.items():
        if name in bad:
            continue
        if name in data:
            out[name] = _FIELD_ADAPTERS[name].validate_python(data[name])
        elif not field.is_required():
            out[name] = field.get_default(call_default_factory=True)
    return out
