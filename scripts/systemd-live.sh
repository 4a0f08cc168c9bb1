#!/bin/bash
# Boots systemd 252 in a container whose root is an overlay of this host's /, with the .deb
# packages of two flavors installed, and drives their units with systemctl from inside: start,
# serve (each pen through a backend of its own, each depot a repository), reload in place, stop;
# then purge. Run as root on a host with systemd-container (systemd-nspawn) and jq:
#
#   bash scripts/systemd-live.sh [FLAVOR_A] [FLAVOR_B]      (default: tog abc)
#
# The checks run as a oneshot unit of the container's own systemd, which writes its findings to
# /live/result and powers the container off; the host only waits (bounded) and reads the file.
# Nothing is entered from outside, so the script needs no machinectl, D-Bus or user namespace.
# test/builder/systemd-live.test.ts runs it. Exit 0 only when every check passed.
set -euo pipefail
A=${1:-tog}
B=${2:-abc}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/flavorkit-live-XXXXXX)
NSPAWN_PID=
cleanup() {
    [ -n "$NSPAWN_PID" ] && kill -KILL "$NSPAWN_PID" 2>/dev/null && wait "$NSPAWN_PID" 2>/dev/null || true
    umount "$WORK/root" 2>/dev/null || umount -l "$WORK/root" 2>/dev/null || true
    # Never recurse into a still-mounted overlay of /.
    mountpoint -q "$WORK/root" || rm -rf "$WORK"
}
trap cleanup EXIT
# A signal ends the script through exit, so the cleanup runs.
trap 'exit 143' TERM INT

for f in "$A" "$B"; do FLAVORKIT_DIST_DIR="$WORK/dist" "$HERE/bin/flavor" build "$f" >/dev/null; done
mkdir -p "$WORK/upper" "$WORK/work" "$WORK/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$WORK/upper,workdir=$WORK/work" "$WORK/root"
mkdir -p "$WORK/root/live/debs"
cp "$WORK"/dist/"$A"/*.deb "$WORK"/dist/"$B"/*.deb "$WORK/root/live/debs/"
# What the checks need of each flavor: unit name, config file, PID file, service port.
for f in "$A" "$B"; do
    for daemon in pen depot init; do
        layout="$WORK/dist/$f/$daemon/layout.json"
        [ -f "$layout" ] || continue
        jq -r --arg f "$f" --arg d "$daemon" \
            '[$f, $d, (.initScript | split("/") | last), .configFile, .pidFile, (.ports.service // 0 | tostring)] | join(" ")' \
            "$layout" >> "$WORK/root/live/daemons"
    done
done
# The depot serves a copy of the sample repository made by pkg(5)'s own tools.
cp -r "$HERE/../shared/fixtures/pkg5/sample-repo" "$WORK/root/live/repo"
# A container image's policy-rc.d would deny every service action.
rm -f "$WORK/root/usr/sbin/policy-rc.d"

cat > "$WORK/root/live/check.sh" <<'CHECK'
#!/bin/bash
# Runs inside the container as a unit of its systemd. One line per finding; FAIL lines fail it.
exec >/live/result 2>&1
fail() { echo "FAIL $*"; }
echo "systemd $(systemctl --version | head -1)"
dpkg -i /live/debs/*.deb >/live/dpkg.log 2>&1 || fail "dpkg -i (see /live/dpkg.log)"
backend_port=19000
while read -r flavor daemon unit config pidfile port; do
    u="$unit.service"
    if [ "$daemon" = pen ]; then
        # Each flavor's pen gets a backend of its own, which answers with the flavor's name.
        backend_port=$((backend_port + 1))
        node -e 'require("http").createServer((q, s) => s.end("backend of " + process.argv[1] + "\n")).listen(+process.argv[2], "127.0.0.1")' "$flavor" "$backend_port" &
        echo "server 0 address 127.0.0.1 port $backend_port" >> "$config"
        sleep 0.5
    fi
    if [ "$daemon" = depot ]; then
        node -e 'const fs = require("fs"); const c = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); c.repositories = [{ path: "/live/repo" }]; fs.writeFileSync(process.argv[1], JSON.stringify(c, null, 2))' "$config"
    fi
    systemctl start "$u" || fail "$u: start"
    [ "$(systemctl is-active "$u")" = active ] && echo "ok $u: active" || fail "$u: $(systemctl is-active "$u") after start"
    pid=$(systemctl show -p MainPID --value "$u")
    [ -n "$pid" ] && [ "$pid" = "$(cat "$pidfile" 2>/dev/null)" ] && echo "ok $u: MainPID $pid is the flavor's PID file $pidfile" || fail "$u: MainPID $pid, PID file $pidfile holds $(cat "$pidfile" 2>/dev/null)"
    if [ "$daemon" = pen ]; then
        answer=$(curl -s --max-time 5 "http://127.0.0.1:$port/" || true)
        [ "$answer" = "backend of $flavor" ] && echo "ok $u: port $port serves its own backend" || fail "$u: port $port answered '$answer'"
    fi
    if [ "$daemon" = depot ]; then
        answer=$(curl -s --max-time 5 "http://127.0.0.1:$port/versions/0/" || true)
        case "$answer" in pkg-server*) echo "ok $u: port $port serves versions/0" ;; *) fail "$u: port $port answered '$answer'" ;; esac
    fi
    systemctl reload "$u" || fail "$u: reload"
    sleep 1
    [ "$(systemctl show -p MainPID --value "$u")" = "$pid" ] && [ "$(systemctl is-active "$u")" = active ] && echo "ok $u: reloaded in place" || fail "$u: not the same process after reload"
    systemctl stop "$u" || fail "$u: stop"
    [ "$(systemctl is-active "$u" || true)" = inactive ] && echo "ok $u: stopped" || fail "$u: $(systemctl is-active "$u") after stop"
    kill -0 "$pid" 2>/dev/null && fail "$u: PID $pid still runs after stop" || echo "ok $u: PID $pid gone"
done < /live/daemons
for d in /live/debs/*.deb; do dpkg --purge "$(dpkg-deb -f "$d" Package)" >>/live/dpkg.log 2>&1 || fail "purge $d"; done
echo "ok purged"
echo done
CHECK
chmod 755 "$WORK/root/live/check.sh"
cat > "$WORK/root/etc/systemd/system/flavorkit-live.service" <<'UNIT'
[Unit]
Description=flavorkit live systemd check
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/live/check.sh
ExecStopPost=/bin/systemctl --no-block poweroff
UNIT
mkdir -p "$WORK/root/etc/systemd/system/default.target.wants"
ln -sf /etc/systemd/system/flavorkit-live.service "$WORK/root/etc/systemd/system/default.target.wants/flavorkit-live.service"

timeout 300 systemd-nspawn -q -D "$WORK/root" --register=no --keep-unit --private-network -b >"$WORK/console.log" 2>&1 &
NSPAWN_PID=$!
wait "$NSPAWN_PID" || true
NSPAWN_PID=
if [ ! -s "$WORK/upper/live/result" ]; then
    echo "the container wrote no result; its console:" >&2
    tail -40 "$WORK/console.log" >&2
    exit 1
fi
cat "$WORK/upper/live/result"
if grep -q '^FAIL' "$WORK/upper/live/result" || ! grep -q '^done$' "$WORK/upper/live/result"; then
    echo "live systemd check failed" >&2
    exit 1
fi
echo "live systemd check passed: $A and $B"
