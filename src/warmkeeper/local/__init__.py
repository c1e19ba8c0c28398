"""The local twin: the scale-to-zero behaviour of AWS on one machine, with real Caddy and processes.

- :mod:`.edge`: Caddy as the load balancer; traffic switched through target files, drains read
  through its admin API (a unix socket in the twin's private folder).
- :mod:`.waker`: the local stand-in for the warmkeeper Lambda (same core answers).
- :mod:`.supervisor`: tasks made of the containers' ``local`` commands, health checks, retries.
- :mod:`.twin`: the controller that feeds :func:`warmkeeper.core.machine.decide` and applies it.
- :mod:`.control`: :class:`~warmkeeper.local.twin_client.TwinControl`, the CLI's handle on a running twin.
"""
