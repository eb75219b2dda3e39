#!/usr/bin/python3
"""Strict validation of a JSON document against one input shape of an AWS SDK service model.

usage: validate_ecs_taskdef.py MODEL.json SHAPE FILE.json
SHAPE is the name of a structure shape, or of an operation (meaning its input shape), e.g. validate_ecs_taskdef.py ecs-2014-11-13.normal.json RegisterTaskDefinitionRequest td.json

The model is the JSON model of the AWS SDKs: aws-sdk-js apis/*.normal.json, or *.min.json (which
inlines simple shapes and drops enums, so it checks less). Checked:
  structure  a JSON object; every member known (unknown members are errors, as the service rejects
             them); every "required" member present; members validated recursively
  list       a JSON array, with the shape's min/max length when given; each item validated
  map        a JSON object whose keys and values are validated against the key/value shapes
  string     a JSON string; one of "enum" when the shape has one; at most "max" characters
  integer, long  a JSON integer (not a boolean), within "min"/"max" when given
  boolean    true or false
  double/float   a JSON number; timestamp: a number or a string; blob: a string
Not checked: string "min" and "pattern" (the SDK's --generate-cli-skeleton output fills strings
with "" and is accepted by the AWS CLI), and cross-field rules that the model cannot express.

Prints each error with its JSON path and exits 1; prints "OK ..." and exits 0 when the document
is valid; exits 2 for usage or input errors.
"""
import json
import sys


class Validator:
    def __init__(self, model):
        self.shapes = model.get("shapes")
        if not isinstance(self.shapes, dict):
            raise ValueError("the model has no shapes")
        self.errors = []

    def err(self, path, msg):
        self.errors.append("%s: %s" % (path or "$", msg))

    def resolve(self, ref):
        """A member or item reference: {"shape": NAME} names a shape; anything else is an inline
        shape (the .min.json models inline simple types, and {} means a string)."""
        if "shape" in ref:
            return ref["shape"], self.shapes.get(ref["shape"])
        shape = dict(ref)
        shape.setdefault("type", "string")
        return shape["type"], shape

    def check(self, ref, value, path, depth=0):
        if depth > 64:
            self.err(path, "nesting too deep")
            return
        name, shape = self.resolve(ref)
        if shape is None:
            self.err(path, "model has no shape %r" % name)
            return
        kind = shape.get("type")
        handler = getattr(self, "check_" + str(kind), None)
        if handler is None:
            self.err(path, "shape %s has unsupported type %r" % (name, kind))
            return
        handler(name, shape, value, path, depth)

    def check_structure(self, name, shape, value, path, depth):
        if not isinstance(value, dict):
            self.err(path, "expected an object (%s), got %s" % (name, type(value).__name__))
            return
        members = shape.get("members", {})
        for req in shape.get("required", []):
            if req not in value:
                self.err(path, "missing required member %r of %s" % (req, name))
        for key, sub in value.items():
            member = members.get(key)
            if member is None:
                self.err(path + "." + key, "unknown member %r of %s" % (key, name))
                continue
            self.check(member, sub, path + "." + key, depth + 1)

    def check_list(self, name, shape, value, path, depth):
        if not isinstance(value, list):
            self.err(path, "expected an array (%s), got %s" % (name, type(value).__name__))
            return
        if "min" in shape and len(value) < shape["min"]:
            self.err(path, "%s needs at least %d items" % (name, shape["min"]))
        if "max" in shape and len(value) > shape["max"]:
            self.err(path, "%s allows at most %d items" % (name, shape["max"]))
        for i, item in enumerate(value):
            self.check(shape["member"], item, "%s[%d]" % (path, i), depth + 1)

    def check_map(self, name, shape, value, path, depth):
        if not isinstance(value, dict):
            self.err(path, "expected an object (map %s), got %s" % (name, type(value).__name__))
            return
        for key, sub in value.items():
            self.check(shape["key"], key, "%s{%s}" % (path, key), depth + 1)
            self.check(shape["value"], sub, "%s.%s" % (path, key), depth + 1)

    def check_string(self, name, shape, value, path, depth):
        if not isinstance(value, str):
            self.err(path, "expected a string (%s), got %s" % (name, type(value).__name__))
            return
        if "enum" in shape and value not in shape["enum"]:
            self.err(path, "%r is not one of %s: %s" % (value, name, ", ".join(shape["enum"])))
        if "max" in shape and len(value) > shape["max"]:
            self.err(path, "%s allows at most %d characters" % (name, shape["max"]))

    def _check_int(self, name, shape, value, path):
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(path, "expected an integer (%s), got %s" % (name, type(value).__name__))
            return
        if "min" in shape and value < shape["min"]:
            self.err(path, "%d is below the minimum %d of %s" % (value, shape["min"], name))
        if "max" in shape and value > shape["max"]:
            self.err(path, "%d is above the maximum %d of %s" % (value, shape["max"], name))

    def check_integer(self, name, shape, value, path, depth):
        self._check_int(name, shape, value, path)

    def check_long(self, name, shape, value, path, depth):
        self._check_int(name, shape, value, path)

    def check_boolean(self, name, shape, value, path, depth):
        if not isinstance(value, bool):
            self.err(path, "expected true or false (%s), got %s" % (name, type(value).__name__))

    def check_double(self, name, shape, value, path, depth):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.err(path, "expected a number (%s)" % name)

    check_float = check_double

    def check_timestamp(self, name, shape, value, path, depth):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.err(path, "expected a timestamp (%s)" % name)

    def check_blob(self, name, shape, value, path, depth):
        if not isinstance(value, str):
            self.err(path, "expected a base64 string (%s)" % name)


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: validate_ecs_taskdef.py MODEL.json SHAPE FILE.json\n")
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            model = json.load(f)
        with open(argv[3], encoding="utf-8") as f:
            doc = json.load(f)
        v = Validator(model)
    except (OSError, ValueError) as e:
        sys.stderr.write("validate_ecs_taskdef: %s\n" % e)
        return 2
    # SHAPE is a shape name, or an operation name standing for its input.
    ops = model.get("operations", {})
    if argv[2] in v.shapes:
        ref = {"shape": argv[2]}
    elif argv[2] in ops and isinstance(ops[argv[2]].get("input"), dict):
        ref = ops[argv[2]]["input"]
    else:
        sys.stderr.write("validate_ecs_taskdef: %s is neither a shape nor an operation of the model\n"
                         % argv[2])
        return 2
    if v.resolve(ref)[1] is None or v.resolve(ref)[1].get("type") != "structure":
        sys.stderr.write("validate_ecs_taskdef: %s is not a structure\n" % argv[2])
        return 2
    v.check(ref, doc, "$")
    for e in v.errors:
        print("%s: %s" % (argv[3], e))
    if v.errors:
        print("INVALID %s: %d error(s) against %s" % (argv[3], len(v.errors), argv[2]))
        return 1
    print("OK %s is a valid %s" % (argv[3], argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
