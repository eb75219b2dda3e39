#!/bin/bash
# `make run`: a local trial. Starts a Console (embedded SQLite, state in ./run/console) and a
# Defender for this machine (state in ./run/defender), prints the URL and the admin login, and
# stays in the foreground until Ctrl-C, which stops both.
# Cloud metadata is off for this Defender unless GARRISON_CLOUD_METADATA is already set: a machine
# outside a cloud must never probe the cloud metadata addresses.
# Overrides: GARRISON_API_PORT (8083), GARRISON_DEFENDER_PORT (8084), GARRISON_ADMIN_PASSWORD,
# GARRISON_RUN_DIR (./run), B (build dir, default build).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
RUN=${GARRISON_RUN_DIR:-$PWD/run}
API_PORT=${GARRISON_API_PORT:-8083}
DEF_PORT=${GARRISON_DEFENDER_PORT:-8084}
export GARRISON_CLOUD_METADATA=${GARRISON_CLOUD_METADATA:-off}
mkdir -p "$RUN"

"$B/bin/garrison-console" --data-dir "$RUN/console" --api-addr "0.0.0.0:$API_PORT" \
	--defender-addr "0.0.0.0:$DEF_PORT" >"$RUN/console.log" 2>&1 &
CONSOLE=$!
DEFENDER=
trap 'kill $CONSOLE $DEFENDER 2>/dev/null; wait 2>/dev/null; echo; echo "stopped"' EXIT
trap 'exit 0' INT TERM

CA=$RUN/console/ca.pem
URL=https://localhost:$API_PORT
for _ in $(seq 1 100); do
	curl -sf --max-time 1 --cacert "$CA" "$URL/api/v1/_ping" -o /dev/null 2>/dev/null && break
	kill -0 $CONSOLE 2>/dev/null || { cat "$RUN/console.log"; exit 1; }
	sleep 0.1
done
USER_NAME=${GARRISON_ADMIN_USER:-admin}
if [ -n "${GARRISON_ADMIN_PASSWORD:-}" ]; then
	PASSWORD=$GARRISON_ADMIN_PASSWORD
elif [ -f "$RUN/console/initial-admin-password" ]; then
	PASSWORD=$(cat "$RUN/console/initial-admin-password")
else
	echo "run: the admin password is not known (set GARRISON_ADMIN_PASSWORD)" >&2
	exit 1
fi

BUNDLE=$(curl -sf --cacert "$CA" -u "$USER_NAME:$PASSWORD" \
	"$URL/api/v1/defenders/install-bundle?consoleaddr=localhost" | jq -r .installBundle)
WS_ADDRESS=wss://localhost:$DEF_PORT INSTALL_BUNDLE=$BUNDLE DEFENDER_TYPE=docker \
	DEFENDER_CLUSTER=${DEFENDER_CLUSTER:-} DOCKER_CLIENT_ADDRESS=${DOCKER_CLIENT_ADDRESS:-/var/run/docker.sock} \
	GARRISON_DATA_DIR="$RUN/defender" "$B/bin/garrison-defender" >"$RUN/defender.log" 2>&1 &
DEFENDER=$!

cat <<MSG

Garrison is running.
  Console:      $URL/   (CA certificate: $CA)
  Admin login:  user $USER_NAME, password $PASSWORD
  Try:          curl --cacert $CA -u $USER_NAME:$PASSWORD $URL/api/v1/defenders
  Logs:         $RUN/console.log, $RUN/defender.log
Press Ctrl-C to stop.
MSG
wait $CONSOLE
