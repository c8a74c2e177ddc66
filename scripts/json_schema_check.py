"""Validates pipec's JSON documents against docs/json/<command>.schema.json (JSON Schema 2020-12).

Usage: python json_schema_check.py SCHEMA_DIR < cases.json
cases.json is a list of {"what": "...", "schema": "<command>", "document": {...}}. Prints every
violation with the case that has it; exits 1 when there is one, 0 when every document is valid.
Needs the `jsonschema` package (`bash scripts/pyenv.sh json` makes a venv with it).
"""

import json
import pathlib
import sys

try:
    import jsonschema
    from referencing import Registry, Resource
except ImportError as e:
    sys.exit(f"json_schema_check.py needs jsonschema ({e}): run `bash scripts/pyenv.sh json`")


def main():
    schema_dir = pathlib.Path(sys.argv[1])
    registry = Registry()
    schemas = {}
    for path in sorted(schema_dir.glob("*.schema.json")):
        contents = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(contents)
        registry = registry.with_resource(path.name, Resource.from_contents(contents))
        schemas[path.name[: -len(".schema.json")]] = contents
    cases = json.load(sys.stdin)
    failures = 0
    for case in cases:
        schema = schemas.get(case["schema"])
        if schema is None:
            print(f"{case['what']}: no docs/json/{case['schema']}.schema.json")
            failures += 1
            continue
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        for error in sorted(validator.iter_errors(case["document"]), key=lambda e: list(e.path)):
            where = "/".join(str(p) for p in error.absolute_path) or "(document)"
            print(f"{case['what']}: {where}: {error.message[:400]}")
            failures += 1
    print(f"{len(cases)} documents checked, {failures} violations")
    sys.exit(1 if failures else 0)


main()
