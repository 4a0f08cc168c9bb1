#!/usr/bin/env bash
# Installs what building and testing need: Debian packages, then the npm dependencies (native
# addons build from source). Runs before `npm run build` and `npm test`; quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# rpm: rpmbuild and rpm -i; libpam0g-dev: node-linux-pam builds against it; rsyslog: the syslog
# tests; etcd-server: the init cluster tests; util-linux/mount: private namespaces of the install tests;
# rpmlint: the packages' lint test; gnupg: the signing test's throwaway key; python3: the init script test.
# openssl: the depot's TLS test certificates; dpkg-dev, lintian, systemd, createrepo-c, dnf,
# apt-utils: the .deb packages, units and repositories; systemd-container, jq, curl: the live
# systemd test (scripts/systemd-live.sh). nginx: pen's health-check backends; prometheus (its
# promtool) and python3-prometheus-client: parsers of pen's metrics in Prometheus and OpenMetrics form.
# gcc, libc6-dev: pen's C relay round (src/pen/ffi/relay.c), compiled by the build and below.
APT_PACKAGES=(gcc libc6-dev rpm rpmlint gnupg python3 openssl libpam0g-dev rsyslog pamtester etcd-server util-linux mount passwd procps psmisc iproute2 busybox-static dpkg-dev lintian systemd createrepo-c dnf apt-utils systemd-container jq curl nginx haproxy prometheus python3-prometheus-client)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
# apt stores its lists compressed or not (_Packages, _Packages.lz4, .gz, .xz, ...), depending on
# its configuration: any of them means `apt-get update` has run.
lists_empty() {
  local dir=${APT_LISTS_DIR:-/var/lib/apt/lists}
  for list in "$dir"/*_Packages "$dir"/*_Packages.*; do
    [ -e "$list" ] && return 1
  done
  return 0
}
# Only a machine that lacks a package needs the network and the apt lock; a ready one needs neither.
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: Debian packages missing: ${missing[*]}; run as root: apt-get update && apt-get install ${missing[*]}" >&2
    exit 1
  fi
  if lists_empty; then apt-get update -qq; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=node_modules/.flavorkit-setup
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi

# pen's C relay round for the sources (tests, benchmarks): where the FFI loop looks for it outside
# a package. Rebuilt when its source changes.
relay=node_modules/.cache/flavorkit/pen-relay.so
if [ ! -f "$relay" ] || [ src/pen/ffi/relay.c -nt "$relay" ]; then
  node --import tsx -e "require('./src/builder/natives').compileRelay(process.cwd(), '$relay').then((note) => note && console.error('setup: ' + note))"
fi
