#!/bin/sh
# Start osrm-routed (MLD) on the dataset in $OSRM_DATA_DIR, written there by the task's init container
# from s3://.../current.json (scripts/osrm_prepare.py). For the AWS image only (osrm/Dockerfile); the
# local twin runs osrm/server.py instead.
set -eu
data="${OSRM_DATA_DIR:-/data}"
manifest="$data/manifest.json"
if [ ! -f "$manifest" ] || [ ! -f "$data/map.osrm.mldgr" ]; then
    echo "cityguided-osrm: no dataset in $data (manifest.json and map.osrm.mldgr expected): did the init container run?" >&2
    exit 1
fi
# OSRM refuses files from another version; say which two differ instead of OSRM's fingerprint error.
if ! grep -q "\"image\": \"${OSRM_IMAGE}\"" "$manifest"; then
    echo "cityguided-osrm: $manifest was prepared with another image than ${OSRM_IMAGE}:" >&2
    grep '"image"' "$manifest" >&2 || true
    exit 1
fi
exec osrm-routed --algorithm mld --ip 0.0.0.0 --port "${OSRM_PORT:-5000}" "$data/map.osrm"
