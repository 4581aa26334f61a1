#!/usr/bin/env bash
# `cmake --install` lays pacer out like a daemon:
#   - bin/pacer; `pacer --version` names libcurl, libuv, hiredis and cJSON;
#     bin/pacer-testapi only with `--component testapi` (a test tool, never
#     in the default install);
#   - share/man/man1/pacer.1 renders with no groff warning, and names every
#     command and every option that the commands' --help prints;
#   - share/doc/pacer/pacer.json (a config pacer accepts) and README.md;
#   - lib/systemd/system/pacer.service with systemd hardening (DynamicUser,
#     ProtectSystem, NoNewPrivileges, ...),
#     ExecStart on the installed binary, and `systemd-analyze verify` clean
#     (skipped when systemd-analyze is not installed);
#   - share/bash-completion/completions/pacer: sourced by bash, completes
#     `pacer w` to worker and knows every option too.
#
#   usage: test_install.sh BUILD_DIR [CMAKE]
. "$(dirname "$0")/lib.sh"

BUILD=${1:?usage: test_install.sh BUILD_DIR [CMAKE]}
CMAKE=${2:-cmake}
P="$TEST_TMP/p"

"$CMAKE" --install "$BUILD" --prefix "$P" >"$TEST_TMP/install.out" 2>&1 ||
  fail "cmake --install failed: $(tail -5 "$TEST_TMP/install.out")"

for f in bin/pacer share/man/man1/pacer.1 \
  share/doc/pacer/pacer.json share/doc/pacer/README.md \
  share/bash-completion/completions/pacer lib/systemd/system/pacer.service; do
  [ -f "$P/$f" ] || fail "not installed: $f"
done
[ -x "$P/bin/pacer" ] || fail "bin/pacer not executable"
[ ! -e "$P/bin/pacer-testapi" ] ||
  fail "the default install put the test tool pacer-testapi in bin/"
"$CMAKE" --install "$BUILD" --prefix "$P" --component testapi \
  >>"$TEST_TMP/install.out" 2>&1 ||
  fail "cmake --install --component testapi failed: $(tail -5 "$TEST_TMP/install.out")"
[ -x "$P/bin/pacer-testapi" ] ||
  fail "--component testapi did not install bin/pacer-testapi"

# --version: pacer and the four libraries, one per line.
"$P/bin/pacer" --version >"$TEST_TMP/version.out" 2>&1 ||
  fail "pacer --version failed"
for lib in '^pacer [0-9]' '^libcurl [0-9]' '^libuv [0-9]' '^hiredis [0-9]' \
  '^cJSON [0-9]'; do
  grep -q "$lib" "$TEST_TMP/version.out" ||
    fail "--version lacks $lib: $(cat "$TEST_TMP/version.out")"
done
"$P/bin/pacer-testapi" --help >/dev/null 2>&1 || fail "pacer-testapi --help"

# The man page: no warnings at the strictest level, and it renders.
man1="$P/share/man/man1/pacer.1"
groff -man -Tutf8 -ww -z "$man1" >"$TEST_TMP/groff.out" 2>&1 ||
  fail "groff failed: $(cat "$TEST_TMP/groff.out")"
[ ! -s "$TEST_TMP/groff.out" ] ||
  fail "groff warnings: $(head -5 "$TEST_TMP/groff.out")"
if command -v man >/dev/null; then
  MANWIDTH=80 man -l "$man1" >"$TEST_TMP/man.out" 2>"$TEST_TMP/man.err" ||
    fail "man -l failed: $(cat "$TEST_TMP/man.err")"
  grep -q '^SYNOPSIS' "$TEST_TMP/man.out" || fail "man -l: no SYNOPSIS"
fi
text=$(groff -man -Tascii -P-cbou "$man1" 2>/dev/null)

# Every command and every option of every --help is in the man page and in
# the completion script.
comp="$P/share/bash-completion/completions/pacer"
cmds=$("$P/bin/pacer" --help | sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p')
[ -n "$cmds" ] || fail "no commands in pacer --help"
for c in $cmds; do
  grep -q "pacer $c" <<<"$text" || fail "man page lacks the command $c"
  grep -qw "$c" "$comp" || fail "completion lacks the command $c"
  "$P/bin/pacer" "$c" --help >"$TEST_TMP/help.out" 2>&1
  for o in $(grep -o -- '--[a-z][a-z-]*' "$TEST_TMP/help.out" | sort -u); do
    grep -q -- "$o" <<<"$text" || fail "man page lacks $c $o"
    grep -q -- "$o" "$comp" || fail "completion lacks $c $o"
  done
done

# The example config is one pacer accepts: stats gets past the config and
# fails only on the Redis that is not there.
"$P/bin/pacer" stats --config "$P/share/doc/pacer/pacer.json" \
  --redis "unix://$TEST_TMP/none.sock" >/dev/null 2>"$TEST_TMP/cfg.out"
grep -q '^stats: redis' "$TEST_TMP/cfg.out" ||
  fail "example config: $(cat "$TEST_TMP/cfg.out")"

# The systemd unit.
unit="$P/lib/systemd/system/pacer.service"
for kv in 'Type=simple' 'Restart=on-failure' 'DynamicUser=yes' 'User=pacer' \
  'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
  'NoNewPrivileges=yes' \
  "ExecStart=$P/bin/pacer worker --config /etc/pacer/pacer.json"; do
  grep -qxF "$kv" "$unit" || fail "unit lacks $kv"
done
if command -v systemd-analyze >/dev/null; then
  # verify runs `man pacer(1)` for Documentation=: find the installed page.
  # Without man-db (a bare Debian has none) it cannot; the page itself is
  # checked with groff above.
  man_opt=()
  command -v man >/dev/null || man_opt=(--man=no)
  MANPATH="$P/share/man:" systemd-analyze verify "${man_opt[@]}" "$unit" \
    >"$TEST_TMP/verify.out" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$TEST_TMP/verify.out")"
  [ ! -s "$TEST_TMP/verify.out" ] ||
    fail "systemd-analyze verify: $(cat "$TEST_TMP/verify.out")"
  verified="systemd-analyze verify clean"
else
  verified="systemd-analyze not installed: verify skipped"
fi

# Bash completion, in a clean shell.
got=$(bash --norc --noprofile -c '
  . "$1" || exit 1
  complete -p pacer | grep -q -- "-F _pacer pacer" || exit 2
  c() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMPREPLY=(); _pacer; echo "${COMPREPLY[*]}"; }
  c pacer w
  c pacer worker --log-format ""
  c pacer stats --wa
  c pacer cred s' _ "$comp") || fail "completion script: status $?"
[ "$got" = $'worker\nlogfmt json\n--watch\nshow set' ] ||
  fail "completions: $got"

pass "installed 7 files; man page, unit and completion check out; $verified"
