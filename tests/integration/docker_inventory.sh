#!/bin/bash
# The Docker inventory against a real, private Docker engine (needs root and Debian's docker.io and
# busybox-static). tests/tools/dockerd-harness.sh starts a dockerd of its own (own socket,
# data-root, exec-root, --iptables=false, --bridge=none); this test runs containers like the ones a
# Defender meets (ECS task labels, Kubernetes labels, a privileged one, a host-network one that
# listens on TCP, one that listens on UDP, and one of a real Debian 12 image), runs
# tests/tools/inventory_dump against the engine's socket and checks, field by field, what the
# inventory emits: the snapshot, a container that starts, stops and goes away (each within 5 s), a
# resync, and an engine restart (docker-status unreachable, then ok, then a full snapshot without
# stale containers). Everything is removed on exit, whatever happens.
#
# The Debian image is the cached debootstrap minbase tarball of tests/tools/debian-rootfs.sh
# (built on first use, about a minute; its Debian checks are skipped, saying why, when it cannot
# be had), imported as test/debian:12. GARRISON_INV_TEST_PORT sets the host TCP port the
# host-network container listens on (default: one derived from this shell's pid).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/testlib.bash

TOOLS=${GARRISON_TOOLS_DIR:-$PWD/build/san/tools}
HARNESS=$PWD/tests/tools/dockerd-harness.sh
NODE_CLUSTER=node-cluster-int
PORT=${GARRISON_INV_TEST_PORT:-$(( 20000 + $$ % 20000 ))}

if ! command -v dockerd >/dev/null && [ ! -x /usr/sbin/dockerd ]; then
	echo "docker_inventory: skipped: dockerd is not installed (apt-get install -y docker.io busybox-static)"
	t_done
	exit 0
fi
if [ ! -x "$TOOLS/inventory_dump" ]; then
	not_ok "inventory_dump is built ($TOOLS/inventory_dump)"
	t_done
	exit 1
fi

D=$(mktemp -d -p "${TMPDIR:-/tmp}" gdi.XXXXXX)
OUT=$D/out.jsonl
DUMP_PID=
cleanup() {
	[ -n "$DUMP_PID" ] && kill "$DUMP_PID" 2>/dev/null
	t_cleanup
	"$HARNESS" stop "$D" >/dev/null 2>&1
	rm -rf "$D"
}
trap cleanup EXIT

dk() { "$HARNESS" docker "$D" "$@"; }
# The complete lines written so far (the dump may be in the middle of one).
lines() { head -n "$(wc -l <"$OUT")" "$OUT"; }
count_lines() { wc -l <"$OUT"; }
# The messages after line N (1-based, exclusive) as JSON lines.
after() { lines | tail -n +"$(( $1 + 1 ))"; }
now_ms() { date +%s%3N; }

# ---- the engine and its containers ------------------------------------------------------------
if ! "$HARNESS" start "$D" >"$D/harness.log" 2>&1; then
	cat "$D/harness.log"
	not_ok "start a private dockerd"
	t_done
	exit 1
fi
ok "start a private dockerd with test/busybox:1"
echo "# $SECONDS s: the engine is up"
ENGINE_VERSION=$(curl -s --unix-socket "$D/docker.sock" http://docker/version | jq -r .Version)

mkdir -p "$D/hostdir"
run() { dk run -d --stop-timeout 1 "$@" >/dev/null; }
check "run the containers" run --name gi-ecs \
	--label com.amazonaws.ecs.cluster=ecs-prod \
	--label com.amazonaws.ecs.container-name=app \
	--label com.amazonaws.ecs.task-arn=arn:aws:ecs:us-east-1:123456789012:task/ecs-prod/0123456789abcdef0123456789abcdef \
	--label com.amazonaws.ecs.task-definition-family=app \
	--label com.amazonaws.ecs.task-definition-version=7 \
	test/busybox:1 sleep 600
run --name gi-k8s --label io.kubernetes.pod.namespace=team-a --label io.kubernetes.pod.name=web-0 \
	--label io.kubernetes.container.name=web test/busybox:1 sleep 600
# As a user: root on the test machines lacks CAP_SYS_RESOURCE, so runc cannot give a privileged
# container running as root every capability ("unable to apply caps").
run --name gi-priv --privileged --user 65534:65534 --cap-add NET_ADMIN -v "$D/hostdir:/data:ro" \
	test/busybox:1 sleep 600
run --name gi-hostnet --network host test/busybox:1 nc -l -p "$PORT"
# UDP: busybox's DHCP server on the container's own loopback, bound to 0.0.0.0:67 and not
# connected (Debian's busybox-static has neither `nc -u` nor udpsvd).
run --name gi-udp test/busybox:1 sh -c 'printf "interface lo\nstart 127.0.0.2\nend 127.0.0.9\nlease_file /tmp/leases\n" >/tmp/u.conf; exec udhcpd -f /tmp/u.conf'
NAMES="gi-ecs,gi-hostnet,gi-k8s,gi-priv,gi-udp"

# A real Debian 12 image from the cached debootstrap tarball, with a CMD of its own.
DEBIAN=0
if TARBALL=$(tests/tools/debian-rootfs.sh 2>"$D/debian-rootfs.log"); then
	t0=$SECONDS
	if dk import -c 'CMD ["sleep", "infinity"]' "$TARBALL" test/debian:12 >/dev/null 2>"$D/import.log"; then
		ok "import the Debian 12 root file system as test/debian:12 ($((SECONDS - t0)) s)"
		run --name gi-debian test/debian:12
		DEBIAN=1
		NAMES="gi-debian,$NAMES"
	else
		cat "$D/import.log"
		not_ok "import the Debian 12 root file system as test/debian:12"
	fi
else
	echo "# skip: the Debian checks: no Debian root file system ($(tail -n 1 "$D/debian-rootfs.log"))"
fi
NCONT=$(tr ',' '\n' <<<"$NAMES" | wc -l)
echo "# $SECONDS s: $NCONT containers started"

PORT_HEX=$(printf '%04X' "$PORT")
listening() { grep -qE "^ *[0-9]+: [0-9A-F]+:$PORT_HEX [0-9A-F]+:0000 0A" /proc/net/tcp /proc/net/tcp6; }
check "the host-network container listens on $PORT" wait_until 10 listening
udp_bound() { # the DHCP server's socket in its container's network namespace
	local pid
	pid=$(dk inspect -f '{{.State.Pid}}' gi-udp 2>/dev/null)
	[ -n "$pid" ] && [ "$pid" != 0 ] && grep -qE '^ *[0-9]+: 00000000:0043 00000000:0000 07' "/proc/$pid/net/udp"
}
check "the UDP container has bound 0.0.0.0:67" wait_until 10 udp_bound
check "$NCONT containers run" test "$(dk ps -q | wc -l)" = "$NCONT"

# ---- the inventory ----------------------------------------------------------------------------
"$TOOLS/inventory_dump" --docker "unix://$D/docker.sock" --node-cluster "$NODE_CLUSTER" \
	>"$OUT" 2>"$D/dump.log" &
DUMP_PID=$!
T_PIDS+=("$DUMP_PID")

has_snapshot() { lines | jq -e -s 'map(select(.type == "inventory")) | length > 0' >/dev/null 2>&1; }
check "a full snapshot is emitted" wait_until 15 has_snapshot
SNAP=$(lines | jq -c 'select(.type == "inventory")' | head -n 1)
snap() { jq -r "$1" <<<"$SNAP"; }
c() { # NAME JQ: a field of a container in the first snapshot
	jq -r --arg n "$1" ".containers[] | select(.name == \$n) | $2" <<<"$SNAP"
}
check "docker-status ok comes first" test "$(lines | head -n 1 | jq -r '.type + " " + .docker')" = "docker-status ok"
check "docker-status names the engine version" test "$(lines | head -n 1 | jq -r .engineVersion)" = "$ENGINE_VERSION"
check "the snapshot is one part" test "$(snap '.part, .parts' | tr '\n' ' ')" = "1 1 "
check "the snapshot holds the $NCONT containers once each" \
	test "$(snap '[.containers[].name] | sort | join(",")')" = "$NAMES"
check "snapshot docker status ok" test "$(snap .docker.docker)" = ok
check "host: hostname" test "$(snap .host.hostname)" = "$(hostname)"
check "host: distro and kernel" test "$(snap '.host.osDistro + " " + .host.kernelVersion')" = \
	"$(. /etc/os-release; echo "$ID") $(uname -r)"
check "host: cpu, memory and disk" test "$(snap '[.host.cpuCount, .host.memoryGB, .host.totalDiskSpaceGB] | map(. > 0) | all')" = true
check "host: container count" test "$(snap '.host.containerCount, .host.runningContainerCount' | tr '\n' ' ')" = "$NCONT $NCONT "
check "image test/busybox:1 with os and architecture" \
	test "$(snap '.images[] | select(.repoTags | index("test/busybox:1")) | .os + "/" + .architecture')" = "linux/amd64"
check "privileged: true" test "$(c gi-priv .privileged)" = true
check "privileged: NET_ADMIN added" test "$(c gi-priv '.capAdd | index("NET_ADMIN") != null')" = true
check "privileged: the read-only bind mount" \
	test "$(c gi-priv '.mounts[] | select(.destination == "/data") | "\(.type) \(.source) \(.rw)"')" = "bind $D/hostdir false"
check "unprivileged: false" test "$(c gi-ecs .privileged)" = false
check "host network: networkMode host" test "$(c gi-hostnet '.networkMode + " " + (.hostNetwork | tostring)')" = "host true"
check "host network: the listening port" \
	test "$(c gi-hostnet ".network.ports[] | select(.container == $PORT) | .listening")" = true
check "host network: only its own port" test "$(c gi-hostnet '.network.ports | length')" = 1
check "bridge-less container: networkMode default" test "$(c gi-ecs .networkMode)" = default
check "ECS: the label's cluster overrides the node's" test "$(c gi-ecs '.cluster + " " + .clusterSource')" = "ecs-prod ecs-label"
check "ECS: task" test "$(c gi-ecs '.ecs.taskArn + " " + .ecs.taskDefinitionFamily + ":" + .ecs.taskDefinitionVersion')" = \
	"arn:aws:ecs:us-east-1:123456789012:task/ecs-prod/0123456789abcdef0123456789abcdef app:7"
check "Kubernetes: namespace and pod" test "$(c gi-k8s '.namespace + " " + .pod')" = "team-a web-0"
check "Kubernetes: the node's cluster" test "$(c gi-k8s '.cluster + " " + .clusterSource')" = "$NODE_CLUSTER node"
check "processes: sleep in gi-ecs" test "$(c gi-ecs '.processes[0].name + " " + .processes[0].cmdline')" = "sleep sleep 600"
check "processes: nc in gi-hostnet" test "$(c gi-hostnet '.processes[0].name')" = nc
check "labels as key:value" test "$(c gi-k8s '.labels | index("io.kubernetes.pod.name:web-0") != null')" = true
check "state and start time" test "$(c gi-priv '.state + " " + (.startTime | length > 0 | tostring)')" = "running true"
check "image and imageID" test "$(c gi-priv '.image + " " + (.imageID | startswith("sha256:") | tostring)')" = "test/busybox:1 true"
# processes come from /proc (the container's cgroup), as `ps -ef` through top would show them
check "processes: only the container's own" test "$(c gi-ecs '.processes | length')" = 1
check "processes: pid, ppid and user" \
	test "$(c gi-ecs '.processes[0] | "\(.pid) \(.ppid > 0) \(.user)"')" = "$(c gi-ecs .pid) true root"
check "processes: a user from the host's passwd" test "$(c gi-priv '.processes[0].user')" = nobody
check "processes: udhcpd in gi-udp" test "$(c gi-udp '.processes[0].name + " " + .processes[0].cmdline')" = "udhcpd udhcpd -f /tmp/u.conf"
check "UDP: the bound port, listening and not published" \
	test "$(c gi-udp '.network.ports[] | select(.container == 67) | "\(.protocol) \(.listening) \(.nat) \(.host // "-")"')" = "udp true false -"
check "UDP: only its own port" test "$(c gi-udp '.network.ports | length')" = 1
check "TCP: the host-network port says tcp" \
	test "$(c gi-hostnet ".network.ports[] | select(.container == $PORT) | .protocol")" = tcp

if [ "$DEBIAN" = 1 ]; then
	read -r DEB_ID DEB_SIZE DEB_OS DEB_ARCH < <(dk image inspect -f '{{.Id}} {{.Size}} {{.Os}} {{.Architecture}}' test/debian:12)
	read -r DEB_CID DEB_PID < <(dk inspect -f '{{.Id}} {{.State.Pid}}' gi-debian)
	deb_img() { jq -r --arg id "$DEB_ID" ".images[] | select(.id == \$id) | $1" <<<"$SNAP"; }
	check "Debian image: its tag" test "$(deb_img '.repoTags | join(",")')" = "test/debian:12"
	check "Debian image: os and architecture" test "$(deb_img '.os + "/" + .architecture')" = "linux/$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')"
	check "Debian image: os and architecture as the engine says" test "$(deb_img '.os + "/" + .architecture')" = "$DEB_OS/$DEB_ARCH"
	check "Debian image: no variant on amd64" test "$(deb_img '.variant // "none"')" = none
	check "Debian image: size as the engine says" test "$(deb_img .sizeBytes)" = "$DEB_SIZE"
	check "Debian image: creation time" test "$(deb_img '.created | test("^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T")')" = true
	check "Debian image: no digests (imported, not pulled)" test "$(deb_img '.repoDigests | length')" = 0
	check "Debian container: image, imageName and imageID" \
		test "$(c gi-debian '.image + " " + .imageName + " " + .imageID')" = "test/debian:12 test/debian:12 $DEB_ID"
	check "Debian container: state, pid and start time" \
		test "$(c gi-debian '"\(.state) \(.pid) \(.startTime | length > 0)"')" = "running $DEB_PID true"
	check "Debian container: the image's CMD runs (coreutils sleep)" \
		test "$(c gi-debian '.processes | map(.name + " " + .cmdline + " " + .user) | join(",")')" = "sleep sleep infinity root"
	check "Debian container: user, privileges, modes" \
		test "$(c gi-debian '"\(.user)|\(.privileged)|\(.readonlyRootfs)|\(.networkMode)|\(.hostNetwork)|\(.pidMode)|\(.hostPid)"')" = "|false|false|default|false||false"
	check "Debian container: no labels, mounts, ports or capabilities" \
		test "$(c gi-debian '[.labels, .mounts, .network.ports, .capAdd, .capDrop] | map(length) | join(",")')" = "0,0,0,0,0"
	check "Debian container: the node's cluster, not infra" \
		test "$(c gi-debian '.cluster + " " + .clusterSource + " " + (.infra | tostring)')" = "$NODE_CLUSTER node false"
	check "Debian container: name and id" \
		test "$(c gi-debian '.name + " " + .id')" = "gi-debian $DEB_CID"
fi

# ---- changes reach the emitter within 5 s -----------------------------------------------------
echo "# $SECONDS s: the snapshot is checked"
# wait_msg SECONDS FROM JQ_FILTER: a message after line FROM matching the filter, in time
wait_msg() {
	local limit=$1 from=$2 filter=$3 end
	end=$(( $(now_ms) + limit * 1000 ))
	while [ "$(now_ms)" -le "$end" ]; do
		after "$from" | jq -e -s "map(select($filter)) | length > 0" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
N=$(count_lines)
NEW_ID=$(dk run -d --stop-timeout 1 --name gi-new --label tier=test test/busybox:1 sleep 600)
check "a started container arrives within 5 s" \
	wait_msg 5 "$N" ".type == \"container\" and .container.id == \"$NEW_ID\" and .container.state == \"running\""
N=$(count_lines)
dk stop -t 1 gi-new >/dev/null
check "a stopped container arrives within 5 s" \
	wait_msg 5 "$N" ".type == \"container\" and .container.id == \"$NEW_ID\" and .container.state == \"exited\""
N=$(count_lines)
dk rm gi-new >/dev/null
check "a removed container arrives within 5 s" \
	wait_msg 5 "$N" ".type == \"container-removed\" and .id == \"$NEW_ID\""
N=$(count_lines)
dk tag test/busybox:1 test/busybox:extra
check "a new tag arrives as an image message" \
	wait_msg 5 "$N" '.type == "image" and (.image.repoTags | index("test/busybox:extra") != null)'

# ---- resync -------------------------------------------------------------------------------------
N=$(count_lines)
kill -USR1 "$DUMP_PID"
check "a resync emits a full snapshot" wait_msg 5 "$N" '.type == "inventory"'
RESYNC=$(after "$N" | jq -c 'select(.type == "inventory")' | head -n 1)
check "the resync snapshot has no stale container" \
	test "$(jq -r '[.containers[].name] | sort | join(",")' <<<"$RESYNC")" = "$NAMES"

# ---- the engine restarts ----------------------------------------------------------------------
echo "# $SECONDS s: changes and resync are checked"
N=$(count_lines)
"$HARNESS" restart "$D" >>"$D/harness.log" 2>&1 &
RESTART_PID=$!
check "docker-status unreachable while the engine is down" \
	wait_msg 30 "$N" '.type == "docker-status" and .docker == "unreachable"'
wait "$RESTART_PID"
check "the engine is back" test $? = 0
check "docker-status ok when it is back" wait_msg 30 "$N" '.type == "docker-status" and .docker == "ok"'
OKLINE=$(after "$N" | grep -n '"type":"docker-status","docker":"ok"' | head -n 1 | cut -d: -f1)
check "a full snapshot follows" wait_msg 10 "$(( N + ${OKLINE:-0} ))" '.type == "inventory"'
SNAP2=$(after "$(( N + ${OKLINE:-0} ))" | jq -c 'select(.type == "inventory")' | head -n 1)
check "after the restart: the same $NCONT containers, no duplicates" \
	test "$(jq -r '[.containers[].name] | sort | join(",")' <<<"$SNAP2")" = "$NAMES"
check "after the restart: they exited with the engine" \
	test "$(jq -r '[.containers[].state] | unique | join(",")' <<<"$SNAP2")" = exited

# ---- the end ----------------------------------------------------------------------------------
echo "# $SECONDS s: the engine restart is checked"
check "inventory_dump is still running" kill -0 "$DUMP_PID"
kill -TERM "$DUMP_PID"
wait "$DUMP_PID"
check "inventory_dump stops cleanly (sanitizers quiet)" test $? = 0
DUMP_PID=
check "no sanitizer report" bash -c "! grep -qE 'Sanitizer|runtime error' '$D/dump.log'"
check "every line is a JSON object with a type" test "$(jq -s 'map(select(.type == null)) | length' "$OUT")" = 0
if [ "$T_FAILED" -gt 0 ]; then
	echo "---- inventory_dump log"; tail -n 30 "$D/dump.log"
	echo "---- messages"; cut -c1-300 "$OUT" | tail -n 30
fi
"$HARNESS" stop "$D" >>"$D/harness.log" 2>&1
check "the engine is stopped and its mounts are gone" bash -c "! grep -qF '$D/' /proc/self/mountinfo"
t_done
