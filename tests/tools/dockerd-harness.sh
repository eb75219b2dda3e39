#!/bin/bash
# dockerd-harness: a private Docker engine for tests (needs root and Debian's docker.io).
#
#   dockerd-harness.sh start DIR [--bridge]   start dockerd on DIR/docker.sock, import test/busybox:1
#   dockerd-harness.sh stop DIR               stop it and clean up after it (idempotent)
#   dockerd-harness.sh restart DIR            stop, then start again with the same options and data
#   dockerd-harness.sh docker DIR ARGS...     run the docker CLI against it
#
# Everything the engine owns lives under DIR (keep DIR short: the socket path must fit in 108
# bytes): docker.sock, data/ (data-root), exec/ (exec-root), dockerd.pid, daemon.json (its own
# config, so /etc/docker/daemon.json is never read; it puts the engine's trust key in key.json
# instead of /etc/docker/key.json), cli/ (the CLI's config, instead of ~/.docker) and
# dockerd.log. The engine runs with --iptables=false, so the host firewall is never touched, and with --bridge=none; with
# --bridge it gets a bridge of its own (gdk<N>, 10.231.<N>.1/24, created here and deleted on stop),
# never docker0. The test image test/busybox:1 is busybox-static imported as an image (no registry).
#
# stop kills only what this DIR's engine started: dockerd by its pidfile, then, when dockerd did not
# take them down, its containerd and shims (whose command lines name DIR) and the processes of its
# containers (from their cgroups). It then unmounts whatever is left mounted under DIR (the nsfs
# mounts under exec/netns, the data-root's own bind mount), deletes the bridge it made, and
# /run/docker/plugins when that was absent before and no other dockerd runs. docker0 is never
# created (--bridge=none or gdk<N>), so there is none to delete. Exit status: 0, 1 on failure
# (with the end of the engine's log).
set -u

die() { echo "dockerd-harness: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: $0 start|stop|restart|docker DIR [...]"
CMD=$1
D=$(realpath -m "$2")
shift 2
SOCK=$D/docker.sock
[ ${#SOCK} -lt 100 ] || die "socket path too long: $SOCK"

DOCKERD=$(command -v dockerd || true)
[ -x /usr/sbin/dockerd ] && DOCKERD=/usr/sbin/dockerd
# The CLI of Debian's docker.io matches the engine; a newer client negotiates down.
DOCKER_CLI=$(command -v docker || true)
[ -x /usr/bin/docker ] && DOCKER_CLI=/usr/bin/docker

cli() {
	DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$D/cli "$DOCKER_CLI" "$@"
}

ping_ok() {
	[ -S "$SOCK" ] && curl -s --max-time 2 --unix-socket "$SOCK" http://docker/_ping 2>/dev/null | grep -q OK
}

alive() { # PID: the process exists and is not a zombie
	[ -n "$1" ] && [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null
}

# Processes of the engine (containerd, its shims, docker-proxy) whose command line names this DIR.
# The pattern comes from a file so that grep's own command line does not match.
dir_pids() {
	local p exe
	for p in $(grep -alsF -f <(printf '%s/\n' "$D") /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
		exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
		case ${exe##*/} in
		containerd* | runc | dockerd | docker-proxy | docker-init) echo "$p" ;;
		esac
	done
}

# Processes in the cgroups of this engine's containers.
container_pids() {
	local id f
	[ -d "$D/data/containers" ] || return 0
	for id in $(ls "$D/data/containers" 2>/dev/null); do
		[[ $id =~ ^[0-9a-f]{64}$ ]] || continue
		for f in /sys/fs/cgroup/*/docker/"$id"/cgroup.procs /sys/fs/cgroup/unified/docker/"$id"/cgroup.procs \
			/sys/fs/cgroup/docker/"$id"/cgroup.procs /sys/fs/cgroup/system.slice/docker-"$id".scope/cgroup.procs; do
			[ -r "$f" ] && cat "$f"
		done
	done 2>/dev/null | sort -u
}

# Unmounts everything mounted under DIR, deepest first.
umount_all() {
	local m
	for m in $(awk -v d="$D/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
}

do_build_image() {
	local bb=$D/bb a
	cli image inspect test/busybox:1 >/dev/null 2>&1 && return 0
	[ -x /bin/busybox ] || die "busybox-static is not installed (apt-get install -y busybox-static)"
	rm -rf "$bb"
	mkdir -p "$bb/bin" "$bb/etc" "$bb/tmp" "$bb/proc" "$bb/sys" "$bb/dev" || return 1
	cp /bin/busybox "$bb/bin/" || return 1
	for a in $("$bb/bin/busybox" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$bb/bin/$a"
	done
	echo 'root:x:0:0:root:/root:/bin/sh' >"$bb/etc/passwd"
	echo 'nobody:x:65534:65534:nobody:/:/bin/false' >>"$bb/etc/passwd"
	echo 'root:x:0:' >"$bb/etc/group"
	tar -C "$bb" -c . | cli import -c 'CMD ["/bin/sh"]' - test/busybox:1 >/dev/null || return 1
	rm -rf "$bb"
}

do_start() {
	local bridge=0 opts n
	[ -n "$DOCKERD" ] || die "dockerd not found (apt-get install -y docker.io)"
	[ -n "$DOCKER_CLI" ] || die "docker CLI not found (apt-get install -y docker.io)"
	for a in "$@"; do
		case $a in
		--bridge) bridge=1 ;;
		*) die "unknown option $a" ;;
		esac
	done
	if [ -f "$D/dockerd.pid" ] && alive "$(cat "$D/dockerd.pid")"; then
		die "an engine already runs for $D"
	fi
	mkdir -p "$D/cli" "$D/data" "$D/exec" || die "cannot create $D"
	chmod 0700 "$D"
	echo "$bridge" >"$D/harness.bridge"
	printf '{"deprecated-key-path": "%s/key.json"}\n' "$D" >"$D/daemon.json"
	[ -d /run/docker ] || touch "$D/harness.made-run-docker"
	opts=(-H "unix://$SOCK" --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/dockerd.pid"
		--config-file "$D/daemon.json" --iptables=false
		--ip-masq=false --shutdown-timeout 2)
	if [ "$bridge" = 1 ]; then
		if [ -f "$D/harness.bridge-num" ]; then
			n=$(cat "$D/harness.bridge-num")
		else
			n=$(( $$ % 200 + 20 ))
			# another engine's bridge is not ours to take (or to delete later)
			for _ in $(seq 1 200); do
				[ -e "/sys/class/net/gdk$n" ] || break
				n=$(( (n - 19) % 200 + 20 ))
			done
		fi
		if [ ! -e "/sys/class/net/gdk$n" ]; then
			ip link add "gdk$n" type bridge || die "cannot create bridge gdk$n"
			ip addr add "10.231.$n.1/24" dev "gdk$n" && ip link set "gdk$n" up
		fi
		echo "gdk$n" >"$D/harness.bridge-name"
		echo "$n" >"$D/harness.bridge-num"
		opts+=(--bridge "gdk$n")
	else
		opts+=(--bridge=none)
	fi
	"$DOCKERD" "${opts[@]}" >>"$D/dockerd.log" 2>&1 </dev/null &
	for _ in $(seq 1 300); do
		ping_ok && break
		alive $! || break
		sleep 0.1
	done
	if ! ping_ok; then
		tail -n 30 "$D/dockerd.log" >&2
		die "dockerd did not start"
	fi
	do_build_image || { tail -n 20 "$D/dockerd.log" >&2; die "cannot import test/busybox:1"; }
}

do_stop() {
	local pid p
	pid=$(cat "$D/dockerd.pid" 2>/dev/null || true)
	if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$SOCK"; then
		kill -TERM "$pid"
		for _ in $(seq 1 200); do alive "$pid" || break; sleep 0.1; done
		alive "$pid" && kill -KILL "$pid"
		for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
	fi
	rm -f "$D/dockerd.pid"
	# Only when dockerd died without taking them down: its containers, shims and containerd.
	for p in $(container_pids); do kill -KILL "$p" 2>/dev/null; done
	for p in $(dir_pids); do kill -KILL "$p" 2>/dev/null; done
	for _ in $(seq 1 30); do [ -z "$(dir_pids)" ] && break; sleep 0.1; done
	umount_all
	if [ -f "$D/harness.bridge-name" ]; then
		ip link del "$(cat "$D/harness.bridge-name")" 2>/dev/null
		rm -f "$D/harness.bridge-name"
	fi
	# dockerd makes /run/docker/plugins whatever its exec-root: remove it when it was not there
	# before and no other engine runs now.
	if [ -f "$D/harness.made-run-docker" ]; then
		pgrep -x dockerd >/dev/null || rmdir /run/docker/plugins /run/docker 2>/dev/null
		rm -f "$D/harness.made-run-docker"
	fi
	rm -f "$SOCK"
	return 0
}

case $CMD in
start) do_start "$@" ;;
stop) do_stop ;;
restart)
	do_stop
	b=$(cat "$D/harness.bridge" 2>/dev/null || echo 0)
	if [ "$b" = 1 ]; then do_start --bridge; else do_start; fi
	;;
docker) cli "$@" ;;
*) die "unknown command $CMD" ;;
esac
