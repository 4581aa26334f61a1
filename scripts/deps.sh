# Sourced by scripts/demo and scripts/test: installs what is missing from
# Debian's packages (as root, or through sudo when available) and builds.
PACER_DEBS="build-essential cmake pkg-config libcurl4-openssl-dev libuv1-dev
libcjson-dev libhiredis-dev libmicrohttpd-dev libcmocka-dev libsodium-dev
zlib1g-dev libnghttp2-dev redis-server redis-tools curl jq ca-certificates
groff-base prometheus chromium"

pacer_install_deps() {
  local missing=() p
  for p in $PACER_DEBS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null &&
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# pacer_build DIR [CMAKE_ARGS...]
pacer_build() {
  local dir=$1
  shift
  cmake -S "$PACER_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null &&
    cmake --build "$dir" -j"$(nproc)" >/dev/null
}
