#!/usr/bin/env bash
# System packages the test suite starts for real: PostgreSQL 15, Chromium, the compose v1 client.
# With --compose, also what the compose smoke check (scripts/compose-smoke.sh) runs: a Docker
# engine (dockerd, containerd, runc) and debootstrap for its base image.
# Installs only what is missing; needs root (or sudo). Never starts a service.
set -euo pipefail
missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ "${1:-}" = --compose ]; then
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q -o APT::Update::Error-Mode=any
# a package's maintainer scripts must not start its daemon (dockerd): the smoke starts its own
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  trap '$SUDO rm -f "$POLICY"' EXIT
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
fi
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
