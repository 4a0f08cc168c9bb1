#!/usr/bin/env bash
# Installs what building and testing need: Debian packages, then the npm dependencies (native
# addons build from source). Runs before `npm run build` and `npm test`; quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# rpm: rpmbuild and rpm -i; libpam0g-dev: node-linux-pam builds against it; rsyslog: the syslog
# tests; etcd-server: the init cluster tests; util-linux/mount: private namespaces of the install tests.
APT_PACKAGES=(rpm libpam0g-dev rsyslog pamtester etcd-server util-linux mount passwd procps psmisc iproute2 busybox-static)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
lists_empty() { ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; }
if [ "${#missing[@]}" -gt 0 ] || lists_empty; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: Debian packages missing: ${missing[*]:-none} (or no package lists); run as root: apt-get update && apt-get install ${missing[*]:-}" >&2
    exit 1
  fi
  apt-get update -qq
  if [ "${#missing[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

stamp=node_modules/.flavorkit-setup
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi
