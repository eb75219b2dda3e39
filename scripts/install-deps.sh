#!/bin/sh
# Installs the Debian 12 packages that building, running and testing Garrison need.
# Idempotent and quick when everything is present: it asks dpkg first and runs apt-get
# only for what is missing. Needs root (or sudo) only when something is missing.
set -eu

PKGS="build-essential pkg-config libssl-dev openssl libsqlite3-dev libjansson-dev libyaml-dev
libcurl4-openssl-dev curl libevent-dev libwebsockets-dev clang docker.io busybox-static
jq python3 python3-jsonschema python3-yaml iproute2 procps util-linux librpm-dev rpm python3-rpm python3-apt
libarchive-dev libbpf-dev bpftool llvm libelf-dev zlib1g-dev debootstrap mmdebstrap skopeo umoci"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
