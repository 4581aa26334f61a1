#!/usr/bin/env bash
# Lint: clang-format (.clang-format) and the banned-function list below
# (curl's checksrc idea). Usage: lint.sh SOURCE_DIR
set -u
cd "$1" || exit 2
status=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null ||
  find . -path './build*' -prune -o -path './.git' -prune -o \
    \( -name '*.c' -o -name '*.h' \) -print)
# The format check is half of lint: without clang-format, lint fails (a
# skipped check that reports "ok" hid unformatted code).
if ! command -v clang-format >/dev/null; then
  echo "lint: FAILED: clang-format is not installed, so the format check" \
    "cannot run: apt-get install -y clang-format (scripts/test installs it)"
  exit 1
fi
if ! clang-format --version >/dev/null 2>&1; then
  echo "lint: FAILED: clang-format is installed but does not run:" \
    "$(clang-format --version 2>&1 | head -n 1)"
  exit 1
fi
for f in $files; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || {
    echo "not clang-formatted: $f (run clang-format -i $f)"
    status=1
  }
done
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets|strerror|gmtime|localtime|rand|cJSON_GetErrorPtr)[[:space:]]*\('
if grep -nE "$banned" $files | grep -v '^\S*:[0-9]*:\s*\*' ; then
  echo "banned function used (see the list in tests/lint.sh)"
  status=1
fi
[ $status -eq 0 ] && echo "lint: ok ($(clang-format --version | head -n 1))"
exit $status
