#!/bin/sh
# CityGuided's activity beacon: tells the waker how long ago this task's Caddy answered its last
# request, so that the service sleeps soon after the last visitor and never while one is browsing
# (warmkeeper's core/activity.py says what the waker does with it). It runs next to Caddy in the
# entry container (start.sh) and needs nothing but a POSIX shell, stat, date and wget (busybox's).
#
# What it watches: the modification time of Caddy's request log (the `log requests` of the
# Caddyfile), written once per answered request; health checks are not logged, so they never count.
# Where it reports: Caddy's own port, to a route only the loopback address reaches (beacon.Caddyfile),
# which adds the wake secret and forwards to the waker's function URL. The pace, the same numbers as warmkeeper.core.activity:
POLL_SECONDS=1         # how often the log's time is looked at
QUIET_SECONDS=60       # a request after this long without one is reported at once
REPORT_GAP_SECONDS=10  # otherwise at most one report this often while requests come
HEARTBEAT_SECONDS=30   # and one this often in any case, so that silence is known to be silence
RETRY_SECONDS=5        # after a failed report

log_file="${WARMKEEPER_REQUEST_LOG_FILE:-/tmp/warmkeeper/requests.log}"
url="http://127.0.0.1:${PORT:-8080}/_warmkeeper/activity"

sent_at=0     # when the last report was accepted
reported=""   # the request time that report named ("" before any request)
wait_until=0  # no attempt before this (after a failure)

while :; do
	now=$(date +%s)
	# Caddy creates the log empty at start: only a logged line is a request.
	last=""
	if [ -s "$log_file" ]; then
		last=$(stat -c %Y "$log_file" 2>/dev/null || true)
	fi
	due=""
	if [ "$now" -ge "$wait_until" ]; then
		if [ -n "$last" ] && [ "$last" != "$reported" ]; then
			if [ -z "$reported" ] || [ $((last - reported)) -ge "$QUIET_SECONDS" ] \
				|| [ $((now - sent_at)) -ge "$REPORT_GAP_SECONDS" ]; then
				due=yes
			fi
		fi
		if [ $((now - sent_at)) -ge "$HEARTBEAT_SECONDS" ]; then
			due=yes
		fi
	fi
	if [ -n "$due" ]; then
		if [ -n "$last" ]; then
			idle=$((now - last))
			[ "$idle" -ge 0 ] || idle=0
		else
			idle=none
		fi
		# No -T: Caddy's route bounds the call (2 s to connect to the waker, 5 s for its answer), and
		# Debian's busybox 1.35 wget crashes on -T with --post-data.
		if wget -q -O /dev/null --post-data "" --header "X-Warmkeeper-Idle-Seconds: $idle" "$url"; then
			sent_at=$now
			reported=$last
		else
			wait_until=$((now + RETRY_SECONDS))
		fi
	fi
	sleep "$POLL_SECONDS"
done
