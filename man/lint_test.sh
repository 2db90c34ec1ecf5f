#!/bin/sh
# Lints carp_exec.8: mandoc -Tlint down to STYLE messages (except references to pages this
# machine does not have, such as carp(4) on Linux) and groff -mdoc -ww must say nothing.
set -eu
page="$1"
status=0
if command -v mandoc >/dev/null; then
  messages="$(mandoc -Tlint -W style "$page" 2>&1 |
    grep -v -e 'referenced manual not found' -e 'outdated mandoc.db' || true)"
  if [ -n "$messages" ]; then
    echo "$messages"
    status=1
  fi
else
  echo "lint_test: mandoc is not installed (scripts/deps installs it); checking with groff only"
fi
messages="$(groff -mdoc -ww -z "$page" 2>&1 || true)"
if [ -n "$messages" ]; then
  echo "$messages"
  status=1
fi
[ "$status" -eq 0 ] && echo "lint_test: $page renders without warnings"
exit "$status"
