#!/usr/bin/python3
"""Validates a CloudFormation template against a CloudFormation resource specification.

usage: validate_cfn.py [--no-daemon] SPEC.json TEMPLATE.json

SPEC is the CloudFormation resource specification (ResourceTypes and PropertyTypes; here the ECS
subset of @aws-cdk/cfnspec). Checked:
  - the template's top-level sections are CloudFormation sections, and Resources is not empty;
  - each resource's Type exists in the spec (other types are errors: the spec must cover them);
  - Properties: no unknown property, every Required one present, values checked recursively:
    PrimitiveType (String, Integer, Long, Double, Boolean, Json, Timestamp), Type List/Map with
    ItemType or PrimitiveItemType, Type NAME of a property type (RESOURCE.NAME, or a shared NAME);
    Integer accepts integers and strings of digits, Boolean true/false and "true"/"false", as
    CloudFormation does;
  - intrinsic functions ({"Ref": X}, {"Fn::...": ...}) are accepted in place of a value; a Ref must
    name a parameter, a resource or an AWS:: pseudo parameter, and Fn::GetAtt a resource attribute;
  - unless --no-daemon: an AWS::ECS::Service with SchedulingStrategy DAEMON exists, its
    TaskDefinition refers to an AWS::ECS::TaskDefinition of the template, and its LaunchType, when
    set, is EC2 (DAEMON is not available on Fargate).
Prints the errors and exits 1, or "OK ..." and exits 0; exits 2 for usage or input errors.
"""
import json
import re
import sys

SECTIONS = {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings",
            "Conditions", "Transform", "Resources", "Outputs"}
RESOURCE_KEYS = {"Type", "Properties", "DependsOn", "Condition", "Metadata", "DeletionPolicy",
                 "UpdateReplacePolicy", "UpdatePolicy", "CreationPolicy"}
PARAM_TYPES = {"String", "Number", "List<Number>", "CommaDelimitedList"}
# Shared property types of the full specification that a derived subset may leave out.
SHARED = {"Tag": {"Properties": {"Key": {"PrimitiveType": "String", "Required": True},
                                 "Value": {"PrimitiveType": "String", "Required": True}}}}


class Checker:
    def __init__(self, spec, tpl):
        self.rtypes = spec.get("ResourceTypes") or {}
        self.ptypes = spec.get("PropertyTypes") or {}
        self.tpl = tpl
        self.errors = []
        self.params = tpl.get("Parameters") or {}
        self.resources = tpl.get("Resources") or {}

    def err(self, path, msg):
        self.errors.append("%s: %s" % (path, msg))

    # -- intrinsic functions -------------------------------------------------------------------
    def intrinsic(self, value, path):
        """True when value is an intrinsic function call (and checks its references)."""
        if not isinstance(value, dict) or len(value) != 1:
            return False
        (name, arg), = value.items()
        if name == "Ref":
            if not isinstance(arg, str):
                self.err(path, "Ref needs a name")
            elif arg not in self.params and arg not in self.resources and not arg.startswith("AWS::"):
                self.err(path, "Ref to %r, which is neither a parameter nor a resource" % arg)
            return True
        if name == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else arg
            if not isinstance(parts, list) or len(parts) != 2:
                self.err(path, "Fn::GetAtt needs [resource, attribute]")
                return True
            res = self.resources.get(parts[0])
            if not isinstance(res, dict):
                self.err(path, "Fn::GetAtt of unknown resource %r" % parts[0])
            else:
                attrs = (self.rtypes.get(res.get("Type")) or {}).get("Attributes") or {}
                if parts[1] not in attrs:
                    self.err(path, "%s has no attribute %r" % (res.get("Type"), parts[1]))
            return True
        if name.startswith("Fn::") or name == "Condition":
            return True
        return False

    # -- values --------------------------------------------------------------------------------
    def primitive(self, ptype, value, path):
        if self.intrinsic(value, path):
            return
        ok = True
        if ptype == "String":
            ok = isinstance(value, str)
        elif ptype in ("Integer", "Long"):
            ok = (isinstance(value, int) and not isinstance(value, bool)) or \
                (isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value) is not None)
        elif ptype == "Double":
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) or \
                (isinstance(value, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value) is not None)
        elif ptype == "Boolean":
            ok = isinstance(value, bool) or value in ("true", "false")
        elif ptype == "Json":
            ok = isinstance(value, (dict, str))
        elif ptype == "Timestamp":
            ok = isinstance(value, str)
        else:
            self.err(path, "spec uses unknown primitive type %r" % ptype)
            return
        if not ok:
            self.err(path, "expected %s, got %s" % (ptype, json.dumps(value)[:60]))

    def property_type(self, resource_type, name):
        return self.ptypes.get("%s.%s" % (resource_type, name)) or self.ptypes.get(name) or SHARED.get(name)

    def value(self, resource_type, pspec, value, path, depth):
        if depth > 32:
            self.err(path, "nesting too deep")
            return
        if "PrimitiveType" in pspec:
            self.primitive(pspec["PrimitiveType"], value, path)
            return
        kind = pspec.get("Type")
        if self.intrinsic(value, path):
            return
        if kind in ("List", "Map"):
            if kind == "List" and not isinstance(value, list):
                self.err(path, "expected a list")
                return
            if kind == "Map" and not isinstance(value, dict):
                self.err(path, "expected a map")
                return
            items = enumerate(value) if kind == "List" else value.items()
            for k, item in items:
                sub = "%s[%s]" % (path, k)
                if "PrimitiveItemType" in pspec:
                    self.primitive(pspec["PrimitiveItemType"], item, sub)
                elif "ItemType" in pspec:
                    self.structure(resource_type, pspec["ItemType"], item, sub, depth + 1)
                else:
                    self.err(path, "spec gives no item type")
            if kind == "List" and pspec.get("DuplicatesAllowed") is False:
                seen = [json.dumps(v, sort_keys=True) for v in value]
                if len(seen) != len(set(seen)):
                    self.err(path, "duplicate items are not allowed")
            return
        if kind is None:
            self.err(path, "spec gives no type")
            return
        self.structure(resource_type, kind, value, path, depth + 1)

    def structure(self, resource_type, type_name, value, path, depth):
        if self.intrinsic(value, path):
            return
        ptype = self.property_type(resource_type, type_name)
        if ptype is None:
            self.err(path, "property type %s.%s is not in the spec" % (resource_type, type_name))
            return
        if not isinstance(value, dict):
            self.err(path, "expected an object (%s)" % type_name)
            return
        self.properties(resource_type, ptype.get("Properties") or {}, value, path, depth, type_name)

    def properties(self, resource_type, props, value, path, depth, what):
        for name, pspec in props.items():
            if pspec.get("Required") and name not in value:
                self.err(path, "missing required property %s of %s" % (name, what))
        for name, sub in value.items():
            pspec = props.get(name)
            if pspec is None:
                self.err("%s.%s" % (path, name), "unknown property %s of %s" % (name, what))
                continue
            self.value(resource_type, pspec, sub, "%s.%s" % (path, name), depth)

    # -- template ------------------------------------------------------------------------------
    def run(self, need_daemon):
        tpl = self.tpl
        if not isinstance(tpl, dict):
            self.err("$", "the template is not an object")
            return
        for key in tpl:
            if key not in SECTIONS:
                self.err("$." + key, "not a template section")
        if not isinstance(self.resources, dict) or not self.resources:
            self.err("$.Resources", "missing or empty")
            return
        for name, p in self.params.items():
            if not isinstance(p, dict) or (p.get("Type") not in PARAM_TYPES and
                                           not str(p.get("Type", "")).startswith("AWS::")):
                self.err("$.Parameters." + name, "parameter needs a Type")
        for name, res in self.resources.items():
            path = "$.Resources." + name
            if not isinstance(res, dict):
                self.err(path, "not an object")
                continue
            for key in res:
                if key not in RESOURCE_KEYS:
                    self.err("%s.%s" % (path, key), "not a resource attribute")
            rtype = res.get("Type")
            spec = self.rtypes.get(rtype)
            if spec is None:
                self.err(path + ".Type", "resource type %r is not in the spec" % rtype)
                continue
            props = res.get("Properties", {})
            if not isinstance(props, dict):
                self.err(path + ".Properties", "not an object")
                continue
            self.properties(rtype, spec.get("Properties") or {}, props, path + ".Properties", 0, rtype)
        for name, out in (tpl.get("Outputs") or {}).items():
            if not isinstance(out, dict) or "Value" not in out:
                self.err("$.Outputs." + name, "output needs a Value")
            else:
                self.walk_refs(out["Value"], "$.Outputs.%s.Value" % name)
        if need_daemon:
            self.daemon()

    def walk_refs(self, v, path):
        if self.intrinsic(v, path):
            return
        if isinstance(v, dict):
            for k, x in v.items():
                self.walk_refs(x, "%s.%s" % (path, k))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                self.walk_refs(x, "%s[%d]" % (path, i))

    def daemon(self):
        found = False
        for name, res in self.resources.items():
            if not isinstance(res, dict) or res.get("Type") != "AWS::ECS::Service":
                continue
            props = res.get("Properties") or {}
            if props.get("SchedulingStrategy") != "DAEMON":
                continue
            found = True
            path = "$.Resources.%s.Properties" % name
            td = props.get("TaskDefinition")
            target = td.get("Ref") if isinstance(td, dict) else None
            if target is None or (self.resources.get(target) or {}).get("Type") != "AWS::ECS::TaskDefinition":
                self.err(path + ".TaskDefinition", "must Ref an AWS::ECS::TaskDefinition of the template")
            if props.get("LaunchType", "EC2") != "EC2":
                self.err(path + ".LaunchType", "DAEMON services run on EC2 only")
            if "DesiredCount" in props:
                self.err(path + ".DesiredCount", "a DAEMON service takes no DesiredCount")
        if not found:
            self.err("$.Resources", "no AWS::ECS::Service with SchedulingStrategy DAEMON")


def main(argv):
    args = argv[1:]
    need_daemon = True
    if args and args[0] == "--no-daemon":
        need_daemon = False
        args = args[1:]
    if len(args) != 2:
        sys.stderr.write("usage: validate_cfn.py [--no-daemon] SPEC.json TEMPLATE.json\n")
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            spec = json.load(f)
        with open(args[1], encoding="utf-8") as f:
            tpl = json.load(f)
    except (OSError, ValueError) as e:
        sys.stderr.write("validate_cfn: %s\n" % e)
        return 2
    c = Checker(spec, tpl if isinstance(tpl, dict) else {})
    if not isinstance(tpl, dict):
        c.err("$", "the template is not an object")
    else:
        c.run(need_daemon)
    for e in c.errors:
        print("%s: %s" % (args[1], e))
    if c.errors:
        print("INVALID %s: %d error(s)" % (args[1], len(c.errors)))
        return 1
    print("OK %s: %d resource(s) valid" % (args[1], len(c.resources)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
