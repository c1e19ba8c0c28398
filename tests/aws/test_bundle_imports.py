"""The Lambda bundle holds warmkeeper/{__init__,control,aws_limits,naming}.py, core/ and aws/ only: they
must import nothing but the standard library and boto3/botocore (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

CHECK = """
import json, sys
import warmkeeper.aws.lambda_handler, warmkeeper.aws.operations, warmkeeper.core
loaded = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps(loaded))
"""

# certifi, urllib3, dateutil, jmespath, s3transfer: what botocore itself imports.
FORBIDDEN = {"pydantic", "typer", "rich", "httpx", "click", "aws_cdk", "moto", "yaml"}


def test_lambda_code_imports_only_stdlib_and_boto3() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(result.stdout))
    assert loaded & FORBIDDEN == set()
    third_party = {
        name
        for name in loaded - set(sys.stdlib_module_names)
        if not name.startswith("_")
        and name
        not in {
            "warmkeeper",
            "boto3",
            "botocore",
            "s3transfer",
            "jmespath",
            "dateutil",
            "urllib3",
            "six",
            "certifi",
        }
    }
    assert third_party == set()
