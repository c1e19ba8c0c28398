"""warmkeeper on AWS: the boto3 clients (:mod:`warmkeeper.aws.clients`), thin adapters, the engine
that drives :mod:`warmkeeper.core` with them, the Lambda entry point
(:mod:`warmkeeper.aws.lambda_handler`), the CLI backend (:mod:`warmkeeper.aws.operations`) and the
stack outputs both read (:mod:`warmkeeper.aws.stack_outputs`).

Standard library and boto3/botocore only: this package is part of the Lambda bundle. Every boto3
client comes from one :class:`~warmkeeper.aws.clients.AwsClients`, created at the edge (the handler,
a CLI command) and injected through constructors.
"""
