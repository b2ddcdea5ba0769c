"""Reads deploy/'s files for tests/deploy.rs, as JSON on stdout.

    deploy_check.py kubernetes VERSION...  < rendered.yaml
        Every object of a rendered kustomization (`kubectl kustomize DIR`), validated
        strictly (unknown fields are errors) against the Kubernetes OpenAPI schemas of
        each VERSION that kubernetes-validate bundles: {"objects": [...], "unchecked":
        ["Kind/name", ...]} where unchecked are kinds with no schema there (custom
        resources). A schema violation exits 1 naming the object, the version and the
        field.
    deploy_check.py dockerfile PATH
        The Dockerfile's instructions as BuildKit's own parser reads them: [{"cmd":
        "from", "flags": [...], "value": [...]}, ...] in order.
"""

import json
import sys


def kubernetes(versions):
    import kubernetes_validate
    import yaml

    objects, unchecked, errors = [], [], []
    for doc in yaml.safe_load_all(sys.stdin):
        if not doc:
            continue
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                if name not in unchecked:
                    unchecked.append(name)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                errors.append(f"{name} against Kubernetes {version}: {path}: {e.message}")
        objects.append(doc)
    if errors:
        sys.exit("\n".join(errors))
    json.dump({"objects": objects, "unchecked": unchecked}, sys.stdout)


def dockerfile(path):
    import dockerfile as parser

    out = [
        {"cmd": c.cmd, "flags": list(c.flags), "value": list(c.value), "line": c.start_line}
        for c in parser.parse_file(path)
    ]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "kubernetes":
        kubernetes(args)
    elif what == "dockerfile":
        dockerfile(args[0])
    else:
        sys.exit(f"deploy_check.py: unknown command {what!r} (kubernetes, dockerfile)")
