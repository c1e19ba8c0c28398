"""Deploys: the AWS release pipeline (pre-flight, `cdk deploy`, following ECS) and its helpers.

The local twin's deploy runs in :mod:`warmkeeper.local.rollout`, driven by the CLI's client
:mod:`warmkeeper.commands.twin_deploy_commands`; the CLI picks one by environment.
"""
