#!/bin/bash
# Boots systemd in a container whose root is an overlay of this host's /, installs the .deb
# packages of two flavors there, and drives their units with systemctl: start, serve, reload,
# stop, purge. Run as root on a host with systemd-container (systemd-nspawn, machinectl):
#
#   bash scripts/systemd-live.sh [FLAVOR_A] [FLAVOR_B]      (default: tog abc)
#
# Not part of `npm test`: booting a container needs a host whose kernel and cgroup setup let
# systemd run as a container's init, which a CI runner may not give. Everything it makes is
# below one temporary directory, removed at exit, with the container it started.
set -euo pipefail
A=${1:-tog}
B=${2:-abc}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/flavorkit-live-XXXXXX)
MACHINE=flavorkit-live-$$
cleanup() {
    machinectl terminate "$MACHINE" >/dev/null 2>&1 || true
    [ -n "${NSPAWN_PID:-}" ] && wait "$NSPAWN_PID" 2>/dev/null || true
    umount "$WORK/root" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

for f in "$A" "$B"; do FLAVORKIT_DIST_DIR="$WORK/dist" "$HERE/bin/flavor" build "$f" >/dev/null; done
mkdir -p "$WORK/upper" "$WORK/work" "$WORK/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$WORK/upper,workdir=$WORK/work" "$WORK/root"
mkdir -p "$WORK/root/debs"
cp "$WORK"/dist/"$A"/*.deb "$WORK"/dist/"$B"/*.deb "$WORK/root/debs/"

systemd-nspawn -q -D "$WORK/root" -M "$MACHINE" --private-network -b >"$WORK/console.log" 2>&1 &
NSPAWN_PID=$!
for _ in $(seq 1 60); do
    state=$(systemctl -M "$MACHINE" is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break ;; esac
    sleep 1
done
echo "container: $state"
in_ct() { systemd-run -q -M "$MACHINE" --wait --pipe -- "$@"; }

in_ct dpkg -i /debs/*.deb >/dev/null
for f in "$A" "$B"; do
    for unit in $(cd "$WORK/dist/$f" && ls -d */ | tr -d /); do
        name=$f-$unit
        # pen serves nothing without a backend: give it the container's own sshd-less port 9.
        if [ "$unit" = pen ]; then
            conf=$(jq -r .configFile "$WORK/dist/$f/$unit/layout.json")
            in_ct sh -c "echo 'server 0 address 127.0.0.1 port 9' >> $conf"
        fi
        if [ "$unit" = depot ]; then continue; fi
        in_ct systemctl start "$name"
        in_ct systemctl is-active "$name"
        pid=$(in_ct systemctl show -p MainPID --value "$name")
        in_ct systemctl reload "$name"
        [ "$(in_ct systemctl show -p MainPID --value "$name")" = "$pid" ] && echo "$name reloaded in place (PID $pid)"
        in_ct systemctl stop "$name"
        ! in_ct systemctl is-active "$name" >/dev/null && echo "$name stopped"
    done
done
in_ct sh -c 'dpkg --purge $(dpkg-deb -f /debs/*.deb Package 2>/dev/null || for d in /debs/*.deb; do dpkg-deb -f "$d" Package; done)' >/dev/null
echo "purged; live systemd check passed"
