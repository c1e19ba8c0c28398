"""A waker function in moto, as far as the CLI's commands read or change it: its name, its variables
and its reserved concurrency (no code runs: moto does not invoke it here)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping

from warmkeeper.aws.clients import AwsClients


def create_waker_function(clients: AwsClients, name: str, variables: Mapping[str, str] | None = None) -> None:
    role = clients.client("iam").create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            }
        ),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    clients.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": dict(variables or {})},
    )
