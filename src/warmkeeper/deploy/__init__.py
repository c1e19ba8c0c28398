"""Deploys: the AWS release pipeline (pre-flight, `cdk deploy`, following ECS) and its helpers.

The local twin's deploy lives in :mod:`warmkeeper.local.deploy`; the CLI picks one by environment.
"""
