#!/usr/bin/env bash
# Refuses to start a compose file whose bind-mount sources are not there yet. Docker and
# podman create a missing source as an empty directory: a missing biomero-config.json
# becomes a directory, and the reactor restarts in a loop. Run it before `up`:
#   deploy/compose-preflight.sh [COMPOSE_FILE] [SERVICE_PREFIX]
# COMPOSE_FILE defaults to deploy/docker-compose.yml; relative sources are relative to its
# folder. Only the mounts of services whose name starts with SERVICE_PREFIX (default
# biomero-reactor) are checked, so it also works on NL-BIOMERO's whole file.
# A source must exist; a target that names a file (reactor.yml, biomero-config.json, *.py,
# ...) must have a regular file as its source, not a directory. Exit 1 lists every problem.
set -euo pipefail
file=${1:-$(dirname "$0")/docker-compose.yml}
prefix=${2:-biomero-reactor}
[ -f "$file" ] || { echo "compose-preflight: no compose file $file" >&2; exit 2; }
dir=$(cd "$(dirname "$file")" && pwd)

# "service<TAB>source<TAB>target" for the short-form bind mounts ("./src:/target[:mode]")
# of the services whose name starts with the prefix, and of x- blocks they merge in.
mounts=$(awk -v prefix="$prefix" '
  /^[^ #][^:]*:/ { top = $1; sub(/:.*/, "", top) }
  /^  [A-Za-z0-9_.-]+:[ \t]*(&[A-Za-z0-9_-]+)?[ \t]*$/ && top == "services" { svc = $1; sub(/:.*/, "", svc) }
  {
    line = $0
    if (line !~ /^[ \t]+-[ \t]+["'\'']?(\.\.?\/|\/|~)[^:]*:\//) next
    if (!(top ~ /^x-/ || (top == "services" && index(svc, prefix) == 1))) next
    sub(/^[ \t]+-[ \t]+["'\'']?/, "", line); sub(/["'\''][ \t]*(#.*)?$/, "", line); sub(/[ \t]+#.*$/, "", line)
    n = split(line, part, ":")
    print (top ~ /^x-/ ? top : svc) "\t" part[1] "\t" part[2]
  }' "$file" | awk -F'\t' '!seen[$2 FS $3]++')

problems=0
while IFS=$'\t' read -r svc src target; do
  [ -n "$src" ] || continue
  case "$src" in
  /*) path=$src ;;
  "~"*) path=$HOME${src#\~} ;;
  *) path=$dir/$src ;;
  esac
  base=${target##*/}
  wants_file=no
  case "$base" in *.yml|*.yaml|*.json|*.py|*.ini|*.conf|*.cfg|*.toml|*.env|*.pem|*.crt|*.key) wants_file=yes ;; esac
  if [ ! -e "$path" ]; then
    echo "compose-preflight: $svc: $src does not exist (mounted at $target); create it first" \
      "$([ $wants_file = yes ] && echo '(a file)' || echo '(a directory)')" >&2
    problems=$((problems + 1))
  elif [ $wants_file = yes ] && [ -d "$path" ]; then
    echo "compose-preflight: $svc: $src is a directory, but $target must be a file" \
      "(a missing file mounted earlier becomes a directory: remove it and put the file there)" >&2
    problems=$((problems + 1))
  fi
done <<<"$mounts"
if [ $problems -gt 0 ]; then
  echo "compose-preflight: $problems problem(s) in $file; not starting" >&2
  exit 1
fi
echo "compose-preflight: $(grep -c . <<<"$mounts") bind mounts of $prefix* in $file are in place"
