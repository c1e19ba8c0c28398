"""warmkeeper on AWS: boto3 adapters, the engine that drives :mod:`warmkeeper.core` with them, the
Lambda entry point (:mod:`warmkeeper.aws.lambda_handler`) and the CLI backend
(:mod:`warmkeeper.aws.control`).

Standard library and boto3/botocore only: this package is part of the Lambda bundle. Every boto3
client is created at the edge (the handler, the CLI) and injected through constructors.
"""
