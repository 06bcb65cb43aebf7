#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv) and the pinned CDK CLI (node_modules).
# Usage: scripts/bootstrap.sh app|dev
#   app: what the demo and `cdk deploy` need (requirements.txt)
#   dev: that plus tests, linters, notebooks and benchmarks (requirements-dev.txt)
# Everything is pinned by requirements.lock and package-lock.json; a stamp skips work that is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${1:-dev}"
case "$profile" in
  app) reqs=requirements.txt ;;
  dev) reqs=requirements-dev.txt ;;
  *) echo "usage: $0 app|dev" >&2; exit 2 ;;
esac

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "shardlab needs Python 3.11 or newer (found: $("$python" --version 2>&1))." >&2
  exit 1
fi
command -v npm >/dev/null || { echo "shardlab needs Node.js and npm (for the pinned aws-cdk CLI and jsii)." >&2; exit 1; }

venv=.venv
stamp="$venv/.shardlab-$profile"
want=$(cat requirements.txt "$reqs" requirements.lock | sha256sum | cut -c1-16)
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing pinned Python packages ($reqs) into $venv"
  # Some machines' pip configs name extra local indexes that may be absent; their warnings are noise here.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs" -c requirements.lock \
    2> >(grep -v '^WARNING: Location .* is ignored' >&2)
  echo "$want" > "$stamp"
fi

npm_stamp=node_modules/.shardlab-stamp
npm_want=$(sha256sum package-lock.json | cut -c1-16)
if [ "$(cat "$npm_stamp" 2>/dev/null)" != "$npm_want" ]; then
  echo "==> installing the pinned aws-cdk CLI (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_want" > "$npm_stamp"
fi
