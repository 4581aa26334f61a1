# Sourced by scripts/demo and scripts/test: installs what is missing from
# Debian's packages (as root, or through sudo when available) and builds.
#
# Two sets, so each command installs only what it needs:
#   PACER_DEBS_BUILD  build pacer and pacer-testapi, and run them
#                     (`pacer run` starts a private redis-server; tzdata
#                     for `pacer schedule add --tz`);
#                     scripts/demo installs only these.
#   PACER_DEBS_TEST   the test toolchain on top: cmocka (unit tests),
#                     libnghttp2 (pacer-testapi-h2), jq/curl/redis-cli (the
#                     integration scripts), groff (the man page test),
#                     prometheus (promtool, e2e_metrics), chromium
#                     (e2e_dashboard), clang-format 14 (lint), the
#                     openssl CLI (test certificates, e2e_redis_tls),
#                     python3-redis (the README's Python client,
#                     e2e_clients), and
#                     Debian's nodejs and npm unless an npm is already
#                     on the PATH (a NodeSource node bundles its own npm
#                     and conflicts with Debian's): tests/node, the
#                     OAuth2 server of the e2e_cred_* tests; nginx-light
#                     (the strict upstream of e2e_nginx_limits and
#                     bench/limits.sh, tests/upstream/nginx_limits.sh).
PACER_DEBS_BUILD="gcc libc6-dev make cmake pkg-config libcurl4-openssl-dev
libuv1-dev libcjson-dev libhiredis-dev libmicrohttpd-dev libsodium-dev
zlib1g-dev libssl-dev redis-server curl tzdata"
PACER_DEBS_TEST="libcmocka-dev libnghttp2-dev redis-tools jq ca-certificates
openssl groff-base prometheus chromium clang-format nginx-light
python3-redis"
command -v npm >/dev/null 2>&1 || PACER_DEBS_TEST="$PACER_DEBS_TEST nodejs npm"

# pacer_install_deps PACKAGE...: installs those that are missing. apt's own
# summary lines (how many packages, "Need to get N MB") are shown as they
# are, then one dot per package downloaded and per package set up, so a
# slow mirror is never silence. The full apt output is kept in a log that
# is printed when apt fails.
pacer_install_deps() {
  local - missing=() p sudo="" log rc
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp /tmp/pacer-apt-XXXXXX.log)
  echo "apt: installing ${#missing[@]} missing package(s) and their dependencies: ${missing[*]}" >&2
  echo "apt: updating the package lists ..." >&2
  if ! $sudo apt-get update -q >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "apt: apt-get update failed (full output: $log)" >&2
    return 1
  fi
  set +o pipefail
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" 2>&1 |
    tee -a "$log" | awk '
      /newly installed|^Need to get|^After this operation/ { print "apt: " $0; fflush() }
      /^Get:/        { if (!g++) printf "apt: downloading "; printf "."; fflush() }
      /^Setting up / { if (!s++) printf "%sapt: setting up ", (g ? "\n" : ""); printf "."; fflush() }
      END            { if (g || s) print "" }' >&2
  rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    tail -n 20 "$log" >&2
    echo "apt: apt-get install failed with status $rc (full output: $log)" >&2
    return 1
  fi
  rm -f "$log"
}

# pacer_build DIR [CMAKE_ARGS...] [-- TARGET...]: configures and builds,
# printing one line per finished target with cmake's percentage, so a long
# build on 2 cores shows where it is.
pacer_build() {
  local - dir=$1 args=() targets=() rc
  shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    args+=("$1")
    shift
  done
  [ $# -gt 0 ] && shift
  for t in "$@"; do targets+=(--target "$t"); done
  mkdir -p "$dir"
  cmake -S "$PACER_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    ${args[@]+"${args[@]}"} >"$dir/pacer-configure.log" 2>&1 || {
    cat "$dir/pacer-configure.log" >&2
    return 1
  }
  set +o pipefail
  cmake --build "$dir" -j"${PACER_JOBS:-$(nproc)}" ${targets[@]+"${targets[@]}"} 2>&1 |
    tee "$dir/pacer-build.log" |
    sed -un 's/^\[ *\([0-9]*%\)\] Built target \(.*\)/  \1 built \2/p' >&2
  rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    grep -E "error|Error" "$dir/pacer-build.log" | head -n 30 >&2
    echo "build failed (full output: $dir/pacer-build.log)" >&2
    return 1
  fi
}
