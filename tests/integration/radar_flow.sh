#!/bin/bash
# Inventory, Radar and collections end to end (needs root and Debian's docker.io).
# A private dockerd (tests/tools/dockerd-harness.sh), a Console and a real Defender on this
# machine (loopback only). Containers with ECS and Kubernetes labels and a privileged one are
# started; the test checks the Console's containers, images, hosts and Radar views field by field
# and against Prisma's OpenAPI schemas, the collections API (CRUD, validation, filters), that a
# started or removed container shows within 5 s, and that Defender and Console restarts leave
# neither duplicates nor stale containers.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/testlib.bash

BIN=${GARRISON_BIN_DIR:-$PWD/build/san/bin}
API_PORT=28383
DEF_PORT=28384
T=$(mktemp -d /tmp/gr.XXXXXX)
D=$T/dk
HARNESS=tests/tools/dockerd-harness.sh
SPEC=tests/data/prisma-api/openapi-subset.json
trap 't_cleanup; bash $HARNESS stop "$D" >/dev/null 2>&1; rm -rf "$T"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
export GARRISON_CLOUD_METADATA=off

dk() { bash $HARNESS docker "$D" "$@"; }
CONSOLE_PID=
start_console() {
	GARRISON_ADMIN_PASSWORD=pw "$BIN/garrison-console" --data-dir "$T/console" \
		--api-addr "127.0.0.1:$API_PORT" --defender-addr "127.0.0.1:$DEF_PORT" --san 127.0.0.1 \
		>>"$T/console.log" 2>&1 &
	CONSOLE_PID=$!
	T_PIDS+=("$!")
	wait_until 20 curl -sf --max-time 2 --cacert "$T/console/ca.pem" \
		"https://127.0.0.1:$API_PORT/api/v1/_ping" -o /dev/null
}
DEFENDER_PID=
start_defender() {
	WS_ADDRESS=wss://127.0.0.1:$DEF_PORT INSTALL_BUNDLE=$BUNDLE DEFENDER_TYPE=docker \
		DEFENDER_CLUSTER=node-cluster DOCKER_CLIENT_ADDRESS=$D/docker.sock \
		GARRISON_DATA_DIR=$T/defender "$BIN/garrison-defender" >>"$T/defender.log" 2>&1 &
	DEFENDER_PID=$!
	T_PIDS+=("$!")
}
api() { # METHOD PATH [BODY [curl options...]]
	local m=$1 p=$2 body=${3:-}
	shift 2; [ $# -gt 0 ] && shift
	local extra=()
	[ -n "$body" ] && extra=(-H 'Content-Type: application/json' --data "$body")
	curl -sS --max-time 10 --cacert "$T/console/ca.pem" -u admin:pw -D "$T/h" -X "$m" \
		"${extra[@]}" "$@" "https://127.0.0.1:$API_PORT$p"
}
api_code() { api "$1" "$2" "${3:-}" -o "$T/body" -w '%{http_code}'; }
field() { # NAME JQ: a field of the container named NAME
	api GET "/api/v1/containers?search=$1" | jq -r --arg n "$1" ".[]|select(.info.name==\$n)|$2"
}
count_containers() { api GET "/api/v1/containers" | jq length; }
containers_are() { [ "$(count_containers 2>/dev/null)" = "$1" ]; }
has_container() { [ "$(api GET /api/v1/containers | jq --arg n "$1" '[.[]|select(.info.name==$n)]|length')" = "${2:-1}" ]; }

if ! bash $HARNESS start "$D" >"$T/harness.log" 2>&1; then
	not_ok "start a private Docker engine"; cat "$T/harness.log"; t_done; exit 1
fi
start_console || { not_ok "start the Console"; cat "$T/console.log"; t_done; exit 1; }
BUNDLE=$(api GET "/api/v1/defenders/install-bundle?consoleaddr=127.0.0.1" | jq -r .installBundle)

dk run -d --name ecs-web --label com.amazonaws.ecs.cluster=ecs-prod \
	--label com.amazonaws.ecs.task-definition-family=web --label env=prod test/busybox:1 sleep 3600 >/dev/null
dk run -d --name api --label io.kubernetes.pod.namespace=payments --label io.kubernetes.pod.name=api-0 \
	--label io.kubernetes.container.name=api --label env=prod test/busybox:1 sleep 3600 >/dev/null
dk run -d --name worker --label env=dev test/busybox:1 sleep 3600 >/dev/null
dk create --name priv --privileged test/busybox:1 sleep 3600 >/dev/null

start_defender
check "the Defender's inventory reaches the Console (4 containers)" wait_until 30 containers_are 4
api GET /api/v1/containers >"$T/containers.json"
check "Total-Count counts the containers" grep -qi '^Total-Count: 4' "$T/h"
check "containers match Prisma's -_shared.ContainerScanResult schema" \
	python3 tests/tools/validate_openapi.py $SPEC -_shared.ContainerScanResult "$T/containers.json"
check "an ECS task label gives the container its own cluster" test "$(field ecs-web .info.cluster)" = ecs-prod
check "a container without one is in its node's cluster" test "$(field worker .info.cluster)" = node-cluster
check "Kubernetes labels give namespace and pod" test "$(field api '.info.namespace+"/"+.info.pod')" = payments/api-0
check "labels are key:value strings" test "$(field worker '.info.labels|join(",")')" = env:dev
check "privileged is reported" test "$(field priv .info.privileged)/$(field worker .info.privileged)" = true/false
check "processes are reported" test "$(field worker '.info.processes[0].cmdline')" = "sleep 3600"
check "the image is known by its id" test "$(field worker .info.imageID | cut -c1-7)" = sha256:
api GET /api/v1/images >"$T/images.json"
check "one image, seen on this host" test "$(jq -r '[.[]|.repoTag.repo+":"+.repoTag.tag+"@"+(.instances|length|tostring)]|join(",")' "$T/images.json")" = "test/busybox:1@1"
check "images match -_shared.ImageScanResult" \
	python3 tests/tools/validate_openapi.py $SPEC -_shared.ImageScanResult "$T/images.json"
api GET /api/v1/hosts >"$T/hosts.json"
check "one host, with its OS and cluster" \
	test "$(jq -r '[.[]|.osDistro+":"+(.clusters|join("+"))]|join(",")' "$T/hosts.json")" = "debian:node-cluster"
check "hosts match -_shared.ImageScanResult" \
	python3 tests/tools/validate_openapi.py $SPEC -_shared.ImageScanResult "$T/hosts.json"
api GET /api/v1/radar/container >"$T/radar.json"
check "Radar has one entity per image, cluster and namespace" \
	test "$(jq -r '[.[]|.cluster+"/"+.namespace+"="+(.containerCount|tostring)]|sort|join(",")' "$T/radar.json")" = \
	"ecs-prod/=1,node-cluster/=2,node-cluster/payments=1"
check "Radar's host view counts this host's containers" \
	test "$(api GET /api/v1/radar/host | jq -r '.[0].containerCount')" = 4
check "the clusters filter applies" test "$(api GET '/api/v1/containers?clusters=ecs-prod' | jq length)" = 1
check "search, sort, reverse and paging apply" \
	test "$(api GET '/api/v1/containers?sort=info.name&reverse=true&offset=1&limit=2' | jq -r '[.[].info.name]|join(",")')" = "priv,ecs-web"

# ---- collections ----------------------------------------------------------------------------
check "All is listed" test "$(api GET /api/v1/collections | jq -r '.[0].name')" = All
check "a namespace collection is created" test "$(api_code POST /api/v1/collections '{"name":"payments","namespaces":["payments"]}')" = 200
check "a label collection with an exclusion is created" \
	test "$(api_code POST /api/v1/collections '{"name":"prod-not-ecs","labels":["env:prod"],"clusters":["-ecs-*"]}')" = 200
check "collections=payments selects the payments container" \
	test "$(api GET '/api/v1/containers?collections=payments' | jq -r '[.[].info.name]|join(",")')" = api
check "exclusions are evaluated first" \
	test "$(api GET '/api/v1/containers?collections=prod-not-ecs' | jq -r '[.[].info.name]|join(",")')" = api
check "several collections are a union" \
	test "$(api GET '/api/v1/containers?collections=payments,prod-not-ecs' | jq length)" = 1
check "a record lists its collections" test "$(field api '.collections|sort|join(",")')" = "All,payments,prod-not-ecs"
check "collections filter images, hosts and Radar too" \
	test "$(api GET '/api/v1/images?collections=All' | jq length)/$(api GET '/api/v1/hosts?collections=payments' | jq length)/$(api GET '/api/v1/radar/container?collections=payments' | jq length)" = "1/0/1"
check "an unknown collection in a filter is a 400" test "$(api_code GET '/api/v1/containers?collections=nope')" = 400
code=$(api_code POST /api/v1/collections '{"name":"payments","namespaces":["x"]}')
check "a duplicate name is refused with 400 ($code: $(cat "$T/body"))" test "$code" = 400
code=$(api_code POST /api/v1/collections '{"name":"bad","images":["ng*nx"]}')
check "a pattern that cannot be parsed is refused ($(cat "$T/body"))" test "$code" = 400 -a -n "$(grep -i middle "$T/body")"
code=$(api_code POST /api/v1/collections '{"name":"bad","colour":"red"}')
check "an unknown field is refused ($(cat "$T/body"))" test "$code" = 400
check "an empty name is refused" test "$(api_code POST /api/v1/collections '{"name":""}')" = 400
check "All cannot be changed" test "$(api_code PUT /api/v1/collections/All '{"name":"All","hosts":["x"]}')" = 400
check "All cannot be deleted" test "$(api_code DELETE /api/v1/collections/All)" = 400
check "nothing invalid was stored" test "$(api GET /api/v1/collections | jq -r '[.[].name]|join(",")')" = "All,payments,prod-not-ecs"
check "a collection is updated with PUT" \
	test "$(api_code PUT /api/v1/collections/payments '{"name":"payments","namespaces":["pay*"],"color":"#112233"}')" = 200
check "the update applies" test "$(api GET /api/v1/collections | jq -r '.[]|select(.name=="payments")|.namespaces[0]+" "+.color')" = "pay* #112233"
check "usages answer for an existing collection" test "$(api_code GET /api/v1/collections/payments/usages)" = 200
api GET /api/v1/collections >"$T/colls.json"
check "collections match -_collection.Collection" \
	python3 tests/tools/validate_openapi.py $SPEC -_collection.Collection "$T/colls.json"
check "a collection is deleted" test "$(api_code DELETE /api/v1/collections/prod-not-ecs)" = 200
check "deleting it again is 404" test "$(api_code DELETE /api/v1/collections/prod-not-ecs)" = 404

# ---- changes reach the Console within 5 s -----------------------------------------------------
dk run -d --name late test/busybox:1 sleep 3600 >/dev/null
t0=$SECONDS
check "a started container shows within 5 s" wait_until 5 has_container late
dk rm -f worker >/dev/null
check "a removed container is gone within 5 s" wait_until 5 has_container worker 0

# ---- restarts: no duplicates, no stale containers ---------------------------------------------
kill "$DEFENDER_PID"; wait "$DEFENDER_PID" 2>/dev/null
dk rm -f late >/dev/null
start_defender
check "after a Defender restart the container that died meanwhile is gone" wait_until 20 has_container late 0
check "and nothing is duplicated" test "$(count_containers)" = 3
kill "$CONSOLE_PID"; wait "$CONSOLE_PID" 2>/dev/null
dk run -d --name during test/busybox:1 sleep 3600 >/dev/null
start_console
check "after a Console restart the inventory resyncs" wait_until 60 has_container during
check "still one record per container" test "$(count_containers)" = 4

# ---- a Docker engine that restarts is reported and followed again --------------------------------
bash $HARNESS restart "$D" >>"$T/harness.log" 2>&1
dk rm -f api >/dev/null
check "after dockerd restarts, the inventory follows it again" wait_until 30 has_container api 0
check "the Defender logged the engine going away" grep -qi "unreachable\|lost\|reconnect" "$T/defender.log"
check "the Console and the Defender are still running" kill -0 "$CONSOLE_PID" "$DEFENDER_PID"

if [ "$T_FAILED" -ne 0 ]; then
	echo "---- console.log"; tail -n 30 "$T/console.log"
	echo "---- defender.log"; tail -n 30 "$T/defender.log"
fi
t_done
