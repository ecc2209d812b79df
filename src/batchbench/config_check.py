"""Config validation whose messages a user can act on: the key, the value and what is allowed.

jsonschema finds the mistakes; this turns its messages into ones naming the config key (as
`grid.npl[2]`), suggesting the closest known key for a misspelt one, and listing allowed values.
Snakemake's own `validate` then fills in the defaults.
"""

from __future__ import annotations

import difflib

import jsonschema
import yaml

from . import UserError


def key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def resolve_refs(node, definitions: dict):
    """The schema with every local $ref replaced by its definition (ours has no cycles), keeping
    the keys beside the $ref (its description and default)."""
    if isinstance(node, dict):
        if "$ref" in node:
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            return {**resolve_refs(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions), **siblings}
        return {k: resolve_refs(v, definitions) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_refs(v, definitions) for v in node]
    return node


def summary(schema: dict) -> str:
    """What a (sub)schema accepts, in words."""
    if "enum" in schema:
        return "one of " + ", ".join(map(repr, schema["enum"]))
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type")
    if kind is None and ("oneOf" in schema or "anyOf" in schema):
        return " or ".join(summary(s) for s in schema.get("oneOf") or schema["anyOf"])
    if kind == "null":
        return "null (unset)"
    if kind == "array":
        return f"a list of ({summary(schema.get('items', {}))})"
    names = {"integer": "an integer", "number": "a number", "string": "a string",
             "boolean": "true or false", "object": "a mapping", "null": "null (unset)"}
    words = " or ".join(names.get(k, str(k)) for k in (kind if isinstance(kind, list) else [kind]))
    if "minimum" in schema:
        words += f" >= {schema['minimum']}"
    if "exclusiveMinimum" in schema:
        words += f" > {schema['exclusiveMinimum']}"
    if "pattern" in schema:
        words += f" matching {schema['pattern']}"
    return words


def describe(error) -> str:
    where = key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted((error.schema.get("properties") or {}).keys())
        parts = []
        for key in sorted(set(error.instance) - set(known)):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            parts.append(f"{where}: unknown key {key!r}{hint} (allowed: {', '.join(known)})")
        return "\n".join(parts)
    if error.validator == "oneOf" and all(set(s) == {"required"} for s in error.validator_value):
        choices = [s["required"][0] for s in error.validator_value]
        given = [c for c in choices if c in error.instance]
        return (f"{where}: give exactly one of {', '.join(map(repr, choices))}"
                f" (given: {', '.join(map(repr, given)) or 'none'})")
    if error.validator in ("oneOf", "anyOf", "enum", "const", "type", "minimum", "exclusiveMinimum",
                           "pattern"):
        return f"{where}: {error.instance!r} is not allowed; allowed: {summary(error.schema)}"
    return f"{where}: {error.message}"


def check(config: dict, schema_path: str) -> None:
    """Raise UserError listing every mistake in config (nothing is run before this passes)."""
    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    schema = resolve_refs(schema, schema.get("definitions", {}))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config),
                    key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise UserError("\n".join(describe(e) for e in errors))
