#!/bin/sh
# Install the Debian 12 packages gatherd needs to build, test and benchmark.
# systemd is for systemd-analyze (tests/scenarios/systemd_unit.sh checks
# the units with it) and groff-base and man-db for the man page checks.
# Only what is missing is installed; run as root (or with sudo).
set -eu
PKGS="build-essential autoconf automake pkg-config libevent-dev libevhtp-dev
libonig-dev libssl-dev libcurl4-openssl-dev libyaml-dev libjansson-dev
libsystemd-dev libhttp-parser-dev check curl nginx-light wrk openssl
systemd groff-base man-db"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing:$missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
