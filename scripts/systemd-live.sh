#!/bin/bash
# Boots systemd in a container whose root is an overlay of this host's /, installs the .deb
# packages of two flavors there, and drives their units with systemctl: start, serve, reload,
# stop, purge. Run as root on a host with systemd-container (systemd-nspawn, machinectl):
#
#   bash scripts/systemd-live.sh [FLAVOR_A] [FLAVOR_B]      (default: tog abc)
#
# Not part of `npm test`: booting a container needs a host whose kernel and cgroup setup let
# systemd run as a container's init, which a CI runner may not give. On the development host
# systemd 252 boots in the container, but this script does not yet pass there: entering the
# container (nsenter on the leader nspawn starts) fails, the leader found being a helper process. Everything it makes is
# below one temporary directory, removed at exit, with the container it started.
set -euo pipefail
A=${1:-tog}
B=${2:-abc}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/flavorkit-live-XXXXXX)
LEADER=
cleanup() {
    # The container's init: killing it ends every process of the container's PID namespace.
    [ -n "$LEADER" ] && kill -KILL "$LEADER" 2>/dev/null || true
    [ -n "${NSPAWN_PID:-}" ] && wait "$NSPAWN_PID" 2>/dev/null || true
    umount "$WORK/root" 2>/dev/null || umount -l "$WORK/root" 2>/dev/null || true
    # Never recurse into a still-mounted overlay of /.
    mountpoint -q "$WORK/root" || rm -rf "$WORK"
}
trap cleanup EXIT

for f in "$A" "$B"; do FLAVORKIT_DIST_DIR="$WORK/dist" "$HERE/bin/flavor" build "$f" >/dev/null; done
mkdir -p "$WORK/upper" "$WORK/work" "$WORK/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$WORK/upper,workdir=$WORK/work" "$WORK/root"
mkdir -p "$WORK/root/debs"
cp "$WORK"/dist/"$A"/*.deb "$WORK"/dist/"$B"/*.deb "$WORK/root/debs/"
# A container image's policy-rc.d would deny every service action.
rm -f "$WORK/root/usr/sbin/policy-rc.d"
# Installed before the boot (as from an image); the units are enabled by deb-systemd-helper.
systemd-nspawn -q -D "$WORK/root" --register=no --keep-unit sh -c 'dpkg -i /debs/*.deb' >/dev/null

systemd-nspawn -q -D "$WORK/root" --register=no --keep-unit --private-network -b >"$WORK/console.log" 2>&1 &
NSPAWN_PID=$!
for _ in $(seq 1 50); do LEADER=$(pgrep -P "$NSPAWN_PID" | head -1) && [ -n "$LEADER" ] && break; sleep 0.2; done
in_ct() { nsenter -t "$LEADER" -m -u -i -n -p -- "$@"; }
state=
for _ in $(seq 1 90); do
    state=$(in_ct systemctl is-system-running 2>/dev/null || true)
    case "$state" in running|degraded) break ;; esac
    sleep 1
done
echo "container systemd: $state"

for f in "$A" "$B"; do
    for dir in "$WORK/dist/$f"/*/; do
        daemon=$(basename "$dir")
        layout="$dir/layout.json"
        [ -f "$layout" ] || continue
        # depot serves nothing without a repository; pen gets a backend (nothing listens there).
        [ "$daemon" = depot ] && continue
        unit=$(basename "$(jq -r .initScript "$layout")").service
        if [ "$daemon" = pen ]; then
            in_ct sh -c "echo 'server 0 address 127.0.0.1 port 9' >> $(jq -r .configFile "$layout")"
        fi
        in_ct systemctl start "$unit"
        echo "$unit: $(in_ct systemctl is-active "$unit")"
        pid=$(in_ct systemctl show -p MainPID --value "$unit")
        [ "$pid" = "$(in_ct cat "$(jq -r .pidFile "$layout")")" ] && echo "$unit: MainPID $pid is the flavor's PID file"
        in_ct systemctl reload "$unit"
        sleep 1
        [ "$(in_ct systemctl show -p MainPID --value "$unit")" = "$pid" ] && echo "$unit: reloaded in place"
        in_ct systemctl stop "$unit"
        state=$(in_ct systemctl is-active "$unit" || true)
        [ "$state" = inactive ] && echo "$unit: stopped"
        [ "$state" = inactive ] || { echo "$unit: $state after stop" >&2; exit 1; }
    done
done
in_ct sh -c 'for d in /debs/*.deb; do dpkg --purge "$(dpkg-deb -f "$d" Package)"; done' >/dev/null
echo "purged; live systemd check passed"
