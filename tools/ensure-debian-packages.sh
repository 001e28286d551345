#!/usr/bin/env bash
# Install Debian packages the tests need, unless their program is already on PATH.
#   tools/ensure-debian-packages.sh redis-server [PACKAGE[:PROGRAM] ...]
# PROGRAM defaults to the package name. A no-op when every program exists; never asks (no TTY needed).
set -euo pipefail
missing=()
for spec in "$@"; do
    package=${spec%%:*}
    program=${spec#*:}
    command -v "$program" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "ensure-debian-packages: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive
apt_install() { "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null; }
echo "ensure-debian-packages: installing ${missing[*]}" >&2
# A fresh machine may have no package lists yet: update once and try again.
apt_install || { "${sudo[@]}" apt-get update -q </dev/null && apt_install; }
