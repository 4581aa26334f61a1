#!/usr/bin/env bash
# Layer check (docs/ARCHITECTURE.md): dependencies point down,
#   cli -> scheduler/server -> store/workers -> core -> common,
# and core/ is pure: no libuv, hiredis or libcurl header, no clock read,
# no file, socket or environment I/O. Usage: layers.sh SOURCE_DIR
set -u
cd "$1" || exit 2
status=0
rank() {
  case $1 in
  common) echo 0 ;; core) echo 1 ;; store | workers) echo 2 ;;
  scheduler | server) echo 3 ;; cli) echo 4 ;; *) echo -1 ;;
  esac
}
for dir in common core store workers scheduler server cli; do
  mine=$(rank "$dir")
  for f in "$dir"/*.[ch]; do
    [ -e "$f" ] || continue
    while IFS= read -r inc; do
      tdir=${inc%%/*}
      theirs=$(rank "$tdir")
      [ "$theirs" -lt 0 ] && continue
      if [ "$theirs" -gt "$mine" ] ||
        { [ "$theirs" -eq "$mine" ] && [ "$tdir" != "$dir" ]; }; then
        echo "$f includes \"$inc\": $dir may not depend on $tdir"
        status=1
      fi
    done < <(sed -nE 's/^#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/p' "$f")
  done
done
# core/ purity: the I/O libraries, clocks and I/O calls.
if grep -nE '^#[[:space:]]*include[[:space:]]*<(uv\.h|uv/|hiredis/|curl/|microhttpd\.h)' \
  core/*.[ch]; then
  echo "core/ includes an I/O library header (core must stay pure)"
  status=1
fi
clock='\b(clock_gettime|gettimeofday|time|uv_now|uv_hrtime|pacer_clock_mono_ms|pacer_clock_unix_ms)[[:space:]]*\('
io='\b(open|fopen|read|fread|write|fwrite|getenv|secure_getenv|socket|connect|stat|fstat|lstat)[[:space:]]*\('
if grep -nE "$clock|$io" core/*.c | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)'; then
  echo "core/ reads a clock or does I/O (pass now_ms in; do I/O outside core/)"
  status=1
fi
[ $status -eq 0 ] && echo "layers: ok"
exit $status
