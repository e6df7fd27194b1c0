#!/usr/bin/env bash
# Builds the container image from deploy/Dockerfile with podman, offline from any registry,
# and smoke-tests it against a throwaway PostgreSQL on this host. Called by .ci/run after
# deploy/test.sh; runs as root (rootful podman) on Debian 12.
#   deploy/container-test.sh [--base-images] [--no-build] [--no-compose] [--keep]
#     --base-images only set podman up and make the two Debian base images, then stop
#     --no-build    test the image already tagged $BIOMERO_REACTOR_IMAGE (default
#                   localhost/biomero-reactor:latest) instead of building it
#     --no-compose  skip the podman-compose run of deploy/docker-compose.yml
#     --keep        leave the temporary directory (configs, logs, storage) for a look
# BIOMERO_REACTOR_CONTAINER_TEST=required turns "podman cannot run here" from a skip into
# a failure.
#
# 1. Installs podman, buildah, runc, mmdebstrap, podman-compose (and the CNI dnsname
#    plugin) if missing, and the test packages (deploy/install-and-build.sh --packages-only).
# 2. Podman settings in a private containers.conf (CONTAINERS_CONF; /etc is not touched):
#    runc (crun refuses mixed cgroup v1/v2 hosts), and resource limits the container may
#    raise to (nofile at most 20000 and the host's hard limit, nproc at most 32768).
# 3. debian:bookworm and debian:bookworm-slim, when absent, are made with mmdebstrap from
#    the Debian mirror this host's apt uses and imported as localhost/debian:*: no registry.
#    If no container can start at all, the test is SKIPPED with a banner (never silently).
# 4. podman build --pull=never --network=host --format docker (docker format keeps the
#    HEALTHCHECK; host network lets apt in the build reach the mirror).
# 5. The smoke test (see deploy/README.md "What the container test checks").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
image=${BIOMERO_REACTOR_IMAGE:-localhost/biomero-reactor:latest}
build=yes compose=yes keep=no base_only=no
for a in "$@"; do
  case "$a" in
  --base-images) base_only=yes ;;
  --no-build) build=no ;;
  --no-compose) compose=no ;;
  --keep) keep=yes ;;
  *) sed -n '6,12p' "$0" >&2; exit 2 ;;
  esac
done

t_start=$SECONDS
say() { echo "container-test: $*"; }
fail() { echo "container-test: FAIL: $*" >&2; exit 1; }
skip() {
  {
    echo "################################################################################"
    echo "container-test: SKIPPED: the container image was NOT built or tested."
    echo "container-test: $*"
    echo "################################################################################"
  } >&2
  [ "${BIOMERO_REACTOR_CONTAINER_TEST:-}" = required ] && fail "BIOMERO_REACTOR_CONTAINER_TEST=required"
  exit 0
}
phase_start=$SECONDS
timings=()
phase_done() { timings+=("$1: $((SECONDS - phase_start)) s"); phase_start=$SECONDS; }

if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then exec sudo -E "$0" "$@"; fi
  skip "it needs root (rootful podman: bind mounts owned by uid 1000, published ports); run it as root or with passwordless sudo"
fi

# ---- 1. packages -------------------------------------------------------------------
container_packages=(podman buildah runc mmdebstrap podman-compose golang-github-containernetworking-plugin-dnsname)
missing=()
for p in "${container_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || skip "podman is not installed and this is not a Debian system (no apt-get)"
  say "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
deploy/install-and-build.sh --packages-only   # postgresql etc. for the throwaway cluster
phase_done "packages"

# ---- 2. podman settings ------------------------------------------------------------
state=$root/build/container-test
mkdir -p "$state"
hard_nofile=$(ulimit -Hn); [ "$hard_nofile" = unlimited ] && hard_nofile=1048576
hard_nproc=$(ulimit -Hu); [ "$hard_nproc" = unlimited ] && hard_nproc=32768
nofile=$((hard_nofile < 20000 ? hard_nofile : 20000))
nproc=$((hard_nproc < 32768 ? hard_nproc : 32768))
{
  echo "# Written by deploy/container-test.sh; used through CONTAINERS_CONF."
  echo "[containers]"
  echo "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
  echo "[engine]"
  echo "runtime = \"runc\""
  if [ ! -d /run/systemd/system ]; then
    echo "cgroup_manager = \"cgroupfs\""
    echo "events_logger = \"file\""
  fi
} > "$state/containers.conf"
export CONTAINERS_CONF=$state/containers.conf
# Without systemd, podman cannot schedule health checks with timers (4.3 logs an error per
# container start and goes on); they are run by hand with `podman healthcheck run`.
[ -d /run/systemd/system ] || export DISABLE_HC_SYSTEMD=true
podman info >/dev/null 2>"$state/podman-info.err" || skip "podman info failed: $(tail -n 3 "$state/podman-info.err")"

# ---- 3. base images ----------------------------------------------------------------
# The Debian suites apt uses here (one-line and deb822 sources), for bookworm only.
apt_mirror_lines() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -E -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 ~ /^bookworm(-updates|-security)?$/ {
      line = "deb " $2 " " $3; for (i = 4; i <= NF; i++) line = line " " $i; print line }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'function flush(  u, s, nu, ns, i, j) {
           if (types ~ /(^| )deb( |$)/ && enabled !~ /^(no|false)$/) {
             nu = split(uris, u, " "); ns = split(suites, s, " ")
             for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++)
               if (s[j] ~ /^bookworm(-updates|-security)?$/) print "deb " u[i] " " s[j] " " comps
           }
           types = uris = suites = comps = enabled = "" }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
           if (key == "types") types = $0; else if (key == "uris") uris = $0
           else if (key == "suites") suites = $0; else if (key == "components") comps = $0
           else if (key == "enabled") enabled = tolower($0) }
         END { flush() }' "$f"
  done
}
make_base_image() {
  local name=$1; shift
  if podman image exists "$name"; then say "$name: present"; return; fi
  mapfile -t mirrors < <(apt_mirror_lines | awk '!seen[$0]++')
  [ ${#mirrors[@]} -gt 0 ] || mirrors=("deb http://deb.debian.org/debian bookworm main")
  say "$name: mmdebstrap from ${mirrors[*]}"
  # merged-usr hook: /usr merged by mmdebstrap itself, with usr-is-merged instead of the
  # usrmerge package (which pulls in perl, 50 MB), as in Debian's official images.
  mmdebstrap --quiet --variant=minbase --format=tar --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    "$@" bookworm - "${mirrors[@]}" 2>"$state/mmdebstrap.log" \
    | podman import --quiet --change 'CMD ["bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "localhost/$name" >/dev/null \
    || { tail -n 20 "$state/mmdebstrap.log" >&2; fail "making $name (log: $state/mmdebstrap.log)"; }
}
make_base_image debian:bookworm
# What the official -slim variant leaves out (debuerreotype --slimify).
make_base_image debian:bookworm-slim \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/groff/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='path-exclude=/usr/share/linda/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias'
if ! podman run --rm --network=none debian:bookworm-slim true >/dev/null 2>"$state/probe.err"; then
  skip "podman cannot start a container on this machine: $(tail -n 3 "$state/probe.err")"
fi
phase_done "podman set-up and base images"
[ "$base_only" = no ] || { say "base images ready (${timings[*]})"; exit 0; }

# ---- 4. the image ------------------------------------------------------------------
if [ "$build" = yes ]; then
  say "building $image (podman build --pull=never --network=host --format docker)"
  podman build --pull=never --network=host --format docker -f deploy/Dockerfile -t "$image" . \
    > "$state/build.log" 2>&1 || { tail -n 40 "$state/build.log" >&2; fail "podman build (log: $state/build.log)"; }
  phase_done "image build"
fi
podman image exists "$image" || fail "no image $image (build it, or leave out --no-build)"
image_mb=$(( $(podman image inspect --format '{{.Size}}' "$image") / 1000000 ))
say "image $image: $image_mb MB"

# ---- 5. smoke test -----------------------------------------------------------------
# The stand-in BIOMERO and importer run on the host (they play other containers' parts):
# from deploy/test.sh's build, or built now.
standin=$root/build/test/biomero-standin
if [ ! -x "$standin" ]; then
  say "building the stand-in (build/test/biomero-standin)"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBIOMERO_REACTOR_TESTS=ON >/dev/null
  cmake --build build -j"$(nproc)" --target biomero-standin >/dev/null
fi
port=9481   # the image's health and metrics port (EXPOSE, compose, docs)
tmp=$(mktemp -d /tmp/biomero-container-test.XXXXXX)
chmod 0755 "$tmp"
run_name=biomero-reactor-ct-$$
importer_pid=""
cleanup() {
  local rc=$?
  trap - EXIT
  podman rm -f -t 0 "$run_name" >/dev/null 2>&1 || true
  [ -n "$importer_pid" ] && kill "$importer_pid" 2>/dev/null || true
  [ -n "${compose_cleanup:-}" ] && eval "$compose_cleanup" >/dev/null 2>&1 || true
  "$root/test/support/pg-cluster" stop "$tmp/pg" || true
  if [ "$keep" = yes ] || [ $rc != 0 ]; then echo "container-test: left $tmp for a look" >&2; else rm -rf "$tmp"; fi
  exit $rc
}
trap cleanup EXIT

"$root/test/support/pg-cluster" start "$tmp/pg" >/dev/null
pgport=$(cat "$tmp/pg/port")
# The host's cluster listens on 127.0.0.1 only; containers on a bridge network reach it
# through its socket directory, mounted at /run/pgsock.
host_db="host=$tmp/pg/sock port=$pgport user=postgres dbname=biomero_template"
container_db="host=/run/pgsock port=$pgport user=postgres dbname=biomero_template"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
psql_host() { "$pg_bin/psql" -X -q -t -A -h "$tmp/pg/sock" -p "$pgport" -U postgres -d biomero_template -c "$1"; }

# The storage is mounted at the same path inside as outside, as NL-BIOMERO mounts /data
# in every container: upload orders name files by that path, and the stand-in importer
# (on the host) checks them.
data=$tmp/data
mkdir -p "$data" "$tmp/results" "$tmp/config-importer"
chown 1000:1000 "$data"
echo "base_dir: $data" > "$tmp/config-importer/settings.yml"
echo '{"group_mappings": {"3": {"folder": "demo-lab", "groupName": "Demo"}}}' > "$tmp/biomero-config.json"
# The compose file's reactor.yml, plus what BIOMERO's workflow parameters would name.
{ cat deploy/config/biomero-reactor/reactor.yml
  printf 'destination:\n  type: Dataset\n  id: "51"\nnames:\n  users: {2: alice}\n'; } > "$tmp/reactor.yml"
run_flags=(
  --network=bridge
  -v "$tmp/config-importer:/opt/omero/server/config-importer:ro"
  -v "$tmp/biomero-config.json:/opt/omero/server/biomero-config.json:ro"
  -v "$tmp/results:/results:ro"
  -v "$tmp/pg/sock:/run/pgsock"
  -e "SQLALCHEMY_URL=$container_db"
  -e "INGEST_TRACKING_DB_URL=$container_db"
  -e "IMPORTER_CONFIG_PATH=/opt/omero/server/config-importer/settings.yml"
  -e "OMERO_BIOMERO_CONFIG_FILE=/opt/omero/server/biomero-config.json"
  -e "BIOMERO_REACTOR_SPOOL=$data/.biomero-reactor/spool"
)
config_flag=(-v "$tmp/reactor.yml:/etc/biomero-reactor/reactor.yml:ro")
data_flag=(-v "$data:$data")
reactor() { podman run --rm "${run_flags[@]}" "${config_flag[@]}" "${data_flag[@]}" "$image" "$@"; }
expect_exit() {  # expect_exit WANT WHAT COMMAND...
  local want=$1 what=$2 rc=0; shift 2
  "$@" > "$tmp/out.txt" 2>&1 || rc=$?
  [ "$rc" = "$want" ] || { cat "$tmp/out.txt" >&2; fail "$what: exit $rc, expected $want"; }
  say "ok: $what (exit $rc)"
}
http_get() {  # prints "STATUS BODY" for http://127.0.0.1:PORT/PATH
  python3 - "$1" "$2" <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=5)
    print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except Exception as e:
    print(0, e)
PY
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The image itself.
version=$(sed -n 's/^project(biomero-reactor VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
out=$(podman run --rm --network=none "$image" --version)
grep -q "$version" <<<"$out" || fail "--version printed \"$out\", expected $version"
say "ok: --version: $out"
inspect=$(podman image inspect --format '{{.Config.User}}|{{json .Config.ExposedPorts}}|{{json .HealthCheck.Test}}' "$image")
[[ "$inspect" == "1000:1000|"* ]] || fail "image user: $inspect (expected 1000:1000)"
[[ "$inspect" == *"\"$port/tcp\""* ]] || fail "image does not expose $port/tcp: $inspect"
[[ "$inspect" == *health* ]] || fail "image has no HEALTHCHECK (built without --format docker?): $inspect"
say "ok: image runs as 1000:1000, exposes $port/tcp, has a HEALTHCHECK"
podman run --rm --network=none --entrypoint /bin/sh "$image" -c '
  set -e
  [ "$(id -u):$(id -g)" = 1000:1000 ] || { echo "running as $(id -u):$(id -g)"; exit 1; }
  for c in cc gcc g++ c++ clang cpp ld as make cmake; do
    if command -v "$c" >/dev/null; then echo "compiler tool in the image: $c"; exit 1; fi
  done
  ldd /usr/local/bin/biomero-reactor > /tmp/ldd.txt || { cat /tmp/ldd.txt; exit 1; }
  if grep -q "not found" /tmp/ldd.txt; then grep "not found" /tmp/ldd.txt; exit 1; fi
  grep -q "^  listen: \"127.0.0.1:'"$port"'\"" /etc/biomero-reactor/reactor.yml \
    || { echo "default http.listen is not 127.0.0.1:'"$port"'"; grep listen /etc/biomero-reactor/reactor.yml; exit 1; }
' > "$tmp/out.txt" 2>&1 || { cat "$tmp/out.txt" >&2; fail "inside the image"; }
say "ok: no compiler in the image; ldd resolves every library; default listen 127.0.0.1:$port"

# install-sql and check.
expect_exit 0 "install-sql" reactor install-sql
expect_exit 0 "check with a writable storage volume" reactor check
grep -q "check passed" "$tmp/out.txt" || { cat "$tmp/out.txt" >&2; fail "check did not say it passed"; }
mkdir -p "$tmp/root-owned"
expect_exit 1 "check with storage not writable by uid 1000" \
  podman run --rm "${run_flags[@]}" "${config_flag[@]}" -v "$tmp/root-owned:$data" "$image" check
grep -q "not writable\|Permission denied" "$tmp/out.txt" || { cat "$tmp/out.txt" >&2; fail "check did not name the storage"; }
printf 'database:\n  pool_sise: 4\n' > "$tmp/bad.yml"
expect_exit 78 "check with a bad config" \
  podman run --rm "${run_flags[@]}" -v "$tmp/bad.yml:/etc/biomero-reactor/reactor.yml:ro" "${data_flag[@]}" "$image" check
phase_done "smoke: image, install-sql, check"

# run: a workflow from the stand-in BIOMERO, imported by the stand-in importer.
hport=$(free_port)
podman run -d --name "$run_name" "${run_flags[@]}" "${config_flag[@]}" "${data_flag[@]}" -p "127.0.0.1:$hport:$port" "$image" >/dev/null 2>"$tmp/run-d.err" \
  || { cat "$tmp/run-d.err" >&2; fail "podman run -d"; }
ready=""
for _ in $(seq 60); do
  ready=$(http_get "$hport" /readyz)
  [[ "$ready" == "200 "* ]] && break
  sleep 1
done
[[ "$ready" == "200 "* ]] || { podman logs "$run_name" | tail -n 20 >&2; fail "/readyz through 127.0.0.1:$hport: $ready"; }
say "ok: /readyz through the published port: $ready"
healthz=$(http_get "$hport" /healthz)
[[ "$healthz" == "200 "*'"ok"'* ]] || fail "/healthz: $healthz"
say "ok: /healthz through the published port: $healthz"
"$standin" importer --db "$host_db" --interval 500 > "$tmp/importer.log" 2>&1 &
importer_pid=$!
wf=$("$standin" workflow --db "$host_db" --results "$tmp/results" --job 4321 --group 3 --user 2)
say "stand-in BIOMERO: workflow $wf (SLURM job 4321) completed"
state_now=""
for _ in $(seq 120); do
  state_now=$(psql_host "SELECT state FROM biomero_reactor.jobs WHERE slurm_job_id = '4321'")
  [ "$state_now" = imported ] || [ "$state_now" = failed ] && break
  sleep 1
done
if [ "$state_now" != imported ]; then
  podman logs "$run_name" 2>&1 | tail -n 30 >&2; cat "$tmp/importer.log" >&2
  fail "job for SLURM job 4321 is \"$state_now\", not imported"
fi
say "ok: the workflow was imported: $(psql_host "SELECT string_agg(to_state, ' > ' ORDER BY id) FROM biomero_reactor.job_history")"
metrics=$(http_get "$hport" /metrics)
grep -q 'biomero_reactor_jobs_total{outcome="imported"} 1' <<<"$metrics" || fail "/metrics does not count the import"
say "ok: /metrics counts it"
hc=$(podman healthcheck run "$run_name" 2>&1) || fail "podman healthcheck run: $hc"
say "ok: the image's HEALTHCHECK: ${hc:-healthy}"
podman exec "$run_name" biomero-reactor --config /etc/biomero-reactor/reactor.yml health --ready >/dev/null \
  || fail "health --ready inside the container"
wrong=$(find "$data" \( ! -uid 1000 -o ! -gid 1000 \) -printf '%u:%g %p\n')
[ -z "$wrong" ] || fail "files in the storage volume not owned by 1000:1000:"$'\n'"$wrong"
say "ok: $(find "$data" -mindepth 1 | wc -l) files and directories in the storage volume, all owned by 1000:1000"
t0=$(date +%s%N)
podman stop -t 30 "$run_name" >/dev/null
stopped_ms=$((($(date +%s%N) - t0) / 1000000)); stopped=$((stopped_ms / 1000))
rc=$(podman inspect --format '{{.State.ExitCode}}' "$run_name")
[ "$rc" = 0 ] || { podman logs "$run_name" | tail -n 5 >&2; fail "exit code $rc after SIGTERM (137: killed after the grace time)"; }
[ "$stopped" -lt 25 ] || fail "SIGTERM took ${stopped}s"
say "ok: SIGTERM stopped it in ${stopped_ms} ms with exit 0 (grace: jobs.shutdown_grace 20s, stop_grace_period 30s)"
podman rm "$run_name" >/dev/null
kill "$importer_pid"; wait "$importer_pid" 2>/dev/null || true; importer_pid=""
phase_done "smoke: run, endpoints, health check, SIGTERM"

# ---- 6. deploy/docker-compose.yml with podman-compose ------------------------------
# The file itself, in a copy of the folder layout it expects (NL-BIOMERO's: ./config,
# ./web). What is not in this file: the database is the throwaway cluster through its
# socket (an override file; the file's own postgres:16 service needs a registry), and
# /results is the stand-in's results folder.
if [ "$compose" = yes ]; then
  proj=$tmp/compose
  mkdir -p "$proj"
  cp deploy/docker-compose.yml "$proj/"
  expect_exit 1 "compose-preflight refuses a checkout without the mount sources" \
    deploy/compose-preflight.sh "$proj/docker-compose.yml"
  mkdir -p "$proj/config/biomero-reactor" "$proj/config/biomero-importer" "$proj/web/L-Drive" \
    "$proj/web/biomero-config.json"
  cp deploy/config/biomero-reactor/reactor.yml "$proj/config/biomero-reactor/"
  expect_exit 1 "compose-preflight refuses biomero-config.json as a directory" \
    deploy/compose-preflight.sh "$proj/docker-compose.yml"
  rmdir "$proj/web/biomero-config.json"
  cp "$tmp/biomero-config.json" "$proj/web/biomero-config.json"
  printf 'destination:\n  type: Dataset\n  id: "51"\nnames:\n  users: {2: alice}\n' \
    >> "$proj/config/biomero-reactor/reactor.yml"
  echo "base_dir: /data" > "$proj/config/biomero-importer/settings.yml"
  chown 1000:1000 "$proj/web/L-Drive"
  expect_exit 0 "compose-preflight" deploy/compose-preflight.sh "$proj/docker-compose.yml"
  cat > "$proj/ci-override.yml" <<YAML
services:
  biomero-reactor-install-sql:
    environment: {SQLALCHEMY_URL: "$container_db", INGEST_TRACKING_DB_URL: "$container_db"}
    volumes: ["$tmp/pg/sock:/run/pgsock"]
  biomero-reactor:
    environment: {SQLALCHEMY_URL: "$container_db", INGEST_TRACKING_DB_URL: "$container_db"}
    volumes: ["$tmp/pg/sock:/run/pgsock", "$tmp/results:/results:ro"]
YAML
  [ "$image" = localhost/biomero-reactor:latest ] || podman tag "$image" localhost/biomero-reactor:latest
  pc=(podman-compose -p biomero-reactor-ct -f "$proj/docker-compose.yml" -f "$proj/ci-override.yml")
  compose_cleanup='"${pc[@]}" down -v -t 0; podman network rm -f biomero-reactor-ct_omero'
  # A database the reactor has never seen: install-sql has work to do, and the reactor may
  # start before it is done (podman-compose 1.0.3 ignores depends_on conditions).
  psql_host "SET client_min_messages = warning; DROP SCHEMA biomero_reactor CASCADE" >/dev/null
  "${pc[@]}" up -d --no-build --no-deps biomero-reactor-install-sql biomero-reactor > "$tmp/compose-up.log" 2>&1 \
    || { cat "$tmp/compose-up.log" >&2; fail "podman-compose up"; }
  c_sql=biomero-reactor-ct_biomero-reactor-install-sql_1
  c_run=biomero-reactor-ct_biomero-reactor_1
  rc=$(podman wait "$c_sql")
  [ "$rc" = 0 ] || { podman logs "$c_sql" >&2; fail "compose: install-sql exited $rc"; }
  say "ok: compose: the install-sql one-shot completed: $(podman logs "$c_sql" 2>&1 | head -n 1)"
  ready=""
  for _ in $(seq 90); do
    ready=$(http_get 9481 /readyz)
    [[ "$ready" == "200 "* ]] && break
    sleep 1
  done
  [[ "$ready" == "200 "* ]] || { podman logs "$c_run" 2>&1 | tail -n 20 >&2; fail "compose: /readyz on 127.0.0.1:9481: $ready"; }
  say "ok: compose: the reactor is ready on the published 127.0.0.1:9481 after $(podman inspect --format '{{.RestartCount}}' "$c_run") restart(s)"
  hc=$(podman healthcheck run "$c_run" 2>&1) || fail "compose: podman healthcheck run: $hc"
  c_user=$(podman container inspect --format '{{.Config.User}}' "$c_run")
  c_log=$(podman container inspect --format '{{.HostConfig.LogConfig.Type}} max-size {{.HostConfig.LogConfig.Size}}' "$c_run")
  c_nets=$(podman container inspect --format '{{json .NetworkSettings.Networks}}' "$c_run")
  c_ports=$(podman container inspect --format '{{json .HostConfig.PortBindings}}' "$c_run")
  [ "$c_user" = 1000:1000 ] || fail "compose: the reactor runs as \"$c_user\", not 1000:1000"
  [[ "$c_nets" == *'"biomero-reactor-ct_omero"'* ]] || fail "compose: the reactor is not on the omero network: $c_nets"
  [[ "$c_ports" == *'"HostIp":"127.0.0.1","HostPort":"9481"'* ]] || fail "compose: 9481 not published on 127.0.0.1 only: $c_ports"
  say "ok: compose: runs as $c_user on network biomero-reactor-ct_omero, 9481 published on 127.0.0.1, logs: $c_log"
  wf=$("$standin" workflow --db "$host_db" --results "$tmp/results" --job 5678 --group 3 --user 2)
  state_now=""
  for _ in $(seq 90); do
    state_now=$(psql_host "SELECT state FROM biomero_reactor.jobs WHERE slurm_job_id = '5678'")
    [ "$state_now" = submitted ] || [ "$state_now" = failed ] && break
    sleep 1
  done
  [ "$state_now" = submitted ] || { podman logs "$c_run" 2>&1 | tail -n 20 >&2; fail "compose: job 5678 is \"$state_now\", not submitted"; }
  wrong=$(find "$proj/web/L-Drive" \( ! -uid 1000 -o ! -gid 1000 \) -printf '%u:%g %p\n')
  [ -z "$wrong" ] || fail "compose: files in ./web/L-Drive not owned by 1000:1000:"$'\n'"$wrong"
  say "ok: compose: a workflow's results archived into ./web/L-Drive as 1000:1000 and its upload order submitted (files: $(psql_host "SELECT left(files, 120) FROM public.imports WHERE stage = 'Import Pending' AND files LIKE '%5678%' ORDER BY id DESC LIMIT 1"))"
  t0=$(date +%s%N)
  podman stop -t 30 "$c_run" >/dev/null   # stop_grace_period: podman-compose 1.0.3 ignores it
  rc=$(podman inspect --format '{{.State.ExitCode}}' "$c_run")
  [ "$rc" = 0 ] || fail "compose: exit code $rc after SIGTERM"
  say "ok: compose: SIGTERM stopped it in $((($(date +%s%N) - t0) / 1000000)) ms with exit 0"
  "${pc[@]}" down -v -t 0 > "$tmp/compose-down.log" 2>&1 || { cat "$tmp/compose-down.log" >&2; fail "podman-compose down"; }
  podman network rm -f biomero-reactor-ct_omero >/dev/null 2>&1 || true
  compose_cleanup=""
  phase_done "podman-compose"
fi

say "PASSED in $((SECONDS - t_start)) s (${timings[*]/%/;}); image $image $image_mb MB"
