#!/usr/bin/python3
"""Validates the DaemonSet document(s) of a (multi-document) Kubernetes YAML file.

usage: validate_k8s_daemonset.py [--require-refs] SCHEMA.json FILE.yaml

SCHEMA is a JSON Schema of apps/v1 DaemonSet in the layout of yannh/kubernetes-json-schema
("standalone-strict": every object has additionalProperties false). It is applied with the Draft 7
validator of python3-jsonschema. The file must hold at least one DaemonSet; every other document
must at least have apiVersion, kind and metadata.name.

--require-refs also checks that the manifest is complete in itself: each secretKeyRef, secret
volume, envFrom secret and serviceAccountName of a DaemonSet names a Secret or ServiceAccount of
the same file and namespace, and every namespaced document is in one namespace.

Prints the errors and exits 1, or prints "OK ..." and exits 0; exits 2 for usage or input errors.
"""
import json
import sys

import jsonschema
import yaml


def path_of(err):
    return "$" + "".join("[%d]" % p if isinstance(p, int) else "." + str(p) for p in err.absolute_path)


def pod_spec(ds):
    return ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}


def ref_errors(docs, ds):
    """References from the DaemonSet ds to objects that must be in the same file."""
    errs = []
    ns = (ds.get("metadata") or {}).get("namespace") or "default"

    def have(kind, name):
        for d in docs:
            md = d.get("metadata") or {}
            if d.get("kind") == kind and md.get("name") == name and (md.get("namespace") or "default") == ns:
                return True
        return False

    spec = pod_spec(ds)
    wanted = []
    sa = spec.get("serviceAccountName")
    if sa:
        wanted.append(("ServiceAccount", sa, "spec.template.spec.serviceAccountName"))
    for group in ("containers", "initContainers"):
        for c in spec.get(group) or []:
            for e in c.get("env") or []:
                ref = ((e.get("valueFrom") or {}).get("secretKeyRef") or {})
                if ref.get("name"):
                    wanted.append(("Secret", ref["name"], "env %s of %s" % (e.get("name"), c.get("name"))))
            for e in c.get("envFrom") or []:
                ref = e.get("secretRef") or {}
                if ref.get("name"):
                    wanted.append(("Secret", ref["name"], "envFrom of %s" % c.get("name")))
    for v in spec.get("volumes") or []:
        sec = v.get("secret") or {}
        if sec.get("secretName"):
            wanted.append(("Secret", sec["secretName"], "volume %s" % v.get("name")))
    for kind, name, where in wanted:
        if not have(kind, name):
            errs.append("%s refers to %s %r, which is not in the file (namespace %s)" % (where, kind, name, ns))
    # A Secret's keys must hold what secretKeyRef asks for.
    for c in spec.get("containers") or []:
        for e in c.get("env") or []:
            ref = ((e.get("valueFrom") or {}).get("secretKeyRef") or {})
            for d in docs:
                md = d.get("metadata") or {}
                if d.get("kind") == "Secret" and md.get("name") == ref.get("name") and not ref.get("optional"):
                    keys = set((d.get("data") or {}).keys()) | set((d.get("stringData") or {}).keys())
                    if ref.get("key") not in keys:
                        errs.append("env %s: Secret %r has no key %r" % (e.get("name"), ref.get("name"), ref.get("key")))
    namespaces = set()
    for d in docs:
        if d.get("kind") != "Namespace":
            namespaces.add((d.get("metadata") or {}).get("namespace") or "default")
    if len(namespaces) > 1:
        errs.append("documents are in several namespaces: %s" % ", ".join(sorted(namespaces)))
    return errs


def main(argv):
    args = argv[1:]
    require_refs = False
    if args and args[0] == "--require-refs":
        require_refs = True
        args = args[1:]
    if len(args) != 2:
        sys.stderr.write("usage: validate_k8s_daemonset.py [--require-refs] SCHEMA.json FILE.yaml\n")
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            schema = json.load(f)
        with open(args[1], encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        jsonschema.Draft7Validator.check_schema(schema)
    except (OSError, ValueError, yaml.YAMLError, jsonschema.SchemaError) as e:
        sys.stderr.write("validate_k8s_daemonset: %s\n" % e)
        return 2

    errors = []
    validator = jsonschema.Draft7Validator(schema)
    daemonsets = []
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            errors.append("document %d is not a mapping" % i)
            continue
        md = d.get("metadata") if isinstance(d.get("metadata"), dict) else {}
        if not d.get("apiVersion") or not d.get("kind") or not md.get("name"):
            errors.append("document %d lacks apiVersion, kind or metadata.name" % i)
        if d.get("kind") != "DaemonSet":
            continue
        daemonsets.append(d)
        for e in sorted(validator.iter_errors(d), key=lambda e: list(e.absolute_path)):
            errors.append("DaemonSet %s (document %d): %s: %s" % (md.get("name"), i, path_of(e), e.message))
    if not daemonsets:
        errors.append("no DaemonSet document in the file")
    if require_refs:
        for ds in daemonsets:
            errors.extend(ref_errors(docs, ds))

    for e in errors:
        print("%s: %s" % (args[1], e))
    if errors:
        print("INVALID %s: %d error(s)" % (args[1], len(errors)))
        return 1
    print("OK %s: %d DaemonSet(s) valid among %d document(s)" % (args[1], len(daemonsets), len(docs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
