#!/bin/bash
# Runs every go fuzz target in the module for the given time each (default 30s).
set -uo pipefail
cd "$(dirname "$0")/.."
t=${1:-30s}; rc=0
for f in $(grep -rl --include='*_test.go' '^func Fuzz' .); do
  pkg=./$(dirname "$f")
  for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "=== $pkg $name ($t)"
    go test -run '^$' -fuzz "^$name\$" -fuzztime "$t" -fuzzminimizetime 5s "$pkg" || rc=1
  done
done
exit $rc
