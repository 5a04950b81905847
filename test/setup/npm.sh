#!/bin/bash
# npm packages the tests use: @security-alliance/stix (an independent implementation of the
# STIX 2.1 deterministic identifiers of cyber-observables, for TestSTIXObservableIDsIndependently),
# pinned, installed once under PODSLEUTH_CACHE/npm-stix.
. "$(dirname "$0")/common.sh"
d=$PODSLEUTH_CACHE/npm-stix
want=0.1.1
[ "$(node -p "require('$d/node_modules/@security-alliance/stix/package.json').version" 2>/dev/null)" = $want ] && exit 0
command -v npm >/dev/null || { log "npm is missing (Debian: apt-get install npm)"; exit 1; }
log "npm install @security-alliance/stix@$want"
mkdir -p $d
npm install --prefix $d --no-audit --no-fund --silent @security-alliance/stix@$want >/dev/null
