"""``submission.yaml``: the metadata of a submission, validated against ``benchmark/leaderboard/schemas/submission.schema.json``
(JSON Schema draft 2020-12; unknown fields rejected). Every error names the file and the field."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import yaml

from benchmark.leaderboard import SubmissionError

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "submission.schema.json"
META = "submission.yaml"


@functools.cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


@functools.cache
def _validator():
    import jsonschema

    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema())
    return cls(schema())


def problems(doc, where: str | Path) -> list[str]:
    """Every schema problem of a metadata document, each naming the file and the field."""
    if not isinstance(doc, dict):
        return [f"{where}: expected a mapping of fields, got {type(doc).__name__}"]
    out = []
    for e in sorted(_validator().iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        path = ".".join(str(p) for p in e.absolute_path)
        if e.validator == "additionalProperties":
            extra = sorted(set(doc) - set(schema()["properties"])) if not path else []
            for k in extra:
                out.append(f"{where}: field '{k}': unknown field (known: {', '.join(schema()['properties'])})")
            if extra:
                continue
        if e.validator == "required" and not path:
            missing = [k for k in e.validator_value if k not in doc]
            out.extend(f"{where}: field '{k}': required field missing" for k in missing)
            continue
        if e.validator == "not" and isinstance(e.validator_value, dict) and e.validator_value.get("required"):
            for k in e.validator_value["required"]:
                out.append(f"{where}: field '{k}': not allowed here (only with training_data: extra)")
            continue
        field = path or "(top level)"
        desc = (schema()["properties"].get(path.split(".")[0], {}) or {}).get("description")
        out.append(f"{where}: field '{field}': {e.message}" + (f" ({desc})" if desc and e.validator != "not" else ""))
    return out


def load(path: str | Path) -> dict:
    """Read and validate a ``submission.yaml``; :class:`SubmissionError` lists every problem."""
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(str(path), [f"{path}: metadata file not found"])
    try:
        doc = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise SubmissionError(str(path), [f"{path}: not valid YAML ({err})"]) from None
    bad = problems(doc, path)
    if bad:
        raise SubmissionError(str(path), bad)
    return normalise(doc)


def normalise(doc: dict) -> dict:
    """Defaults filled in (``tasks: all``, ``example: false``)."""
    return {"tasks": "all", "example": False, **doc}
