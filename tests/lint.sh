#!/usr/bin/env bash
# Lint: clang-format (.clang-format) and the banned-function list below
# (curl's checksrc idea). Usage: lint.sh SOURCE_DIR
set -u
cd "$1" || exit 2
status=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null ||
  find . -path './build*' -prune -o -path './.git' -prune -o \
    \( -name '*.c' -o -name '*.h' \) -print)
if command -v clang-format >/dev/null; then
  for f in $files; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || {
      echo "not clang-formatted: $f (run clang-format -i $f)"
      status=1
    }
  done
else
  echo "clang-format not installed: format check skipped (apt-get install -y clang-format)"
fi
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets|strerror|gmtime|localtime|rand|cJSON_GetErrorPtr)[[:space:]]*\('
if grep -nE "$banned" $files | grep -v '^\S*:[0-9]*:\s*\*' ; then
  echo "banned function used (see the list in tests/lint.sh)"
  status=1
fi
[ $status -eq 0 ] && echo "lint: ok"
exit $status
