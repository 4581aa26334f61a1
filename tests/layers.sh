#!/usr/bin/env bash
# Layer check (docs/ARCHITECTURE.md): dependencies point down,
#   cli -> scheduler/server -> store/workers -> core -> common,
# core/ is pure: no libuv, hiredis or libcurl header, no clock read,
# no file, socket or environment I/O; no source file is over 800 lines
# unless it is one concept (the allow-list below); no header includes
# itself, directly or through others. Usage: layers.sh SOURCE_DIR
# (ctest `layers`; core/CMakeLists.txt checks what pacer_core links).
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

# One concept per file: at most 800 lines, except the files below. Each
# entry says why: one concept that reads best whole, or a split under way.
max_lines=800
allow_long=(
  core/ratelimit_hdr.c    # one concept: the RateLimit and X-RateLimit headers
)
for dir in common core store workers scheduler server cli; do
  for f in "$dir"/*.[ch]; do
    [ -e "$f" ] || continue
    n=$(wc -l <"$f")
    [ "$n" -le $max_lines ] && continue
    case " ${allow_long[*]} " in *" $f "*) continue ;; esac
    echo "$f has $n lines (over $max_lines): split it by concept, or add it"
    echo "  to allow_long in tests/layers.sh saying why it is one concept"
    status=1
  done
done

# Include cycles: every header's "dir/x.h" includes as edges; tsort fails
# on a loop and names its members. A header that includes itself is a
# loop tsort does not see (a pair of equal items only declares the item).
edges=$(for h in common/*.h core/*.h store/*.h workers/*.h scheduler/*.h \
  server/*.h cli/*.h; do
  [ -e "$h" ] || continue
  echo "$h $h"
  sed -nE 's/^#[[:space:]]*include[[:space:]]+"([^"]+\.h)".*/\1/p' "$h" |
    while IFS= read -r inc; do
      [ -e "$inc" ] && echo "$h $inc"
      [ "$inc" = "$h" ] && echo "self $h" >&2
    done
done 2>&1)
if grep -q '^self ' <<<"$edges"; then
  grep '^self ' <<<"$edges" | sed 's/^self \(.*\)/\1 includes itself/'
  status=1
fi
if ! loop=$(grep -v '^self ' <<<"$edges" | tsort 2>&1 >/dev/null) ||
  [ -n "$loop" ]; then
  echo "include cycle among headers:"
  echo "$loop" | sed 's/^tsort: //'
  status=1
fi

[ $status -eq 0 ] && echo "layers: ok"
exit $status
