"""CLI commands, one module per area: plain functions that warmkeeper.cli registers by name.

A command raises a :class:`~warmkeeper.core.errors.WarmkeeperError` for a problem a person can fix and
leaves printing it to warmkeeper.cli. ``deploy_local`` is the client side of `deploy --env local`.
"""
