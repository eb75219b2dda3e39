#!/usr/bin/python3
"""Validates a JSON document against a schema of the Prisma Cloud Compute OpenAPI description.

usage: validate_openapi.py SPEC.json SCHEMA_NAME FILE.json
SCHEMA_NAME is a key of components.schemas (e.g. "-_defender.Defender"). OpenAPI 3.0 schemas are
checked with jsonschema's Draft 4 rules after two mechanical fixes of the spec's generator output:
  - `"enum": [[a, b, ...]]` (one list inside the list) is read as `"enum": [a, b, ...]`;
  - `"format": "date-time"` is checked as RFC 3339 (jsonschema's format checker).
Prints "valid" or each error with its JSON path; exit 0 when valid, 1 when not, 2 on usage errors.
"""
import json
import sys

import jsonschema


def fix(node):
    if isinstance(node, dict):
        e = node.get("enum")
        if isinstance(e, list) and len(e) == 1 and isinstance(e[0], list):
            node["enum"] = e[0]
        if node.get("nullable") is True and "type" in node:
            node["type"] = [node["type"], "null"]
        for v in node.values():
            fix(v)
    elif isinstance(node, list):
        for v in node:
            fix(v)


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        spec = json.load(f)
    with open(argv[3]) as f:
        doc = json.load(f)
    fix(spec)
    if argv[2] not in spec["components"]["schemas"]:
        print("no schema named %s" % argv[2], file=sys.stderr)
        return 2
    schema = {"$ref": "#/components/schemas/" + argv[2], "components": spec["components"]}
    v = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    for e in errors:
        print("%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(root)", e.message))
    if errors:
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
