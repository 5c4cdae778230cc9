#!/usr/bin/env bash
# Maintainer check: build the image and run the compose stack for real, on one machine, with host
# networking only (no bridge network, no iptables rules), no image registry, and the compose v1
# client. It:
#   1. starts its own docker engine (unless DOCKER_HOST already answers),
#   2. builds a Debian base image with debootstrap (cached under $REGTUNE_SMOKE_CACHE with
#      `docker save`) in place of a registry base image,
#   3. builds the project image, serving this machine's pip sources (find-links, file:// indexes,
#      the local torch wheel) over a loopback HTTP server and trusting the local CA certificates,
#   4. starts PostgreSQL on a free loopback port in place of the postgres image,
#   5. runs docker-compose.yml + docker-compose.host.yml with 3 workers, submits a study to the API
#      container over HTTP, waits until it is completed, checks that the 3 worker containers ran
#      its trials, downloads its best model through the API (a worker container saved it: the
#      artifact volume is shared) and that the dashboard shows it; then stops the workers in the
#      middle of trials: each must hand its trial back and exit 0,
#   6. tears everything down: containers, volumes, the engine it started, its mounts, PostgreSQL.
#      The engine's images stay in $REGTUNE_SMOKE_CACHE/engine as a layer cache for the next run;
#      REGTUNE_SMOKE_FRESH=1 starts from an empty engine.
#
# Needs root (dockerd, debootstrap), dockerd/containerd/runc, docker, docker-compose, debootstrap,
# PostgreSQL 15 server binaries, python3 with PyYAML, curl, jq. Usage: sudo scripts/compose-smoke.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${REGTUNE_SMOKE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/regtune-smoke}"
PG_BIN="${REGTUNE_PG_BIN:-/usr/lib/postgresql/15/bin}"
WORKERS=3
N_TRIALS="${REGTUNE_SMOKE_TRIALS:-12}"
SUITE=bookworm
BASE_TAG="regtune-smoke-base:${SUITE}"
IMAGE="regtune:smoke"
API_IMAGE="regtune-api:smoke"
WORK="$(mktemp -d /tmp/regtune-smoke.XXXXXX)"
T0=$(date +%s)

log() { printf '[smoke %4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
elapsed() { echo $(($(date +%s) - $1)); }

[ "$(id -u)" -eq 0 ] || die "run as root (the docker engine and debootstrap need it)"
for tool in dockerd docker docker-compose debootstrap python3 curl jq flock; do
  command -v "$tool" >/dev/null || die "missing $tool"
done
[ -x "$PG_BIN/initdb" ] || die "PostgreSQL binaries not found in $PG_BIN"
mkdir -p "$CACHE"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ------------------------------------------------------------------------------ teardown
ENGINE_PID=""
PKG_PID=""
PG_DATA=""
COMPOSE=()
teardown() {
  local code=$?
  set +e
  local t=$(date +%s)
  if [ ${#COMPOSE[@]} -gt 0 ]; then
    if [ "$code" -ne 0 ]; then
      log "logs of the failed run:"
      "${COMPOSE[@]}" logs --no-color --tail=40 >&2
    fi
    "${COMPOSE[@]}" down --volumes --remove-orphans --timeout 60 >/dev/null 2>&1
  fi
  log "containers removed after $(elapsed "$t")s"
  if [ -n "$ENGINE_PID" ]; then
    kill "$ENGINE_PID" 2>/dev/null
    for _ in $(seq 60); do kill -0 "$ENGINE_PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$ENGINE_PID" 2>/dev/null
    if mountpoint -q "$WORK/x/netns/default" 2>/dev/null; then umount "$WORK/x/netns/default"; fi
    # whatever the engine left mounted below its directories
    grep -o " $WORK/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  fi
  [ -n "$PKG_PID" ] && kill "$PKG_PID" 2>/dev/null
  if [ -n "$PG_DATA" ]; then
    su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$PG_DATA' -m immediate -w stop" >/dev/null 2>&1
  fi
  log "engine stopped after $(elapsed "$t")s (its images stay in $CACHE/engine)"
  rm -rf "$WORK"
  log "teardown took $(elapsed "$t")s; exit code $code"
  exit "$code"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------ 1. engine
if [ -n "${DOCKER_HOST:-}" ] && docker info >/dev/null 2>&1; then
  log "using the engine at $DOCKER_HOST"
else
  t=$(date +%s)
  # The engine's images and layers stay in the cache (like /var/lib/docker), so a rerun rebuilds
  # only what changed; REGTUNE_SMOKE_FRESH=1 starts from an empty engine.
  exec 9>"$CACHE/engine.lock"
  flock -n 9 || die "another compose smoke run holds $CACHE/engine.lock"
  [ "${REGTUNE_SMOKE_FRESH:-0}" = 1 ] && rm -rf "$CACHE/engine"
  mkdir -p "$CACHE/engine" "$WORK/x"
  dockerd --bridge=none --iptables=false --ip6tables=false \
    --data-root "$CACHE/engine" --exec-root "$WORK/x" --pidfile "$WORK/dockerd.pid" \
    -H "unix://$WORK/docker.sock" >"$WORK/dockerd.log" 2>&1 &
  ENGINE_PID=$!
  export DOCKER_HOST="unix://$WORK/docker.sock"
  for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log" >&2; die "dockerd did not start"; }
  log "engine up in $(elapsed "$t")s (pid $ENGINE_PID, no bridge, no iptables)"
  # leftovers of an interrupted run on this engine
  docker ps -aq | xargs -r docker rm -f >/dev/null
  docker volume prune -f >/dev/null
fi
T_ENGINE=$(elapsed "$T0")

# ------------------------------------------------------------------------------ 2. base image
t=$(date +%s)
if docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
  log "base image $BASE_TAG already in the engine"
elif [ -f "$CACHE/base-$SUITE.tar" ]; then
  docker load -q -i "$CACHE/base-$SUITE.tar" >/dev/null
  log "base image loaded from $CACHE/base-$SUITE.tar"
else
  # the Debian mirror this machine's apt uses (deb822 .sources or one-line .list files)
  MIRROR=$(python3 - <<'EOF'
import glob, re
files = sorted(glob.glob("/etc/apt/sources.list.d/*.sources")) + ["/etc/apt/sources.list"] \
    + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
for path in files:
    try:
        text = open(path).read()
    except OSError:
        continue
    for stanza in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
        if "bookworm" in fields.get("Suites", "").split() and "URIs" in fields:
            print(fields["URIs"].split()[0]); raise SystemExit
    for line in text.splitlines():
        parts = re.sub(r"\[[^]]*\]", "", line).split()
        if len(parts) >= 3 and parts[0] == "deb" and parts[2] == "bookworm":
            print(parts[1]); raise SystemExit
raise SystemExit("no bookworm mirror in the apt sources")
EOF
  )
  log "debootstrap $SUITE (minbase + python3) from the host's mirror"
  debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$WORK/rootfs" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap"; }
  rm -rf "$WORK/rootfs"/var/cache/apt/archives/*.deb "$WORK/rootfs"/var/lib/apt/lists/* \
    "$WORK/rootfs"/usr/share/doc/* "$WORK/rootfs"/usr/share/man/* "$WORK/rootfs"/usr/share/info/*
  find "$WORK/rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' \
    -exec rm -rf {} +
  tar -C "$WORK/rootfs" -c . | docker import - "$BASE_TAG" >/dev/null
  rm -rf "$WORK/rootfs"
  docker save -o "$CACHE/base-$SUITE.tar" "$BASE_TAG"
  log "base image built and saved to $CACHE/base-$SUITE.tar"
fi
T_BASE=$(elapsed "$t")

# ------------------------------------------------------------------------------ 3. project image
# pip's sources on this machine, as its own config says; local ones are served over loopback HTTP.
t=$(date +%s)
# the same port as last time if it is free: the URLs are build arguments, part of the layer cache
PKG_PORT=$(cat "$CACHE/pkg-port" 2>/dev/null || true)
if [ -z "$PKG_PORT" ] || ! python3 -c "import socket,sys; socket.socket().bind(('127.0.0.1', int(sys.argv[1])))" "$PKG_PORT" 2>/dev/null; then
  PKG_PORT=$(free_port)
  echo "$PKG_PORT" >"$CACHE/pkg-port"
fi
mkdir -p "$WORK/pkgs"
PIP_PY="$ROOT/.venv/bin/python"
[ -x "$PIP_PY" ] || PIP_PY=python3
eval "$(
  "$PIP_PY" -m pip config list 2>/dev/null | PKG_ROOT="$WORK/pkgs" PKG_PORT="$PKG_PORT" python3 -c '
import os, re, shlex, sys, glob
root, port = os.environ["PKG_ROOT"], os.environ["PKG_PORT"]
values = {"index-url": [], "extra-index-url": [], "find-links": []}
for line in sys.stdin:
    m = re.match(r"^[^.]*\.([\w-]+)=(.*)$", line.strip())
    if m and m.group(1) in values:
        for v in shlex.split(m.group(2)):
            for item in v.split():
                if item not in values[m.group(1)]:
                    values[m.group(1)].append(item)
served = {}
def serve(item, index):
    path = item[len("file://"):] if item.startswith("file://") else item
    if not path.startswith("/"):
        return item
    path = path.rstrip("/")
    # an index links to ../../files: serve its parent folder and point below it
    folder, tail = (os.path.dirname(path), os.path.basename(path)) if index else (path, "")
    name = served.setdefault(folder, f"src{len(served)}")
    if not os.path.exists(os.path.join(root, name)):
        os.symlink(folder, os.path.join(root, name))
    return f"http://127.0.0.1:{port}/{name}/{tail}".rstrip("/") + "/"
links = [serve(v, False) for v in values["find-links"]]
if not any(glob.glob(os.path.join(p, "torch-2.13.0*.whl")) for p in served):
    hits = [h for d in ("/opt", "/root", "/home", "/var/cache", "/srv")
            for h in glob.glob(f"{d}/**/torch-2.13.0*.whl", recursive=True)]
    if hits:
        links.append(serve(os.path.dirname(hits[0]), False))
out = {
    "PIP_INDEX_URL": " ".join(serve(v, True) for v in values["index-url"][:1]),
    "PIP_EXTRA_INDEX_URL": " ".join(serve(v, True) for v in values["extra-index-url"]),
    "PIP_FIND_LINKS": " ".join(links),
}
for k, v in out.items():
    print(f"BUILD_{k}={shlex.quote(v)}")
'
)"
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/pkgs" "$PKG_PORT" \
  >"$WORK/pkgs.log" 2>&1 &
PKG_PID=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PKG_PORT/" >/dev/null && break; sleep 0.2; done
BUILD_ARGS=(--build-arg "BASE_IMAGE=$BASE_TAG")
for k in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS; do
  v="BUILD_$k"
  [ -n "${!v}" ] && BUILD_ARGS+=(--build-arg "$k=${!v}")
done
CA=""
for crt in /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt; do
  [ -f "$crt" ] && CA+="$(cat "$crt")"$'\n'
done
[ -n "$CA" ] && BUILD_ARGS+=(--build-arg "EXTRA_CA_CERTS=$CA")
log "building $IMAGE and $API_IMAGE (find-links: ${BUILD_PIP_FIND_LINKS:-none})"
# The build stages get tags of their own so that their layers stay in the cache for the next run;
# `api` is the API image (no torch), `worker` (the default target) the worker image.
for target in build build-worker api worker; do
  case $target in api) tag=$API_IMAGE ;; worker) tag=$IMAGE ;; *) tag=$IMAGE-$target ;; esac
  DOCKER_BUILDKIT=0 docker build --network host --force-rm --target "$target" \
    -t "$tag" "${BUILD_ARGS[@]}" "$ROOT" >>"$WORK/build.log" 2>&1 \
    || { tail -40 "$WORK/build.log" >&2; die "docker build --target $target"; }
done
kill "$PKG_PID" 2>/dev/null; PKG_PID=""
cp "$WORK/build.log" "$CACHE/last-build.log"
CACHED=$(grep -c 'Using cache' "$WORK/build.log" || true)
STEPS=$(grep -c '^Step ' "$WORK/build.log" || true)
docker image prune -f >/dev/null  # the previous run's images, now untagged
T_BUILD=$(elapsed "$t")
IMAGE_MB=$(($(docker image inspect -f '{{.Size}}' "$IMAGE") / 1000000))
API_IMAGE_MB=$(($(docker image inspect -f '{{.Size}}' "$API_IMAGE") / 1000000))
log "images built in ${T_BUILD}s: worker ${IMAGE_MB} MB, API ${API_IMAGE_MB} MB" \
  "($CACHED of $STEPS steps from the layer cache)"
for image in "$IMAGE" "$API_IMAGE"; do
  docker run --rm --network host --entrypoint sh "$image" -c \
    '[ "$(id -u)" != 0 ] && ! command -v gcc && ! command -v cc && regtune --help' >/dev/null \
    || die "$image runs as root, ships a compiler, or its regtune command fails"
done
docker run --rm --network host --entrypoint python "$API_IMAGE" -c 'import torch' 2>/dev/null \
  && die "$API_IMAGE has torch"

# ------------------------------------------------------------------------------ 4. PostgreSQL
t=$(date +%s)
PG_PORT=$(free_port)
POSTGRES_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
mkdir -p "$WORK/pg"
chmod 755 "$WORK"
chown postgres: "$WORK/pg"
printf '%s\n' "$POSTGRES_PASSWORD" >"$WORK/pg/pwfile"
chown postgres: "$WORK/pg/pwfile"
su postgres -s /bin/sh -c "'$PG_BIN/initdb' -D '$WORK/pg/data' -U regtune --pwfile='$WORK/pg/pwfile' \
  -A scram-sha-256 --no-sync" >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; die initdb; }
PG_DATA="$WORK/pg/data"
su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$PG_DATA' -l '$WORK/pg/log' -w -o \
  '-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200' \
  start" >/dev/null || { cat "$WORK/pg/log" >&2; die "PostgreSQL did not start"; }
PGPASSWORD="$POSTGRES_PASSWORD" "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U regtune \
  -d postgres -c 'CREATE DATABASE regtune' || die "could not create the database"
log "PostgreSQL on 127.0.0.1:$PG_PORT in $(elapsed "$t")s"

# ------------------------------------------------------------------------------ 5. the stack
API_PORT=$(free_port)
DASHBOARD_PORT=$(free_port)
ADMIN_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
cat >"$WORK/smoke.env" <<EOF
REGTUNE_IMAGE=$IMAGE
REGTUNE_API_IMAGE=$API_IMAGE
POSTGRES_PASSWORD=$POSTGRES_PASSWORD
REGTUNE_ADMIN_KEY=$ADMIN_KEY
PG_PORT=$PG_PORT
API_PORT=$API_PORT
DASHBOARD_PORT=$DASHBOARD_PORT
EOF
# The stack as docker-compose.yml + docker-compose.host.yml resolve it, less the published ports:
# with host networking there is nothing to publish, and compose v1 refuses the combination.
t=$(date +%s)
docker-compose --project-directory "$ROOT" --env-file "$WORK/smoke.env" \
  -f "$ROOT/docker-compose.yml" -f "$ROOT/docker-compose.host.yml" config >"$WORK/resolved.yml" \
  || die "docker-compose config"
python3 - "$WORK/resolved.yml" "$WORK/compose.yml" <<'EOF'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
for name, service in config["services"].items():
    assert service.get("network_mode") == "host", f"{name} is not on the host network"
    service.pop("ports", None)
yaml.safe_dump(config, open(sys.argv[2], "w"), sort_keys=False)
EOF
chmod 600 "$WORK/resolved.yml" "$WORK/compose.yml"
COMPOSE=(docker-compose --project-name "regtune-smoke-$$" --project-directory "$ROOT"
  -f "$WORK/compose.yml")
"${COMPOSE[@]}" up -d --no-build --scale "worker=$WORKERS" >"$WORK/up.log" 2>&1 \
  || { cat "$WORK/up.log" >&2; die "docker-compose up"; }
API="http://127.0.0.1:$API_PORT"
for _ in $(seq 180); do curl -sf "$API/readyz" >/dev/null && break; sleep 1; done
curl -sf "$API/readyz" >/dev/null || die "the API container never became ready"
T_UP=$(elapsed "$t")
log "stack up in ${T_UP}s: $("${COMPOSE[@]}" ps --services | tr '\n' ' ')"
migrate_id=$("${COMPOSE[@]}" ps -q migrate)
[ "$(docker inspect -f '{{.State.ExitCode}}' "$migrate_id")" = 0 ] || die "migrate did not exit 0"

NAME="smoke-$$-$(date +%s)"
# The two studies are data (scripts/compose-smoke.studies.json), so the fast test
# tests/test_shipped_definitions.py checks them against the API's rules on every change.
STUDIES="$ROOT/scripts/compose-smoke.studies.json"
definition() {
  jq -c --arg name "$2" --argjson n "$3" --argjson p "$WORKERS" \
    '.[$key] | .name = $name | .budget.n_trials = $n | .budget.max_parallel = $p' \
    --arg key "$1" "$STUDIES"
}
STUDY=$(definition study "$NAME" "$N_TRIALS") || die "cannot read $STUDIES"
t=$(date +%s)
created=$(curl -sS -f -X POST "$API/v1/studies" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $ADMIN_KEY" --data "$STUDY") || die "POST /v1/studies failed"
STUDY_ID=$(jq -r .id <<<"$created")
log "study $STUDY_ID ($NAME) submitted: $N_TRIALS trials, max_parallel $WORKERS"
status=""
for _ in $(seq 600); do
  status=$(curl -sf -H "Authorization: Bearer $ADMIN_KEY" "$API/v1/studies/$STUDY_ID" | jq -r .status)
  case "$status" in completed) break ;; cancelled|failed) die "study ended $status" ;; esac
  sleep 1
done
[ "$status" = completed ] || die "study not completed after 600s (status $status)"
T_STUDY=$(elapsed "$t")
study=$(curl -sf -H "Authorization: Bearer $ADMIN_KEY" "$API/v1/studies/$STUDY_ID")
trials=$(curl -sf -H "Authorization: Bearer $ADMIN_KEY" "$API/v1/studies/$STUDY_ID/trials?limit=500")
n_complete=$(jq '[.items[] | select(.state == "COMPLETE")] | length' <<<"$trials")
n_pruned=$(jq '[.items[] | select(.state == "PRUNED")] | length' <<<"$trials")
[ $((n_complete + n_pruned)) -eq "$N_TRIALS" ] \
  || die "expected $N_TRIALS finished trials, got $n_complete complete + $n_pruned pruned"

# which worker container ran which trials (each logs "study <id> trial <n> started")
started_by() {  # started_by STUDY_ID: NAME=COUNT per worker container
  for cid in $("${COMPOSE[@]}" ps -q worker); do
    echo "$(docker inspect -f '{{.Name}}' "$cid" | sed 's#^/##')=$(docker logs "$cid" 2>&1 \
      | grep -c "study $1 trial [0-9]* started" || true)"
  done
}
mapfile -t PER_WORKER < <(started_by "$STUDY_ID")
[ "${#PER_WORKER[@]}" -eq "$WORKERS" ] || die "expected $WORKERS worker containers"

# the best model, saved by a worker container into the shared artifact volume, downloaded from the
# host through the API container: a 200 with the whole safetensors file, as the study describes it
model_info=""
for _ in $(seq 120); do
  model_info=$(curl -sf -H "Authorization: Bearer $ADMIN_KEY" "$API/v1/studies/$STUDY_ID" \
    | jq -c '.best_model // empty') || true
  [ -n "$model_info" ] && break
  sleep 1
done
[ -n "$model_info" ] || die "study $STUDY_ID has no best model 120 s after it completed"
MODEL="$WORK/best.safetensors"
code=$(curl -sS -o "$MODEL" -w '%{http_code}' -H "Authorization: Bearer $ADMIN_KEY" \
  "$API/v1/studies/$STUDY_ID/best-model") || die "GET best-model: the download broke off"
[ "$code" = 200 ] || die "GET best-model answered $code: $(head -c 500 "$MODEL")"
MODEL_CHECK=$(python3 - "$MODEL" "$model_info" <<'EOF'
import hashlib, json, struct, sys
data, info = open(sys.argv[1], "rb").read(), json.loads(sys.argv[2])
assert len(data) > 8, f"{len(data)} bytes"
(size,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8 : 8 + size])  # a safetensors file: header length, JSON header, tensors
tensors = [k for k in header if k != "__metadata__"]
assert tensors, "no tensors in the header"
assert len(data) == info["bytes"], f"{len(data)} bytes, the study says {info['bytes']}"
assert hashlib.sha256(data).hexdigest() == info["sha256"], "sha256 differs from the study's"
print(f"{len(data)} bytes, {len(tensors)} tensors, sha256 as recorded")
EOF
) || die "the downloaded best model is not the safetensors file the study describes"
log "best model downloaded through the API: $MODEL_CHECK"

# the dashboard reads the same database and lists the study
DASH="http://127.0.0.1:$DASHBOARD_PORT"
for _ in $(seq 60); do curl -sf "$DASH/api/studies" >/dev/null && break; sleep 1; done
listed=$(curl -sf "$DASH/api/studies") || die "the dashboard's API does not answer"
grep -q "$NAME" <<<"$listed" || die "the dashboard does not list $NAME"
page=$(curl -sf "$DASH/dashboard") || die "the dashboard page does not answer"
grep -qi "<html" <<<"$page" || die "the dashboard page is not HTML"
api_cid=$("${COMPOSE[@]}" ps -q api)
health=""
for _ in $(seq 60); do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$api_cid")
  [ "$health" = healthy ] && break
  sleep 1
done
[ "$health" = healthy ] || die "api container health: $health"

# Hand-back: stop the workers in the middle of long trials. Each must exit 0 well within the
# grace period, and its trial must go back to the queue (WAITING), none left RUNNING.
LONG=$(definition handback "$NAME-handback" 6) || die "cannot read $STUDIES"
long_id=$(curl -sS -f -X POST "$API/v1/studies" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $ADMIN_KEY" --data "$LONG" | jq -r .id) || die "POST the long study"
running=0
for _ in $(seq 120); do
  running=$(curl -sf -H "Authorization: Bearer $ADMIN_KEY" "$API/v1/studies/$long_id" \
    | jq -r .progress.running)
  [ "$running" = "$WORKERS" ] && break
  sleep 1
done
[ "$running" = "$WORKERS" ] || die "the long study never had $WORKERS trials running ($running)"
worker_ids=$("${COMPOSE[@]}" ps -q worker)
stop_at=$(date +%s.%N)
# shellcheck disable=SC2086
docker stop --time 60 $worker_ids >/dev/null
STOPS=$(for cid in $worker_ids; do
  docker inspect -f '{{.State.ExitCode}} {{.State.FinishedAt}}' "$cid"
done | python3 -c '
import sys, datetime as dt
start = float(sys.argv[1])
for line in sys.stdin:
    code, finished = line.split()
    end = dt.datetime.fromisoformat(finished.rstrip("Z")[:26]).replace(tzinfo=dt.timezone.utc)
    print(f"exit {code} after {end.timestamp() - start:.1f}s")
' "$stop_at")
grep -qv '^exit 0 ' <<<"$STOPS" && die "a worker did not stop cleanly: $STOPS"
long=$(curl -sf -H "Authorization: Bearer $ADMIN_KEY" "$API/v1/studies/$long_id")
[ "$(jq '.counts.RUNNING // 0' <<<"$long")" = 0 ] || die "trials left RUNNING: $(jq -c .counts <<<"$long")"
[ "$(jq '.counts.WAITING // 0' <<<"$long")" = "$WORKERS" ] \
  || die "expected $WORKERS trials handed back (WAITING): $(jq -c .counts <<<"$long")"
# every worker container ran a trial: the short study's split among them is up to who wakes
# first (12 quick trials; one worker may take most), the long study had one trial on each
mapfile -t LONG_PER_WORKER < <(started_by "$long_id")
for entry in "${LONG_PER_WORKER[@]}"; do
  [ "${entry##*=}" -gt 0 ] || die "not every worker container ran a trial: ${LONG_PER_WORKER[*]}"
done

cat <<EOF

== compose smoke: passed ==
engine ready           ${T_ENGINE}s (dockerd, --bridge=none, host networking only)
base image             ${T_BASE}s ($BASE_TAG, debootstrap minbase + python3, cached in $CACHE)
image build            ${T_BUILD}s ($IMAGE ${IMAGE_MB} MB, $API_IMAGE ${API_IMAGE_MB} MB, $CACHED of $STEPS steps cached)
stack up (api ready)   ${T_UP}s (postgres stand-in + local PostgreSQL, migrate, api, $WORKERS workers, dashboard)
study                  ${T_STUDY}s: $N_TRIALS trials → $n_complete COMPLETE + $n_pruned PRUNED, status $(jq -r .status <<<"$study")
trials per worker      ${PER_WORKER[*]} (the long study: ${LONG_PER_WORKER[*]})
best value             $(jq -r '.best_trial.value // "n/a"' <<<"$study")
best model             $MODEL_CHECK (downloaded from the API; a worker saved it)
dashboard              lists "$NAME"; api container $health
hand-back              $WORKERS workers stopped mid-trial, trials $(jq -c .counts <<<"$long")
workers stopped        $(tr '\n' ';' <<<"$STOPS" | sed 's/;$//; s/;/; /g')
total so far           $(elapsed "$T0")s (teardown follows)
EOF
