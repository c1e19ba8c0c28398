#!/bin/sh
# The entry container's command: Caddy, and next to it the activity beacon when warmkeeper asks for it
# (WARMKEEPER_BEACON=on: a scale-to-zero environment on ECS, whose waker, WARMKEEPER_WAKER, takes the
# reports; not in an always-on one, nor in the twin). Caddy replaces this shell (exec), so it is the
# one that gets SIGTERM and drains; the beacon ends with the container.
if [ "${WARMKEEPER_BEACON:-}" = "on" ] && [ -n "${WARMKEEPER_WAKER:-}" ]; then
	sh /etc/caddy/activity-beacon.sh &
fi
exec caddy run --config /etc/caddy/Caddyfile --adapter caddyfile
