"""Reading a job spec: from a YAML / JSON file or decoded data to a validated, defaults-filled
`JobSpec`, or a `SpecError` listing every problem at once. The one place a submitted spec is
checked; what is stored is `JobSpec.to_dict()`, read back with `JobSpec.from_stored`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import TypeAdapter, ValidationError

from nas.job.checks import resolve
from nas.job.errors import SpecError, format_error
from nas.job.schema import JobSpec


def load_spec(path: Path) -> JobSpec:
    """Read a YAML or JSON spec; relative task paths are taken from the spec file's directory."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"{path}: cannot read ({exc.__class__.__name__}: {exc})"]) from None
    if not text.strip():
        raise SpecError([f"{path}: empty file; expected a YAML or JSON job spec"])
    try:
        data = json.loads(text)
    except json.JSONDecodeError as json_error:
        try:
            data = yaml.safe_load(text)  # YAML also reads flow mappings like {name: x, ...}
        except yaml.YAMLError as exc:
            if text.lstrip().startswith("{"):  # meant as JSON: its error is the precise one
                raise SpecError([f"{path}:{json_error.lineno}:{json_error.colno}: not valid JSON ({json_error.msg})"]) from None
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            raise SpecError([f"{path}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})"]) from None
    if not isinstance(data, Mapping):
        raise SpecError([f"{path}: expected a mapping of spec fields (name, space, task, ...), got {type(data).__name__}"])
    return parse_spec(data, base_dir=path.resolve().parent)


def parse_spec(data: Mapping[str, Any], base_dir: Path | None = None) -> JobSpec:
    """Validate decoded spec data (relative task paths from `base_dir`, default the working
    directory). Raises SpecError listing every problem."""
    if not isinstance(data, Mapping):
        raise SpecError([f"spec: expected a mapping of spec fields, got {type(data).__name__}"])
    problems: list[str] = []
    try:
        fields = dict(JobSpec.model_validate(data))
    except ValidationError as err:
        problems += [format_error(e, JobSpec) for e in err.errors()]
        fields = _valid_fields(data, {e["loc"][0] for e in err.errors() if e["loc"]})
    resolved = resolve(fields, set(data), base_dir or Path.cwd(), problems)
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
