#!/bin/bash
# The ECS deployment flow, end to end, on one machine (needs root).
# A bridge and N network namespaces act as the EC2 container instances of cluster pc-ecs-cluster:
# each has its own hostname, its own /var/lib/garrison and its own emulated ECS agent on its
# 127.0.0.1:51678 answering with the documented introspection response. The test asks the Console
# for the ECS task definition, starts one Defender per node with exactly the environment that the
# task definition lists (plus GARRISON_CLOUD_METADATA=off), and checks the Defenders list; then it
# stops a Defender, restarts the Console, deletes a Defender, revokes the install bundle and tries
# a Defender with a foreign bundle.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/testlib.bash

BIN=${GARRISON_BIN_DIR:-$PWD/build/san/bin}
TOOLS=${GARRISON_TOOLS_DIR:-$PWD/build/san/tools}
N=${GARRISON_TEST_NODES:-3}
ID=$(( $$ % 200 + 20 ))
NET=10.213.$ID
BRIDGE_IP=$NET.1
BR=gbr$ID
API_PORT=28083
DEF_PORT=28084
T=$(mktemp -d /tmp/garrison-ecs.XXXXXX)
trap 't_cleanup; rm -rf "$T"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0

CONSOLE_PID=
start_console() { # DATA_DIR API_PORT DEF_PORT LOG
	GARRISON_ADMIN_PASSWORD=test-admin-pw "$BIN/garrison-console" --data-dir "$1" \
		--api-addr "$BRIDGE_IP:$2" --defender-addr "$BRIDGE_IP:$3" --san "$BRIDGE_IP" \
		>>"$4" 2>&1 &
	CONSOLE_PID=$!
	T_PIDS+=("$CONSOLE_PID")
}
api() { # METHOD PATH [BODY [curl options...]] -> body on stdout; headers in $T/h
	local m=$1 p=$2 body=${3:-}
	shift 2; [ $# -gt 0 ] && shift
	local extra=()
	[ -n "$body" ] && extra=(-H 'Content-Type: application/json' --data "$body")
	curl -sS --max-time 10 --cacert "$T/console/ca.pem" -H "Authorization: Bearer $TOKEN" \
		-D "$T/h" -X "$m" "${extra[@]}" "$@" "https://$BRIDGE_IP:$API_PORT$p"
}
api_code() { # METHOD PATH: the HTTP status only
	api "$1" "$2" "" -o /dev/null -w '%{http_code}'
}
count_connected() { api GET "/api/v1/defenders?connected=true" | jq length; }
connected_is() { [ "$(count_connected 2>/dev/null)" = "$1" ]; }
defender_field() { # HOST FIELD
	api GET "/api/v1/defenders?hostname=$1" | jq -r ".[0].$2"
}
defender_is() { # HOST FIELD VALUE (re-evaluated on every call, for wait_until)
	[ "$(defender_field "$1" "$2")" = "$3" ]
}

node_host() { echo "ip-10-213-$ID-$((10 + $1)).ec2.internal"; }
DEF_PIDS=()
# start_defender I ENV_FILE [EXTRA_ENV]: runs a Defender on node I with only the environment in
# ENV_FILE, GARRISON_CLOUD_METADATA=off, and EXTRA_ENV (space separated, wins over both).
start_defender() {
	local i=$1 ns=gn$ID-$1 h
	h=$(node_host "$i")
	mkdir -p "$T/node$i/varlib/garrison"
	ip netns exec "$ns" unshare --mount --uts sh -c '
		hostname "$1" && mount --bind "$2" /var/lib && extra=$3 && shift 3 &&
		exec env -i PATH=/usr/bin:/bin $(cat "$0") GARRISON_CLOUD_METADATA=off $extra \
			ASAN_OPTIONS=detect_leaks=0 "$@"' \
		"$2" "$h" "$T/node$i/varlib" "${3:-}" "$BIN/garrison-defender" \
		>>"$T/node$i/defender.log" 2>&1 &
	DEF_PIDS[$i]=$!
	T_PIDS+=("$!")
}

# ---- the test hosts -------------------------------------------------------------------------
net_bridge "$BR" "$BRIDGE_IP/24" || { not_ok "create the bridge"; t_done; exit 1; }
for i in $(seq 1 $((N + 4))); do
	net_host "gn$ID-$i" "$BR" "$NET.$((10 + i))/24" || { not_ok "create test host $i"; t_done; exit 1; }
	# The ECS agent of this container instance: the documented /v1/metadata answer, with the
	# placeholders filled in for this instance (rule: cluster_name -> pc-ecs-cluster,
	# region -> us-east-1, aws_account_id -> 123456789012, container_instance_id -> ci-<i>).
	mkdir -p "$T/node$i"
	sed -e 's/cluster_name/pc-ecs-cluster/g' -e 's/aws_account_id/123456789012/' \
		-e 's/region/us-east-1/' -e "s/container_instance_id/ci-$i/" \
		tests/data/aws/ecs-introspection/v1_metadata.json >"$T/node$i/v1_metadata.json"
	cp tests/data/aws/ecs-introspection/v1_tasks.json "$T/node$i/v1_tasks.json"
	cat >"$T/node$i/routes.json" <<JSON
[{"method":"GET","path":"/v1/metadata","status":200,"file":"v1_metadata.json","headers":{"Content-Type":"application/json"}},
 {"method":"GET","path":"/v1/tasks","status":200,"file":"v1_tasks.json","headers":{"Content-Type":"application/json"}}]
JSON
	ip netns exec "gn$ID-$i" "$TOOLS/metaemu" --listen 127.0.0.1:51678 --routes "$T/node$i/routes.json" \
		>"$T/node$i/agent.log" 2>&1 &
	T_PIDS+=("$!")
done

# ---- the Console --------------------------------------------------------------------------------
start_console "$T/console" $API_PORT $DEF_PORT "$T/console.log"
check "the Console answers _ping without credentials" wait_until 20 \
	curl -sf --max-time 2 --cacert "$T/console/ca.pem" "https://$BRIDGE_IP:$API_PORT/api/v1/_ping" -o /dev/null
check "the initial admin password is not written when it was given" test ! -e "$T/console/initial-admin-password"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/console/ca.pem" "https://$BRIDGE_IP:$API_PORT/api/v1/defenders")
check "the Defenders list without credentials is 401 (got $code)" test "$code" = 401
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/console/ca.pem" -H 'Content-Type: application/json' \
	--data '{"username":"admin","password":"wrong"}' "https://$BRIDGE_IP:$API_PORT/api/v1/authenticate")
check "a wrong password is 401 (got $code)" test "$code" = 401
TOKEN=$(curl -sS --cacert "$T/console/ca.pem" -H 'Content-Type: application/json' \
	--data '{"username":"admin","password":"test-admin-pw"}' \
	"https://$BRIDGE_IP:$API_PORT/api/v1/authenticate" | jq -r .token)
check "authenticate returns a token" test -n "$TOKEN" -a "$TOKEN" != null
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/console/ca.pem" -u admin:test-admin-pw \
	"https://$BRIDGE_IP:$API_PORT/api/v1/defenders")
check "HTTP Basic works too (got $code)" test "$code" = 200

# ---- step 2: the task definition ----------------------------------------------------------------
api POST /api/v1/defenders/ecs-task.json "{\"consoleAddr\":\"$BRIDGE_IP\"}" >"$T/taskdef.json"
check "the task definition family defaults to pc-defender" test "$(jq -r .family "$T/taskdef.json")" = pc-defender
check "the task definition runs privileged with host network and PID" \
	test "$(jq -r '[.networkMode,.pidMode,(.containerDefinitions[0].privileged|tostring)]|join(",")' "$T/taskdef.json")" = "host,host,true"
check "DEFENDER_CLUSTER is empty (detect from AWS)" \
	test "$(jq -r '.containerDefinitions[0].environment[]|select(.name=="DEFENDER_CLUSTER")|.value' "$T/taskdef.json")" = ""
check "WS_ADDRESS points at the Console's Defender port" \
	test "$(jq -r '.containerDefinitions[0].environment[]|select(.name=="WS_ADDRESS")|.value' "$T/taskdef.json")" = "wss://$BRIDGE_IP:$DEF_PORT"
if [ -f tests/tools/validate_ecs_taskdef.py ]; then
	check "the task definition is a valid RegisterTaskDefinitionRequest" \
		python3 tests/tools/validate_ecs_taskdef.py tests/data/aws/ecs-api/ecs-2014-11-13.normal.json \
		RegisterTaskDefinitionRequest "$T/taskdef.json"
fi
jq -r '.containerDefinitions[0].environment[] | "\(.name)=\(.value)"' "$T/taskdef.json" >"$T/task.env"
# The same through the CLI (twistcli's `defender export`), and the other formats.
CLI=("$BIN/garrison")
CONN=(--address "https://$BRIDGE_IP:$API_PORT" --user admin --cacert "$T/console/ca.pem")
export GARRISON_PASSWORD=test-admin-pw
check "garrison defender export ecs writes a valid task definition" \
	sh -c '"$0" defender export ecs "$@" --output "'"$T"'/cli-taskdef.json" &&
		python3 tests/tools/validate_ecs_taskdef.py tests/data/aws/ecs-api/ecs-2014-11-13.normal.json \
			RegisterTaskDefinitionRequest "'"$T"'/cli-taskdef.json" >/dev/null' "${CLI[@]}" "${CONN[@]}"
check "the CLI's task definition uses the --address host and family pc-defender" \
	test "$(jq -r '[.family, (.containerDefinitions[0].environment[]|select(.name=="WS_ADDRESS")|.value)]|join(" ")' "$T/cli-taskdef.json")" = \
	"pc-defender wss://$BRIDGE_IP:$DEF_PORT"
check "garrison defender export ecs --format cloudformation is valid against the resource spec" \
	sh -c '"$0" defender export ecs --format cloudformation --cluster pc-ecs-cluster "$@" --output "'"$T"'/cfn.json" &&
		python3 tests/tools/validate_cfn.py tests/data/aws/cfn-resource-spec-ecs-taskdef-service.json "'"$T"'/cfn.json" >/dev/null' \
	"${CLI[@]}" "${CONN[@]}"
check "garrison defender export daemonset is a valid apps/v1 DaemonSet" \
	sh -c '"$0" defender export daemonset "$@" --output "'"$T"'/ds.yaml" &&
		python3 tests/tools/validate_k8s_daemonset.py tests/data/kubernetes/schema/v1.32.2-standalone-strict-daemonset-apps-v1.json "'"$T"'/ds.yaml" >/dev/null' \
	"${CLI[@]}" "${CONN[@]}"
code=$("${CLI[@]}" defender export ecs --address "https://$BRIDGE_IP:$API_PORT" --user admin --password wrong \
	--cacert "$T/console/ca.pem" >/dev/null 2>"$T/cli-err"; echo $?)
check "the CLI fails with status 1 and says why on a wrong password" test "$code" = 1 -a -s "$T/cli-err"

check "the task definition lists the Defender's environment" \
	test "$(cut -d= -f1 "$T/task.env" | sort | tr '\n' ' ')" != ""

# ---- step 3: ECS runs one Defender per container instance ---------------------------------------
for i in $(seq 1 "$N"); do start_defender "$i" "$T/task.env"; done
check "$N Defenders connect" wait_until 60 connected_is "$N"
api GET /api/v1/defenders >"$T/list.json"
check "Total-Count is $N" grep -qi "^Total-Count: $N" "$T/h"
for i in $(seq 1 "$N"); do
	h=$(node_host "$i")
	check "node $i is listed as $h in pc-ecs-cluster from the ECS agent, type ecs" \
		test "$(jq -r --arg h "$h" '.[]|select(.hostname==$h)|[.cluster,.clusterSource,.type,(.connected|tostring)]|join(",")' "$T/list.json")" = \
		"pc-ecs-cluster,ecs-agent,ecs,true"
done
check "every Defender reports system info and a certificate expiration" \
	test "$(jq '[.[]|select(.systemInfo.cpuCount>0 and (.certificateExpiration|startswith("20")))]|length' "$T/list.json")" = "$N"
check "cloud metadata names AWS and the account of the container instance" \
	test "$(jq -r '[.[].cloudMetadata|.provider+":"+.accountID]|unique|join(",")' "$T/list.json")" = "aws:123456789012"
api GET /api/v1/radar/container/clusters >"$T/clusters.json"
SPEC=tests/data/prisma-api/openapi-subset.json
check "the Defenders list matches Prisma's -_defender.Defender schema" \
	python3 tests/tools/validate_openapi.py $SPEC -_defender.Defender "$T/list.json"
api GET /api/v1/defenders/summary >"$T/summary.json"
check "the summary matches -_types.DefenderSummary" \
	python3 tests/tools/validate_openapi.py $SPEC -_types.DefenderSummary "$T/summary.json"
api GET /api/v1/defenders/names >"$T/names.json"
check "the names match -_string" python3 tests/tools/validate_openapi.py $SPEC -_string "$T/names.json"
api GET "/api/v1/defenders/install-bundle?consoleaddr=$BRIDGE_IP&defenderType=ecs" >"$T/ib.json"
check "install-bundle matches shared.DefenderInstallBundle" \
	python3 tests/tools/validate_openapi.py $SPEC shared.DefenderInstallBundle "$T/ib.json"
echo '{"hostname":"x","connected":"yes","type":"tractor"}' >"$T/bad-defender.json"
check "negative control: a wrong Defender record is rejected by the schema check" \
	sh -c '! python3 tests/tools/validate_openapi.py '$SPEC' defender.Defender "'"$T"'/bad-defender.json" >/dev/null'
check "garrison defender list shows the $N connected Defenders" \
	test "$("${CLI[@]}" defender list "${CONN[@]}" --connected --cluster pc-ecs-cluster | grep -c pc-ecs-cluster)" = "$N"
check "Radar shows one cluster pc-ecs-cluster with $N hosts" \
	test "$(jq -r '[.[]|.name+":"+(.hostCount|tostring)]|join(",")' "$T/clusters.json")" = "pc-ecs-cluster:$N"
check "the summary counts $N connected container Defenders" \
	test "$(api GET /api/v1/defenders/summary | jq '.[]|select(.category=="container")|.connected')" = "$N"
check "defenders/names lists the hostnames" \
	test "$(api GET /api/v1/defenders/names | jq -r 'sort|join(",")')" = "$(for i in $(seq 1 "$N"); do node_host "$i"; done | sort | paste -sd,)"
check "the cluster filter finds them" test "$(api GET '/api/v1/defenders?cluster=pc-ecs-cluster' | jq length)" = "$N"
check "the cluster filter excludes other clusters" test "$(api GET '/api/v1/defenders?cluster=other' | jq length)" = 0
check "offset and limit page the list" test "$(api GET '/api/v1/defenders?offset=1&limit=1' | jq length)" = 1
check "each node keeps its identity in its own /var/lib/garrison" test -s "$T/node1/varlib/garrison/identity-cert.pem"

# ---- a Defender that hangs is marked disconnected within 30 s ----------------------------------
kill -STOP "${DEF_PIDS[1]}"
t0=$SECONDS
wait_until 35 defender_is "$(node_host 1)" connected false
took=$((SECONDS - t0))
check "a hung Defender shows disconnected within 30 s (took ${took}s)" test "$(defender_field "$(node_host 1)" connected)" = false -a $took -le 30
kill -CONT "${DEF_PIDS[1]}"
check "it shows connected again after it resumes" wait_until 60 defender_is "$(node_host 1)" connected true

# ---- a stopped Defender comes back with the same identity ---------------------------------------
kill "${DEF_PIDS[2]}"; wait "${DEF_PIDS[2]}" 2>/dev/null
check "a stopped Defender shows disconnected" wait_until 10 defender_is "$(node_host 2)" connected false
serial_before=$(openssl x509 -noout -serial -in "$T/node2/varlib/garrison/identity-cert.pem")
start_defender 2 "$T/task.env"
check "a restarted Defender reconnects" wait_until 30 defender_is "$(node_host 2)" connected true
check "and keeps its identity (no second enrollment)" \
	test "$(grep -c 'enrolled; identity stored' "$T/node2/defender.log")" = 1 -a \
	"$(openssl x509 -noout -serial -in "$T/node2/varlib/garrison/identity-cert.pem")" = "$serial_before"

# ---- the Console restarts: every Defender comes back ---------------------------------------------
kill "$CONSOLE_PID"; wait "$CONSOLE_PID" 2>/dev/null
start_console "$T/console" $API_PORT $DEF_PORT "$T/console.log"
wait_until 20 curl -sf --max-time 2 --cacert "$T/console/ca.pem" "https://$BRIDGE_IP:$API_PORT/api/v1/_ping" -o /dev/null
check "the token survives the Console restart" test "$(api_code GET /api/v1/defenders/names)" = 200
check "after a Console restart all $N Defenders are connected again" wait_until 75 connected_is "$N"
check "the restart kept one record per node" test "$(api GET /api/v1/defenders | jq length)" = "$N"

# ---- a deleted Defender is refused from then on --------------------------------------------------
victim=$(node_host "$N")
code=$(api_code DELETE "/api/v1/defenders/$victim")
check "DELETE /api/v1/defenders/$victim answers 200 (got $code)" test "$code" = 200
check "the Console refuses its identity and logs it" \
	wait_until 60 grep -q "serial .*refused: identity revoked" "$T/console.log"
sleep 2
check "the deleted Defender does not come back" test "$(api GET "/api/v1/defenders?hostname=$victim" | jq length)" = 0
check "the deleted Defender logs why it is refused" grep -q "identity revoked" "$T/node$N/defender.log"
code=$(api_code DELETE "/api/v1/defenders/$victim")
check "deleting it again is 404 (got $code)" test "$code" = 404

# ---- a revoked install bundle is refused, a Defender already enrolled is not ---------------------
old=$(api GET "/api/v1/defenders/install-bundle?consoleaddr=$BRIDGE_IP" | jq -r .installBundle)
check "install-bundle returns the bundle in the task definition" grep -q "INSTALL_BUNDLE=$old" "$T/task.env"
api POST /api/v1/defenders/install-bundle/revoke '{}' >/dev/null
new=$(api GET "/api/v1/defenders/install-bundle?consoleaddr=$BRIDGE_IP" | jq -r .installBundle)
check "revoking gives a new bundle" test -n "$new" -a "$new" != "$old"
R=$((N + 1))
start_defender "$R" "$T/task.env"
check "a new node with the revoked bundle is refused and the Console logs it" \
	wait_until 30 grep -q "refused: install bundle revoked" "$T/console.log"
check "it never appears in the list" test "$(api GET "/api/v1/defenders?hostname=$(node_host $R)" | jq length)" = 0
check "Defenders enrolled before stay connected" wait_until 30 connected_is "$((N - 1))"

# ---- a bundle from another Console, and a peer without a certificate -----------------------------
start_console "$T/console2" 28183 28184 "$T/console2.log"
wait_until 20 test -s "$T/console2/ca.pem"
TOKEN2=$(wait_until 20 curl -sf --cacert "$T/console2/ca.pem" -H 'Content-Type: application/json' \
	--data '{"username":"admin","password":"test-admin-pw"}' \
	"https://$BRIDGE_IP:28183/api/v1/authenticate" >"$T/tok2" && jq -r .token "$T/tok2")
foreign=$(curl -sS --cacert "$T/console2/ca.pem" -H "Authorization: Bearer $TOKEN2" \
	"https://$BRIDGE_IP:28183/api/v1/defenders/install-bundle?consoleaddr=$BRIDGE_IP" | jq -r .installBundle)
F=$((N + 2))
sed "s|^INSTALL_BUNDLE=.*|INSTALL_BUNDLE=$foreign|" "$T/task.env" >"$T/foreign.env"
start_defender "$F" "$T/foreign.env"
check "a Defender with a foreign bundle does not trust this Console" \
	wait_until 30 grep -q "certificate is not trusted" "$T/node$F/defender.log"
check "and never appears in the list" test "$(api GET "/api/v1/defenders?hostname=$(node_host $F)" | jq length)" = 0
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$T/console/ca.pem" "https://$BRIDGE_IP:$DEF_PORT/")
check "the Defender channel refuses a peer without a client certificate (curl got $code)" test "$code" = 000
bad=$(echo 'not-a-bundle' | base64)
sed "s|^INSTALL_BUNDLE=.*|INSTALL_BUNDLE=$bad|" "$T/task.env" >"$T/bad.env"
env -i PATH=/usr/bin:/bin $(cat "$T/bad.env") GARRISON_DATA_DIR="$T/bad" GARRISON_CLOUD_METADATA=off \
	ASAN_OPTIONS=detect_leaks=0 "$BIN/garrison-defender" >"$T/bad.log" 2>&1
rc=$?
check "a corrupt bundle is refused with a clear error (exit $rc)" test $rc = 2 -a -n "$(grep 'INSTALL_BUNDLE is invalid' "$T/bad.log")"
check "the Console did not crash" kill -0 "$CONSOLE_PID"

# ---- GKE nodes in two projects under one cluster name: one cluster, both projects visible -------
# Their metadata server (metaemu on the namespace's 127.0.0.1:8080, pointed at by GCE_METADATA_HOST)
# answers the derived GKE paths; the second node's project id is changed to other-project.
for g in 1 2; do
	i=$((N + 2 + g))
	proj=$([ $g = 1 ] && echo '"file":"'"$PWD"'/tests/data/cloud/gcp/computeMetadata_v1_project_project-id.txt"' || echo '"body":"other-project"')
	cat >"$T/node$i/gce-routes.json" <<JSON
[{"method":"GET","path":"/computeMetadata/v1/instance/attributes/cluster-name","status":200,
  "file":"$PWD/tests/data/cloud/gcp/computeMetadata_v1_instance_attributes_cluster-name.txt",
  "headers":{"Metadata-Flavor":"Google"},"requireHeaders":{"Metadata-Flavor":"Google"}},
 {"method":"GET","path":"/computeMetadata/v1/project/project-id","status":200,$proj,
  "headers":{"Metadata-Flavor":"Google"},"requireHeaders":{"Metadata-Flavor":"Google"}}]
JSON
	ip netns exec "gn$ID-$i" "$TOOLS/metaemu" --listen 127.0.0.1:8080 --routes "$T/node$i/gce-routes.json" \
		>"$T/node$i/gce.log" 2>&1 &
	T_PIDS+=("$!")
	# no ECS agent on these nodes: kill the one started for every node
	ip netns pids "gn$ID-$i" | while read -r p; do
		grep -q 51678 "/proc/$p/cmdline" 2>/dev/null && kill "$p"
	done
	sed -e "s|^INSTALL_BUNDLE=.*|INSTALL_BUNDLE=$new|" -e 's|^DEFENDER_TYPE=.*|DEFENDER_TYPE=daemonset|' \
		"$T/task.env" >"$T/gke$g.env"
	# One file per node: the Defender's shell reads it after this loop may have moved on.
	start_defender "$i" "$T/gke$g.env" "GARRISON_CLOUD_METADATA=on GCE_METADATA_HOST=127.0.0.1:8080 \
GARRISON_AZURE_IMDS_ENDPOINT=http://127.0.0.1:9 AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9"
done
gke_ok() {
	api GET /api/v1/radar/container/clusters >"$T/clusters2.json" &&
	[ "$(jq -r '.[]|select(.name=="test-cluster")|[(.hostCount|tostring),(.sources|join("+")),(.accountIDs|sort|join("+")),.cloudProvider]|join(",")' "$T/clusters2.json")" = \
		"2,gcp,other-project+test-project,gcp" ]
}
check "two GKE nodes of one cluster name in two projects are one cluster, both projects listed" wait_until 30 gke_ok
check "the GKE Defenders report type daemonset and cluster test-cluster" \
	test "$(api GET '/api/v1/defenders?cluster=test-cluster' | jq -r '[.[]|.type+":"+.clusterSource]|unique|join(",")')" = "daemonset:gcp"
check "pc-ecs-cluster is still its own cluster" \
	test "$(jq -r '.[]|select(.name=="pc-ecs-cluster")|.cloudProvider' "$T/clusters2.json")" = aws

if [ "$T_FAILED" -ne 0 ]; then
	echo "---- console.log"; tail -n 60 "$T/console.log"
	for i in $(seq 1 $((N + 4))); do echo "---- node $i"; tail -n 15 "$T/node$i/defender.log" 2>/dev/null; done
fi
t_done
