#!/usr/bin/env python3
"""Translate infra/template.yaml (SAM) into plain CloudFormation JSON, offline.

Usage: sam_translate.py TEMPLATE.yaml OUT.json

cfn-lint validates SAM templates against SAM schemas but never expands them, so it cannot see
problems that only exist after the transform (e.g. the classic circular dependency between a
bucket notification and the function policy, E3004). `infra_lint.rs` lints this output too.
Managed policy names are not looked up in IAM: SAM adds its own policies by ARN, and a
template naming another managed policy by name fails here on purpose.
"""
import json
import os
import sys

from cfnlint.decode import decode
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform


class NoIamLoader(ManagedPolicyLoader):
    """Offline: no managed-policy name lookups."""

    def __init__(self):
        pass

    def load(self):
        return {}


def package_code_uris(template):
    """What `sam package` does before the transform: local CodeUri -> an S3 artifact URI."""
    glob = template.get("Globals", {}).get("Function", {})
    if isinstance(glob.get("CodeUri"), str) and not glob["CodeUri"].startswith("s3://"):
        glob["CodeUri"] = "s3://sam-artifacts/code.zip"
    for name, res in template.get("Resources", {}).items():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            if not props["CodeUri"].startswith("s3://"):
                props["CodeUri"] = f"s3://sam-artifacts/{name}.zip"


def main() -> int:
    # pseudo-parameter resolution asks boto for a region; never reach AWS
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    src, out = sys.argv[1], sys.argv[2]
    template, matches = decode(src)
    if matches:
        for m in matches:
            print(m, file=sys.stderr)
        return 2
    # cfn-lint's node types -> plain JSON values
    template = json.loads(json.dumps(template))
    package_code_uris(template)
    params = {
        # pseudo parameters and required parameters without defaults, so intrinsics resolve
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::StackName": "hudi-pg-sync",
    }
    try:
        translated = transform(template, params, NoIamLoader())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"SAM transform: {cause.message}", file=sys.stderr)
        return 1
    with open(out, "w") as f:
        json.dump(translated, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
