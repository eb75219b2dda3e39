#!/bin/bash
# The Console's runtime-defense API (docs/api.md, "Runtime") without Defenders: default policies,
# PUT/POST of container and host policies (validated by the Defender's parsers: 400 with the
# parser's sentence), collection usages (a collection a rule uses cannot be deleted: 409), the
# audits, incidents and profiles lists (filters, paging, Total-Count; audits seeded into the
# database the way the hub stores them), relearn, acknowledge, and the Defenders list. Every
# answer is checked against Prisma's OpenAPI schemas. Ports: RT_API_PORT/RT_DEF_PORT.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/testlib.bash

BIN=${GARRISON_BIN_DIR:-$PWD/build/san/bin}
API_PORT=${RT_API_PORT:-28500}
DEF_PORT=${RT_DEF_PORT:-28501}
SPEC=tests/data/prisma-api/openapi-subset.json
T=$(mktemp -d /tmp/garrison-rtconsole.XXXXXX)
trap 't_cleanup; [ -n "${RT_KEEP:-}" ] || rm -rf "$T"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0

for tool in jq curl python3; do
	command -v $tool >/dev/null || { echo "skip: $tool is not installed"; echo "0 passed, 0 failed"; exit 0; }
done
python3 -c 'import jsonschema' 2>/dev/null || { echo "skip: python3-jsonschema is not installed"; echo "0 passed, 0 failed"; exit 0; }

GARRISON_ADMIN_PASSWORD=pw "$BIN/garrison-console" --data-dir "$T/console" \
	--api-addr "127.0.0.1:$API_PORT" --defender-addr "127.0.0.1:$DEF_PORT" --san 127.0.0.1 \
	>>"$T/console.log" 2>&1 &
T_PIDS+=("$!")
if ! wait_until 20 curl -sf --max-time 2 --cacert "$T/console/ca.pem" \
	"https://127.0.0.1:$API_PORT/api/v1/_ping" -o /dev/null; then
	not_ok "the Console starts"; tail -20 "$T/console.log"; t_done; exit 1
fi
api() { # METHOD PATH [BODY] -> body on stdout, status in $T/code, headers in $T/h
	local extra=()
	[ -n "${3:-}" ] && extra=(-H 'Content-Type: application/json' --data "$3")
	curl -sS --max-time 20 --cacert "$T/console/ca.pem" -u admin:pw -D "$T/h" -o "$T/body" \
		-w '%{http_code}' -X "$1" "${extra[@]}" "https://127.0.0.1:$API_PORT$2" >"$T/code"
	cat "$T/body"
}
code() { cat "$T/code"; }
total() { tr -d '\r' <"$T/h" | awk -F': ' 'tolower($1)=="total-count"{print $2}'; }
valid() { # SCHEMA FILE
	python3 tests/tools/validate_openapi.py "$SPEC" "$1" "$2" >"$T/val" 2>&1 || { cat "$T/val"; return 1; }
}

# ---- defaults
api GET /api/v1/policies/runtime/container >"$T/cp.json"
check "GET container policy: 200" [ "$(code)" = 200 ]
check "the default container rule alerts on everything" \
	[ "$(jq -r '.rules[0].name + "|" + .rules[0].collections[0].name + "|" + .rules[0].processes.cryptoMinersEffect' "$T/cp.json")" = \
	  "Default - alert on suspicious runtime behavior|All|alert" ]
check "the default container policy is a runtime.ContainerPolicy" valid runtime.ContainerPolicy "$T/cp.json"
api GET /api/v34.04/policies/runtime/host >"$T/hp.json"
check "GET host policy (versioned path): 200" [ "$(code)" = 200 ]
check "the default host rule" [ "$(jq -r '.rules[0].name + "|" + .rules[0].antiMalware.reverseShell' "$T/hp.json")" = \
	"Default - alert on suspicious runtime behavior|alert" ]
check "the default host policy is a runtime.HostPolicy" valid runtime.HostPolicy "$T/hp.json"

# ---- policies with collections
api POST /api/v1/collections '{"name":"prod","hosts":["prod-*"]}' >/dev/null
check "a collection prod" [ "$(code)" = 200 ]
api PUT /api/v1/policies/runtime/container '{"rules":[{"name":"block miners","collections":[{"name":"prod"}],
  "processes":{"cryptoMinersEffect":"block","deniedList":{"paths":["nc"],"effect":"prevent"}}}]}' >/dev/null
check "PUT container policy: 200" [ "$(code)" = 200 ]
api GET /api/v1/policies/runtime/container >"$T/cp2.json"
check "the stored rule with its full collection, owner and _id" \
	[ "$(jq -r '.rules[0].name + "|" + .rules[0].collections[0].hosts[0] + "|" + .rules[0].owner + "|" + ._id' "$T/cp2.json")" = \
	  "block miners|prod-*|admin|containerRuntime" ]
check "the rule's modified time is set" grep -qE '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T' <(jq -r '.rules[0].modified' "$T/cp2.json")
check "the stored policy is a runtime.ContainerPolicy" valid runtime.ContainerPolicy "$T/cp2.json"
api GET /api/v1/collections/prod/usages >"$T/u.json"
check "the rule is a usage of prod" [ "$(jq -r '.[0].type + " " + .[0].name' "$T/u.json")" = "policy runtime-container/block miners" ]
api DELETE /api/v1/collections/prod >"$T/del.json"
check "a used collection cannot be deleted (409)" [ "$(code)" = 409 ]
api PUT /api/v1/policies/runtime/container '{"rules":[{"name":"a","collections":[{"name":"nope"}]}]}' >"$T/e.json"
check "an unknown collection: 400 naming it" [ "$(code)|$(jq -r .err "$T/e.json")" = \
	"400|invalid runtime policy: rules[0].collections[0]: no collection named nope" ]
api PUT /api/v1/policies/runtime/container '{"rules":[{"name":"a","processes":{"bogus":1}}]}' >"$T/e.json"
check "an unknown member: 400 with the parser's sentence" [ "$(code)|$(jq -r .err "$T/e.json")" = \
	"400|invalid runtime policy: rules[0].processes: unknown member \"bogus\"" ]
api PUT /api/v1/policies/runtime/host '{"rules":[{"name":"h","network":{"deniedOutboundIPs":["x"]}}]}' >"$T/e.json"
check "a bad host policy: 400 in host terms" [ "$(code)|$(jq -r .err "$T/e.json")" = \
	"400|invalid runtime policy: rules[0].network.deniedOutboundIPs[0]: not an IP address or CIDR" ]
api PUT /api/v1/policies/runtime/host '{"_id":"hostRuntime","rules":[{"name":"hosts","collections":[{"name":"All"}],
  "antiMalware":{"deniedProcesses":{"paths":["nmap"],"effect":"alert"}},"fileIntegrityRules":[{"path":"/etc","write":true}]}]}' >/dev/null
check "PUT host policy: 200" [ "$(code)" = 200 ]
api POST /api/v1/policies/runtime/container '{"name":"first","processes":{"reverseShellEffect":"prevent"}}' >/dev/null
check "POST one rule: 200" [ "$(code)" = 200 ]
api GET /api/v1/policies/runtime/container >"$T/cp3.json"
check "the posted rule comes first" [ "$(jq -r '[.rules[].name]|join(",")' "$T/cp3.json")" = "first,block miners" ]
api PUT /api/v1/policies/runtime/container '{"rules":[{"name":"first"}]}' >/dev/null
api DELETE /api/v1/collections/prod >/dev/null
check "once no rule uses it, prod can be deleted" [ "$(code)" = 200 ]
check "the Console logged each revision" grep -q "runtime policy (1 rules, revision 4)" "$T/console.log"

# ---- audits (seeded as the hub stores them: one row per hostname + seq)
python3 - "$T/console/garrison.db" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
base = 1764000000 * 10**9
for i in range(1, 8):
    kind = "host" if i > 5 else "container"
    cid = "" if kind == "host" else ("c1" if i % 2 else "c2")
    at = "cryptoMinerProcess" if i == 3 else "unexpectedProcess"
    t = base + i * 10**9
    doc = {"time": "2025-11-24T16:00:%02d.000000000Z" % i, "type": "processes", "attackType": at,
           "effect": "alert", "severity": "low", "msg": "m%d" % i, "ruleName": "r", "hostname": "node-1",
           "cluster": "prod", "namespace": "", "containerId": cid,
           "containerName": cid and ("web" if cid == "c1" else "cache"),
           "imageName": cid and ("docker.io/library/nginx:latest" if cid == "c1" else "docker.io/library/redis:7"),
           "pid": 10 + i, "processPath": "/bin/sh",
           "user": "root", "count": 1, "container": kind == "container"}
    db.execute("INSERT INTO runtime_audits(hostname,seq,kind,time_ns,type,attack_type,effect,rule_name,"
               "cluster,namespace,container_id,container_name,image_name,process_path,user,doc)"
               " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               ("node-1", i, kind, t, "processes", at, "alert", "r", "prod", "", cid, doc["containerName"],
                doc["imageName"], "/bin/sh", "root", json.dumps(doc)))
db.commit()
PY
api GET /api/v1/audits/runtime/container >"$T/a.json"
check "container audits: 5, Total-Count 5" [ "$(code)|$(jq length "$T/a.json")|$(total)" = "200|5|5" ]
check "audits are shared.RuntimeAudit" valid -_shared.RuntimeAudit "$T/a.json"
api GET "/api/v1/audits/runtime/container?containerID=c1&limit=2&offset=1&reverse=true" >"$T/a.json"
check "filter, paging, reverse" [ "$(jq -r '[.[].msg]|join(",")' "$T/a.json")|$(total)" = "m3,m1|3" ]
api GET "/api/v1/audits/runtime/container?attackType=cryptoMinerProcess,dnsQuery" >"$T/a.json"
check "a list of values" [ "$(jq -r '.[0].msg' "$T/a.json")|$(total)" = "m3|1" ]
api GET "/api/v1/audits/runtime/container?from=2025-11-24T16:00:02Z&to=2025-11-24T16:00:04.5Z" >"$T/a.json"
check "from/to" [ "$(jq -r '[.[].msg]|join(",")' "$T/a.json")" = "m2,m3,m4" ]
id=$(jq -r '.[0]._id' "$T/a.json")
api GET "/api/v1/audits/runtime/container?id=$id" >"$T/a.json"
check "by _id" [ "$(jq -r '.[0].msg' "$T/a.json")|$(total)" = "m2|1" ]
api GET /api/v1/audits/runtime/host >"$T/a.json"
check "host audits" [ "$(jq -r '[.[].msg]|join(",")' "$T/a.json")|$(total)" = "m6,m7|2" ]
api GET "/api/v1/audits/runtime/container?from=yesterday" >/dev/null
check "a bad time: 400" [ "$(code)" = 400 ]
api GET "/api/v1/audits/runtime/container?sort=containerName" >"$T/a.json"
check "sort=containerName (cache before web), then time" [ "$(jq -r '[.[].msg]|join(",")' "$T/a.json")" = "m2,m4,m1,m3,m5" ]
api GET "/api/v1/audits/runtime/container?sort=containerName&reverse=true&limit=2" >"$T/a.json"
check "sort with reverse and a page" [ "$(jq -r '[.[].msg]|join(",")' "$T/a.json")|$(total)" = "m5,m3|5" ]
api GET "/api/v1/audits/runtime/container?sort=time" >"$T/a.json"
check "sort=time is the default order" [ "$(jq -r '[.[].msg]|join(",")' "$T/a.json")" = "m1,m2,m3,m4,m5" ]
api GET "/api/v1/audits/runtime/container?sort=a..b" >/dev/null
check "a bad sort: 400" [ "$(code)" = 400 ]
api POST /api/v1/collections '{"name":"nginx","images":["docker.io/library/nginx*"]}' >/dev/null
api POST /api/v1/collections '{"name":"caches","containers":["cache"]}' >/dev/null
api POST /api/v1/collections '{"name":"nodes","hosts":["node-*"]}' >/dev/null
api GET "/api/v1/audits/runtime/container?collections=nginx" >"$T/a.json"
check "collections=nginx: c1's audits (image pattern)" [ "$(jq -r '[.[].msg]|join(",")' "$T/a.json")|$(total)" = "m1,m3,m5|3" ]
api GET "/api/v1/audits/runtime/container?collections=nginx&limit=1&offset=1&reverse=true" >"$T/a.json"
check "a collection filter pages after filtering" [ "$(jq -r '[.[].msg]|join(",")' "$T/a.json")|$(total)" = "m3|3" ]
api GET "/api/v1/audits/runtime/container?collections=caches&attackType=unexpectedProcess" >"$T/a.json"
check "collections=caches (container name) with another filter" [ "$(jq -r '[.[].msg]|join(",")' "$T/a.json")|$(total)" = "m2,m4|2" ]
api GET "/api/v1/audits/runtime/container?collections=nginx,caches" >/dev/null
check "two collections: either" [ "$(total)" = 5 ]
api GET "/api/v1/audits/runtime/host?collections=nginx" >/dev/null
check "host audits are not in an image collection" [ "$(code)|$(total)" = "200|0" ]
api GET "/api/v1/audits/runtime/host?collections=nodes" >/dev/null
check "host audits in a hosts collection" [ "$(total)" = 2 ]
api GET "/api/v1/audits/runtime/container?collections=nope" >/dev/null
check "an unknown collection: 400" [ "$(code)" = 400 ]

# ---- incidents, profiles, relearn
api GET /api/v1/audits/incidents >"$T/i.json"
check "incidents: a list with Total-Count" [ "$(code)|$(jq length "$T/i.json")|$(total)" = "200|0|0" ]
api PATCH /api/v1/audits/incidents/acknowledge/999 '{"acknowledged":true}' >/dev/null
check "acknowledge an unknown incident: 404" [ "$(code)" = 404 ]
api GET "/api/v1/profiles/container?state=active" >"$T/p.json"
check "profiles: a list with Total-Count" [ "$(code)|$(jq length "$T/p.json")|$(total)" = "200|0|0" ]
check "profiles are shared.ContainerRuntimeProfile" valid -_shared.ContainerRuntimeProfile "$T/p.json"
# the same model on two Defenders (seeded as the hub stores them): one profile, as Prisma lists it
python3 - "$T/console/garrison.db" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
def prof(host, state, created, procs, dns):
    return {"_id": "pm", "image": "nginx:1", "namespace": "", "cluster": "prod", "state": state,
            "created": created, "processes": {"static": [{"path": p} for p in procs]},
            "network": {"behavioral": {"listeningPorts": [{"app": "*", "portsData": {"ports": [{"port": 80, "protocol": "tcp"}]}}],
                                       "outboundPorts": {"ports": []}, "dnsQueries": [{"domainName": d} for d in dns]}},
            "filesystem": {"behavioral": []}, "learnedOverflow": 1}
for host, state, created, procs, dns in (("node-a", "active", "2026-11-27T08:00:00Z", ["/usr/sbin/nginx", "/bin/sh"], ["a.example"]),
                                         ("node-b", "learning", "2026-11-27T07:00:00Z", ["/usr/sbin/nginx", "/usr/bin/curl"], [])):
    db.execute("INSERT INTO runtime_profiles(hostname,id,image,namespace,cluster,state,doc,updated) VALUES(?,?,?,?,?,?,?,0)",
               (host, "pm", "nginx:1", "", "prod", state, json.dumps(prof(host, state, created, procs, dns))))
db.commit()
PY
api GET "/api/v1/profiles/container?id=pm" >"$T/p.json"
check "one profile for a model two Defenders learned" [ "$(jq length "$T/p.json")|$(total)" = "1|1" ]
check "  its lists united, the least advanced state, the earliest creation, both hosts" \
	[ "$(jq -r '.[0] | "\([.processes.static[].path]|join(",")) \([.network.behavioral.dnsQueries[].domainName]|join(",")) \(.network.behavioral.listeningPorts[0].portsData.ports|length) \(.state) \(.created) \(.hostnames|join(",")) \(.hostname) \(.learnedOverflow)"' "$T/p.json")" = \
	  "/usr/sbin/nginx,/bin/sh,/usr/bin/curl a.example 1 learning 2026-11-27T07:00:00Z node-a,node-b null 2" ]
api GET "/api/v1/profiles/container?id=pm&hostName=node-a" >"$T/p.json"
check "  filtered by host: that host's model, with its hostname" \
	[ "$(jq -r '.[0] | "\(.state) \(.hostname)"' "$T/p.json")|$(total)" = "active node-a|1" ]
# CSV download (Prisma's /profiles/container/download): the same merged profiles, one row each;
# a cell a spreadsheet would run as a formula is defused with a leading quote.
python3 - "$T/console/garrison.db" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
doc = {"_id": "pz", "image": "evil:1", "namespace": "ns", "cluster": "prod", "state": "active",
       "created": "2026-11-27T09:00:00Z", "processes": {"static": [{"path": '=HYPERLINK("http://x","y")'}]},
       "network": {"behavioral": {"listeningPorts": [{"app": "*", "portsData": {"ports": []}}],
                                  "outboundPorts": {"ports": [{"port": 443, "protocol": "tcp"}]}, "dnsQueries": []}},
       "filesystem": {"behavioral": [{"path": "/tmp/a,b"}]}, "learnedOverflow": 0}
db.execute("INSERT INTO runtime_profiles(hostname,id,image,namespace,cluster,state,doc,updated) VALUES(?,?,?,?,?,?,?,0)",
           ("node-c", "pz", "evil:1", "ns", "prod", "active", json.dumps(doc)))
db.commit()
PY
api GET "/api/v1/profiles/container/download?cluster=prod" >"$T/p.csv"
check "profiles download: 200, text/csv, an attachment, Total-Count 2" \
	[ "$(code)|$(tr -d '\r' <"$T/h" | awk -F': ' 'tolower($1)=="content-type"{print $2}')|$(grep -ci '^content-disposition: attachment' "$T/h")|$(total)" = "200|text/csv; charset=utf-8|1|2" ]
check "  a header and one row per profile, as the list has them (RFC 4180)" python3 - "$T/p.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
assert rows[0] == ["Id", "Image", "Namespace", "Cluster", "State", "Created", "Hosts", "Processes",
                   "Listening ports", "Outbound ports", "DNS queries", "File paths", "Learned overflow"], rows[0]
assert len(rows) == 3, rows
pm, pz = rows[1], rows[2]
assert pm == ["pm", "nginx:1", "", "prod", "learning", "2026-11-27T07:00:00Z", "node-a; node-b",
              "/usr/sbin/nginx; /bin/sh; /usr/bin/curl", "tcp/80", "", "a.example", "", "2"], pm
assert pz[7] == "'" + '=HYPERLINK("http://x","y")', pz[7]
assert pz[9] == "tcp/443" and pz[11] == "/tmp/a,b", pz
PY
api POST /api/v1/profiles/container/learn >/dev/null
check "relearn all: 200" [ "$(code)" = 200 ]
api POST /api/v1/profiles/container/nope/learn >/dev/null
check "relearn an unknown profile: 404" [ "$(code)" = 404 ]
api GET /api/v1/defenders >"$T/d.json"
check "the Defenders list still answers" [ "$(code)|$(jq length "$T/d.json")" = "200|0" ]

# ---- the Defender channel: a scripted Defender (tests/tools/rt_peer) sends runtime messages
TOOLS=${GARRISON_TOOLS_DIR:-$(dirname "$BIN")/tools}
BUNDLE=$(api GET "/api/v1/defenders/install-bundle?consoleaddr=127.0.0.1" | jq -r .installBundle)
api POST /api/v1/collections '{"name":"edge","hosts":["edge-1-*"]}' >/dev/null
NOW=$(( $(date +%s) * 1000000000 ))
rec() { # SEQ KIND ATTACK CONTAINER
	jq -cn --argjson seq "$1" --arg kind "$2" --arg at "$3" --arg cid "$4" --argjson t "$((NOW + $1 * 1000000000))" \
		'{seq:$seq, kind:$kind, timeNs:$t, type:"processes", attackType:$at, effect:"alert",
		  severity:"high", msg:("m" + ($seq|tostring)), ruleName:"r", hostname:"forged", cluster:"test",
		  containerId:$cid, containerName:(if $cid == "" then "" else "web" end),
		  imageName:(if $cid == "" then "" else "busybox:1" end), pid:42, processPath:"/bin/sh",
		  user:"root", count:1, command:"sh -i", port:4444}'
}
{
	echo '{"type":"runtime-status","sensor":{"events":10},"policy":{"revision":1,"rules":1,"source":"console","error":""},"spool":{"nextSeq":4,"acked":0,"dropped":0}}'
	echo "{\"type\":\"runtime-audits\",\"records\":[$(rec 1 container reverseShell c9),$(rec 2 container reverseShell c9),$(rec 3 host cryptoMinerProcess '')]}"
	echo "{\"type\":\"runtime-audits\",\"records\":[$(rec 2 container reverseShell c9),$(rec 3 host cryptoMinerProcess '')]}"
	echo "{\"type\":\"runtime-audits\",\"records\":[$(rec 4 container reverseShell c9 | jq -c '.kind="pod"')]}"
	echo '{"type":"runtime-audits","records":"nope"}'
	echo '{"type":"runtime-profiles","profiles":[{"_id":"p1","image":"busybox:1","namespace":"","cluster":"test","state":"learning","created":"2026-11-27T09:00:00Z"}]}'
} >"$T/send.jsonl"
INSTALL_BUNDLE=$BUNDLE "$TOOLS/rt_peer" "127.0.0.1:$DEF_PORT" rt-peer-1 4 "$T/send.jsonl" >"$T/peer.out" 2>"$T/peer.err" &
PEER=$!
wait_until 5 grep -q runtime-audits-ack "$T/peer.out"
sleep 1
api PUT /api/v1/policies/runtime/container '{"rules":[{"name":"after"}]}' >/dev/null
check "PUT while a Defender is connected: 200" [ "$(code)" = 200 ]
api POST /api/v1/profiles/container/p1/learn >/dev/null
check "relearn the Defender's profile: 200" [ "$(code)" = 200 ]
api PUT /api/v1/policies/runtime/host '{"rules":[{"name":"edge hosts","collections":[{"name":"edge"}]}]}' >/dev/null
check "a host policy scoped by collection edge: 200" [ "$(code)" = 200 ]
api PUT /api/v1/collections/edge '{"name":"edge","hosts":["edge-2-*"]}' >/dev/null
check "edit collection edge: 200" [ "$(code)" = 200 ]
wait "$PEER"
check "the scripted Defender was welcomed" [ $? -eq 0 ]
jq -c 'select(.type != "heartbeat-ack")' "$T/peer.out" >"$T/peer.msgs" 2>/dev/null
check "welcome is followed by the runtime policy (revision 4, both kinds)" \
	[ "$(sed -n 3,4p "$T/peer.msgs" | jq -r 'select(.type=="runtime-policy") | "\(.revision) \(.container.rules[0].name) \(.host.rules[0].name)"')" = "4 first hosts" ]
check "each stored batch is acknowledged up to its highest seq, malformed ones are not" \
	[ "$(jq -r 'select(.type=="runtime-audits-ack") | .seq' "$T/peer.msgs" | tr '\n' ' ')" = "3 3 " ]
check "a changed policy is pushed to the live Defender" \
	[ "$(jq -r 'select(.type=="runtime-policy" and .revision == 5) | .container.rules[0].name' "$T/peer.msgs")" = "after" ]
check "an edited collection re-pushes the policy that uses it, with its new content (revision 7)" \
	[ "$(jq -r 'select(.type=="runtime-policy") | "\(.revision) \(.host.rules[0].collections[0].hosts[0])"' "$T/peer.msgs" | tail -1)" = "7 edge-2-*" ]
check "the relearn request reaches it" \
	[ "$(jq -c 'select(.type=="runtime-relearn") | .profiles' "$T/peer.msgs")" = '["p1"]' ]
check "the Console logged the malformed batches" grep -q "rt-peer-1 sent runtime-audits that were not stored: records\[0\].kind" "$T/console.log"
api GET "/api/v1/audits/runtime/container?hostname=rt-peer-1" >"$T/a.json"
check "the Defender's container audits, stored once" [ "$(jq -r '[.[].msg]|join(",")' "$T/a.json")|$(total)" = "m1,m2|2" ]
check "the hostname comes from the certificate, extras are kept" \
	[ "$(jq -r '.[0] | "\(.hostname) \(.command) \(.port) \(.containerId) \(.container)"' "$T/a.json")" = "rt-peer-1 sh -i 4444 c9 true" ]
check "they are shared.RuntimeAudit" valid -_shared.RuntimeAudit "$T/a.json"
api GET "/api/v1/audits/runtime/host?hostname=rt-peer-1" >"$T/a.json"
check "the host audit" [ "$(jq -r '.[0] | "\(.msg) \(.containerId) \(.container)"' "$T/a.json")|$(total)" = "m3  false|1" ]
api GET "/api/v1/audits/incidents?hostname=rt-peer-1" >"$T/i.json"
check "two incidents: a reverse shell in c9 (2 audits), a miner on the host" \
	[ "$(jq -r '[.[] | "\(.type)/\(.category)/\(.containerID)/\(.audits|length)"] | join(",")' "$T/i.json")|$(total)" = \
	  "container/reverseShell/c9/2,host/cryptoMiner//1|2" ]
check "incidents are shared.Incident" valid -_shared.Incident "$T/i.json"
iid=$(jq -r '.[0]._id' "$T/i.json")
api PATCH "/api/v1/audits/incidents/acknowledge/$iid" '{"acknowledged":true}' >/dev/null
check "acknowledge: 200" [ "$(code)" = 200 ]
api GET "/api/v1/audits/incidents?acknowledged=true" >"$T/i.json"
check "the acknowledged incident" [ "$(jq -r '.[0]._id' "$T/i.json")|$(total)" = "$iid|1" ]
api GET "/api/v1/audits/incidents?category=cryptoMiner&type=host" >/dev/null
check "incident filters" [ "$(total)" = 1 ]
api GET "/api/v1/profiles/container?hostName=rt-peer-1" >"$T/p.json"
check "the Defender's profile, with its hostname" [ "$(jq -r '.[0] | "\(._id) \(.hostname) \(.state)"' "$T/p.json")|$(total)" = "p1 rt-peer-1 learning|1" ]
check "profiles are shared.ContainerRuntimeProfile" valid -_shared.ContainerRuntimeProfile "$T/p.json"
api GET "/api/v1/defenders?hostname=rt-peer-1" >"$T/d.json"
check "the Defender's runtime status and status.runtime.enabled" \
	[ "$(jq -r '.[0] | "\(.runtime.policy.source) \(.runtime.sensor.events) \(.status.runtime.enabled)"' "$T/d.json")" = "console 10 true" ]
check "Defenders are defender.Defender" valid -_defender.Defender "$T/d.json"
check "the Console is still running" kill -0 "${T_PIDS[0]}"

# ---- retention: a Console restarted with GARRISON_AUDIT_MAX=1 keeps the newest audit of each kind
api GET "/api/v1/audits/runtime/container?limit=1" >/dev/null
before=$(total)
kill "${T_PIDS[0]}"
wait "${T_PIDS[0]}" 2>/dev/null || true
GARRISON_AUDIT_MAX=1 GARRISON_ADMIN_PASSWORD=pw "$BIN/garrison-console" --data-dir "$T/console" \
	--api-addr "127.0.0.1:$API_PORT" --defender-addr "127.0.0.1:$DEF_PORT" --san 127.0.0.1 \
	>>"$T/console.log" 2>&1 &
T_PIDS[0]=$!
wait_until 20 curl -sf --max-time 2 --cacert "$T/console/ca.pem" "https://127.0.0.1:$API_PORT/api/v1/_ping" -o /dev/null
api GET "/api/v1/audits/runtime/container" >/dev/null
check "retention: $before container audits before, 1 after a restart with GARRISON_AUDIT_MAX=1" \
	test "$before" -gt 1 -a "$(total)" = 1
api GET "/api/v1/audits/runtime/host" >/dev/null
check "retention: 1 host audit" [ "$(total)" = 1 ]
check "retention: the Console says what it deleted" grep -q "retention deleted [0-9]* audits" "$T/console.log"
t_done
