#!/bin/sh
# test_deploy_validate.sh [BUILD_DIR]: validates what Garrison generates for deployment against the
# real reference data in tests/data (the ECS API model, the CloudFormation resource spec, the
# Kubernetes DaemonSet JSON Schema), proves each validator rejects known-bad documents, and runs
# the `garrison` CLI end to end against a mock Console over loopback HTTPS.
#
# Needs BUILD_DIR/tools/deploy_gen and BUILD_DIR/bin/garrison (default BUILD_DIR: build/san, else
# build), /usr/bin/python3 with python3-jsonschema and python3-yaml, and openssl.
# Prints "ok - ..." / "not ok - ..." per check and "N passed, N failed"; exits 1 on any failure.
set -u

cd "$(dirname "$0")/../.." || exit 1
B=${1:-}
if [ -z "$B" ]; then
	if [ -x build/san/bin/garrison ]; then B=build/san; else B=build; fi
fi
PY=/usr/bin/python3
GEN=$B/tools/deploy_gen
CLI=$B/bin/garrison
TOOLS=tests/tools
MODEL=tests/data/aws/ecs-api/ecs-2014-11-13.normal.json
CFNSPEC=tests/data/aws/cfn-resource-spec-ecs-taskdef-service.json
K8SSCHEMA=tests/data/kubernetes/schema/v1.32.2-standalone-strict-daemonset-apps-v1.json
TDDIR=tests/data/aws/ecs-task-definitions

T=$(mktemp -d)
MOCK_PID=
cleanup() {
	[ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

pass=0
fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
notok() {
	echo "not ok - $1"
	fail=$((fail + 1))
	[ -s "$T/out" ] && sed 's/^/  # /' "$T/out" | head -n 20
}

# expect RC NAME CMD...: the command must exit with status RC (output kept in $T/out).
expect() {
	want=$1 name=$2
	shift 2
	"$@" >"$T/out" 2>&1
	got=$?
	if [ "$got" -eq "$want" ]; then ok "$name"; else notok "$name (exit $got, wanted $want)"; fi
}
# expect_grep NAME PATTERN FILE: FILE must contain PATTERN (fixed string).
expect_grep() {
	if grep -qF -- "$2" "$3"; then ok "$1"; else cp "$3" "$T/out" 2>/dev/null; notok "$1 (no \"$2\")"; fi
}

# jmut IN OUT PYTHON: OUT is IN (JSON) after running PYTHON on it as d.
jmut() {
	$PY -c 'import json,sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"), indent=1)' "$1" "$2" "$3"
}
# ymut IN OUT PYTHON: the same for a multi-document YAML file, as the list docs.
ymut() {
	$PY -c 'import yaml,sys
docs = list(yaml.safe_load_all(open(sys.argv[1])))
ds = [x for x in docs if x.get("kind") == "DaemonSet"][0]
exec(sys.argv[3])
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))' "$1" "$2" "$3"
}

for f in "$GEN" "$CLI"; do
	if [ ! -x "$f" ]; then
		echo "not ok - $f is missing: build it first (make SAN=1 $f)"
		echo "0 passed, 1 failed"
		exit 1
	fi
done
if ! $PY -c 'import jsonschema, yaml' 2>"$T/out"; then
	notok "python3-jsonschema and python3-yaml are needed (scripts/install-deps.sh)"
	echo "$pass passed, $fail failed"
	exit 1
fi

# ---- 1. the validators on the reference data: they accept the real documents and reject the bad
VT="$PY $TOOLS/validate_ecs_taskdef.py"
VK="$PY $TOOLS/validate_k8s_daemonset.py"
VC="$PY $TOOLS/validate_cfn.py"

n=0
for f in "$TDDIR"/datadog-agent-ecs-daemon.json "$TDDIR"/example-*.json "$TDDIR"/task-definition-template.json; do
	expect 0 "reference task definition $(basename "$f") is a valid RegisterTaskDefinitionRequest" \
		$VT "$MODEL" RegisterTaskDefinitionRequest "$f"
	n=$((n + 1))
done
[ "$n" -eq 8 ] && ok "all 8 reference task definitions were checked" || notok "expected 8 reference task definitions, found $n"

expect 1 "the service template is rejected as a CreateServiceRequest" \
	$VT "$MODEL" CreateServiceRequest "$TDDIR/service-definition-template.json"
if [ "$(grep -c ': \$\.' "$T/out")" -eq 1 ] && grep -q "unknown member 'platformFamily'" "$T/out"; then
	ok "... and only because of platformFamily"
else
	notok "the service template should fail only on platformFamily"
fi
jmut "$TDDIR/service-definition-template.json" "$T/svc-fixed.json" 'del d["platformFamily"]'
expect 0 "the service template without platformFamily is a valid CreateServiceRequest" \
	$VT "$MODEL" CreateServiceRequest "$T/svc-fixed.json"
expect 2 "the model validator refuses an unknown shape name" $VT "$MODEL" NoSuchShape "$T/svc-fixed.json"

expect 0 "reference DaemonSet (fluentd) validates against the strict schema" \
	$VK "$K8SSCHEMA" tests/data/kubernetes/manifests/daemonset-fluentd-elasticsearch.yaml
ymut tests/data/kubernetes/manifests/daemonset-fluentd-elasticsearch.yaml "$T/fluentd-replicas.yaml" \
	'ds["spec"]["replicas"] = 2'
expect 1 "reference DaemonSet with spec.replicas is rejected" $VK "$K8SSCHEMA" "$T/fluentd-replicas.yaml"
expect_grep "... because of replicas" "'replicas' was unexpected" "$T/out"

# ---- 2. the ECS task definition we generate
$GEN ecs >"$T/td.json" 2>"$T/out" || notok "deploy_gen ecs"
expect 0 "generated ECS task definition is a valid RegisterTaskDefinitionRequest" \
	$VT "$MODEL" RegisterTaskDefinitionRequest "$T/td.json"
$GEN ecs --console-addr fd00::10 --port 9998 --cluster pc-ecs-cluster --task-name garrison_def-1 \
	--image registry.local:5000/garrison/defender@sha256:abcd --docker-socket /run/docker.sock \
	--data-dir /srv/garrison >"$T/td2.json" 2>"$T/out" || notok "deploy_gen ecs with options"
expect 0 "generated ECS task definition with every option set is valid" \
	$VT "$MODEL" RegisterTaskDefinitionRequest "$T/td2.json"
expect 0 "it connects to wss://[fd00::10]:9998" $PY -c 'import json,sys
c = json.load(open(sys.argv[1]))["containerDefinitions"][0]
env = {e["name"]: e["value"] for e in c["environment"]}
assert env["WS_ADDRESS"] == "wss://[fd00::10]:9998", env
assert env["DEFENDER_CLUSTER"] == "pc-ecs-cluster" and env["DEFENDER_TYPE"] == "ecs"
assert sorted(m["containerPath"] for m in c["mountPoints"]) == ["/run/docker.sock", "/srv/garrison"]' "$T/td2.json"
expect 1 "deploy_gen refuses a console address with a path" $GEN ecs --console-addr evil.com/x

jmut "$T/td.json" "$T/bad1.json" 'd["containerDefinitions"][0]["priviledged"] = True'
expect 1 "negative: a task definition with an unknown container field is rejected" \
	$VT "$MODEL" RegisterTaskDefinitionRequest "$T/bad1.json"
jmut "$T/td.json" "$T/bad2.json" 'd["networkMode"] = "hostt"'
expect 1 "negative: a networkMode outside the enum is rejected" \
	$VT "$MODEL" RegisterTaskDefinitionRequest "$T/bad2.json"
jmut "$T/td.json" "$T/bad3.json" 'd["containerDefinitions"][0]["memory"] = "512"'
expect 1 "negative: a string where an integer belongs is rejected" \
	$VT "$MODEL" RegisterTaskDefinitionRequest "$T/bad3.json"
jmut "$T/td.json" "$T/bad4.json" 'del d["family"]'
expect 1 "negative: a task definition without family is rejected" \
	$VT "$MODEL" RegisterTaskDefinitionRequest "$T/bad4.json"
jmut "$T/td.json" "$T/bad5.json" 'd["containerDefinitions"][0]["privileged"] = "true"'
expect 1 "negative: a string where a boolean belongs is rejected" \
	$VT "$MODEL" RegisterTaskDefinitionRequest "$T/bad5.json"

# ---- 3. the Kubernetes manifest we generate
$GEN daemonset >"$T/ds.yaml" 2>"$T/out" || notok "deploy_gen daemonset"
expect 0 "generated DaemonSet validates against the strict apps/v1 schema (and its refs resolve)" \
	$VK --require-refs "$K8SSCHEMA" "$T/ds.yaml"
$GEN daemonset --namespace kube-system --cluster yes >"$T/ds2.yaml" 2>"$T/out" || notok "deploy_gen daemonset kube-system"
expect 0 "generated DaemonSet in kube-system validates" $VK --require-refs "$K8SSCHEMA" "$T/ds2.yaml"
expect 0 "a YAML 1.1 reader sees cluster \"yes\" as a string and no Namespace object" $PY -c 'import yaml,sys
docs = list(yaml.safe_load_all(open(sys.argv[1])))
assert [d["kind"] for d in docs] == ["ServiceAccount", "Secret", "DaemonSet"], docs
env = docs[2]["spec"]["template"]["spec"]["containers"][0]["env"]
assert {e["name"]: e.get("value") for e in env}["DEFENDER_CLUSTER"] == "yes"' "$T/ds2.yaml"

ymut "$T/ds.yaml" "$T/ds-bad1.yaml" 'ds["spec"]["replicas"] = 3'
expect 1 "negative: the DaemonSet with spec.replicas is rejected" $VK "$K8SSCHEMA" "$T/ds-bad1.yaml"
ymut "$T/ds.yaml" "$T/ds-bad2.yaml" 'ds["spec"]["template"]["spec"]["hostPID"] = "true"'
expect 1 "negative: hostPID as a string is rejected" $VK "$K8SSCHEMA" "$T/ds-bad2.yaml"
ymut "$T/ds.yaml" "$T/ds-bad3.yaml" '[x for x in docs if x["kind"] == "Secret"][0]["metadata"]["name"] = "other"'
expect 0 "a DaemonSet whose Secret is elsewhere is schema-valid" $VK "$K8SSCHEMA" "$T/ds-bad3.yaml"
expect 1 "negative: ... but --require-refs rejects the dangling secretKeyRef" \
	$VK --require-refs "$K8SSCHEMA" "$T/ds-bad3.yaml"
ymut "$T/ds.yaml" "$T/ds-bad4.yaml" 'docs[:] = [x for x in docs if x["kind"] != "DaemonSet"]'
expect 1 "negative: a manifest without a DaemonSet is rejected" $VK "$K8SSCHEMA" "$T/ds-bad4.yaml"

# ---- 4. CloudFormation
$GEN cloudformation --ecs-cluster pc-ecs-cluster >"$T/cfn.json" 2>"$T/out" || notok "deploy_gen cloudformation"
expect 0 "generated CloudFormation template is valid against the resource spec" $VC "$CFNSPEC" "$T/cfn.json"
for f in "$TDDIR"/datadog-agent-ecs-daemon.json "$TDDIR"/example-*.json; do
	if $GEN cloudformation --from "$f" >"$T/cfn-ex.json" 2>"$T/out"; then
		expect 0 "CloudFormation made from $(basename "$f") is valid" $VC "$CFNSPEC" "$T/cfn-ex.json"
	else
		notok "deploy_gen cloudformation --from $(basename "$f")"
	fi
done
P='r = d["Resources"]; td = r["DefenderTaskDefinition"]["Properties"]; svc = r["DefenderService"]["Properties"]; c = td["ContainerDefinitions"][0]'
jmut "$T/cfn.json" "$T/cfn-bad1.json" "$P; c['Priviledged'] = True"
expect 1 "negative: an unknown container property is rejected" $VC "$CFNSPEC" "$T/cfn-bad1.json"
jmut "$T/cfn.json" "$T/cfn-bad2.json" "$P; del c['Image']"
expect 1 "negative: a container without the required Image is rejected" $VC "$CFNSPEC" "$T/cfn-bad2.json"
jmut "$T/cfn.json" "$T/cfn-bad3.json" "$P; svc['SchedulingStrategy'] = 'REPLICA'"
expect 1 "negative: a template without a DAEMON service is rejected" $VC "$CFNSPEC" "$T/cfn-bad3.json"
jmut "$T/cfn.json" "$T/cfn-bad4.json" "$P; r['DefenderService']['Type'] = 'AWS::ECS::Servce'"
expect 1 "negative: an unknown resource type is rejected" $VC "$CFNSPEC" "$T/cfn-bad4.json"
jmut "$T/cfn.json" "$T/cfn-bad5.json" "$P; c['Memory'] = 'lots'"
expect 1 "negative: a non-integer Memory is rejected" $VC "$CFNSPEC" "$T/cfn-bad5.json"
jmut "$T/cfn.json" "$T/cfn-bad6.json" "$P; svc['Cluster'] = {'Ref': 'NoSuchParameter'}"
expect 1 "negative: a Ref to nothing is rejected" $VC "$CFNSPEC" "$T/cfn-bad6.json"
jmut "$T/cfn.json" "$T/cfn-bad7.json" "$P; td['Volumes'][0]['host'] = td['Volumes'][0].pop('Host')"
expect 1 "negative: an API (camelCase) property name is rejected" $VC "$CFNSPEC" "$T/cfn-bad7.json"

# ---- 5. the CLI against a mock Console on loopback HTTPS
expect 0 "garrison --help" "$CLI" --help
expect_grep "... lists defender export" "defender export ecs" "$T/out"
expect 0 "garrison version" "$CLI" version
expect_grep "... prints the version" "garrison $(cat VERSION)" "$T/out"
expect 2 "garrison with an unknown command is a usage error" "$CLI" frobnicate
expect 2 "export without --address is a usage error" "$CLI" defender export ecs --token x
expect 2 "export with an http:// address is a usage error" "$CLI" defender export ecs --address http://127.0.0.1:1 --token x
expect 2 "export with an unknown option is a usage error" "$CLI" defender export ecs --bogus
expect 0 "garrison defender export ecs --help" "$CLI" defender export ecs --help
expect_grep "... documents --format" "--format json|cloudformation" "$T/out"

C="$T/ca"
mkdir -p "$C"
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=garrison-test-ca \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
	-keyout "$C/ca.key" -out "$C/ca.pem" >"$T/out" 2>&1 &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
		-keyout "$C/srv.key" -out "$C/srv.csr" >>"$T/out" 2>&1 &&
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$C/ext" &&
	openssl x509 -req -in "$C/srv.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial -days 1 \
		-extfile "$C/ext" -out "$C/srv.pem" >>"$T/out" 2>&1; then
	ok "test CA and server certificate made with openssl"
else
	notok "cannot make test certificates with openssl"
fi

$PY $TOOLS/mock_console.py "$C/srv.pem" "$C/srv.key" "$T/port" "$T/requests.log" "$GEN" 2>"$T/mock.err" &
MOCK_PID=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ] && kill -0 "$MOCK_PID" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
if [ -s "$T/port" ]; then
	ok "mock Console listening on 127.0.0.1:$(cat "$T/port")"
	ADDR="https://127.0.0.1:$(cat "$T/port")"
	# Proxies must not be used for loopback, whatever the environment says.
	export https_proxy=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9
	export GARRISON_PASSWORD=pw
	unset GARRISON_TOKEN GARRISON_CACERT

	expect 0 "export ecs (password from GARRISON_PASSWORD, --cacert)" \
		"$CLI" defender export ecs --address "$ADDR" --user admin --cacert "$C/ca.pem" --output "$T/cli-td.json"
	expect 0 "... writes a valid RegisterTaskDefinitionRequest" \
		$VT "$MODEL" RegisterTaskDefinitionRequest "$T/cli-td.json"
	expect_grep "... with the console address taken from --address" '"value": "wss://127.0.0.1:8084"' "$T/cli-td.json"
	expect_grep "... after sending {consoleAddr, cluster}" \
		'"body": {"consoleAddr": "127.0.0.1", "cluster": ""}' "$T/requests.log"
	expect_grep "... with the bearer token" '"auth": "Bearer tok-123"' "$T/requests.log"
	expect 0 "... into a file of mode 0600" test "$(stat -c %a "$T/cli-td.json")" = 600

	expect 0 "export ecs --format cloudformation --cluster --task-name --console-addr" \
		"$CLI" defender export ecs --format cloudformation --cluster pc-ecs-cluster --task-name pc-defender \
		--console-addr console.example.com --address "$ADDR/" --user admin --cacert "$C/ca.pem" -o "$T/cli-cfn.json"
	expect 0 "... writes a valid CloudFormation template" $VC "$CFNSPEC" "$T/cli-cfn.json"
	expect_grep "... whose Cluster parameter defaults to the cluster" '"Default": "pc-ecs-cluster"' "$T/cli-cfn.json"
	expect_grep "... after sending taskName" \
		'"body": {"consoleAddr": "console.example.com", "cluster": "pc-ecs-cluster", "taskName": "pc-defender"}' \
		"$T/requests.log"

	expect 0 "export daemonset --namespace (CA from GARRISON_CACERT, to stdout)" \
		env GARRISON_CACERT="$C/ca.pem" "$CLI" defender export daemonset --namespace garrison --cluster k8s-prod \
		--address "$ADDR" --user admin
	cp "$T/out" "$T/cli-ds.yaml"
	expect 0 "... writes a valid DaemonSet manifest" $VK --require-refs "$K8SSCHEMA" "$T/cli-ds.yaml"
	expect_grep "... in the namespace asked for" "namespace: garrison" "$T/cli-ds.yaml"

	expect 1 "without the Console's CA the TLS check fails" \
		"$CLI" defender export ecs --address "$ADDR" --user admin
	expect_grep "... and the message says to use --cacert" "--cacert" "$T/out"
	expect 1 "a wrong password fails" \
		env GARRISON_PASSWORD=nope "$CLI" defender export ecs --address "$ADDR" --user admin --cacert "$C/ca.pem"
	expect_grep "... with the HTTP status and the server's text" "HTTP 401: invalid credentials" "$T/out"
	expect 1 "a refused request fails" \
		"$CLI" defender export ecs --cluster explode --address "$ADDR" --user admin --cacert "$C/ca.pem"
	expect_grep "... with the server's error text" "HTTP 400: cluster explode is not allowed" "$T/out"
	expect 1 "a bad token fails" "$CLI" defender list --address "$ADDR" --token wrong --cacert "$C/ca.pem"
	expect_grep "... with 401" "HTTP 401: missing or invalid token" "$T/out"

	: >"$T/requests.log"
	expect 0 "defender list (token from GARRISON_TOKEN)" \
		env GARRISON_TOKEN=tok-123 "$CLI" defender list --address "$ADDR" --cacert "$C/ca.pem"
	cp "$T/out" "$T/list.txt"
	expect 0 "... prints a header and all 130 Defenders over 3 pages" $PY -c 'import sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[0].split() == ["HOSTNAME", "CLUSTER", "CONNECTED", "TYPE", "VERSION"], lines[0]
assert len(lines) == 131, len(lines)
assert all("\x1b" not in l for l in lines)
assert "evil?[2Jhost?name" in lines[6], lines[6]' "$T/list.txt"
	expect 0 "... having asked for offsets 0, 50 and 100" \
		test "$(grep -c '"path": "/api/v1/defenders?limit=50&offset=' "$T/requests.log")" -eq 3
	expect 0 "defender list --cluster --connected --json" \
		env GARRISON_TOKEN=tok-123 "$CLI" defender list --cluster pc-ecs-cluster --connected --json \
		--address "$ADDR" --cacert "$C/ca.pem"
	cp "$T/out" "$T/list.json"
	expect 0 "... prints only the matching Defenders as JSON" $PY -c 'import json,sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 43 and all(r["cluster"] == "pc-ecs-cluster" and r["connected"] for r in rows), rows' "$T/list.json"
	expect 1 "an answer over the size cap is refused" \
		env GARRISON_TOKEN=tok-123 "$CLI" defender list --cluster huge --address "$ADDR" --cacert "$C/ca.pem"
	expect_grep "... with a clear message" "is larger than" "$T/out"
	if grep -q '"password": "pw"' "$T/requests.log"; then notok "the mock log must not hold the password"; fi
else
	notok "the mock Console did not start"
	cat "$T/mock.err"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
