# Sourced by scripts/demo, docs, lint, soak and test: make (or reuse) a virtualenv for
# the chosen interpreter and install the project into it with the given extra.
# PYTHON picks the interpreter (default: python3); each interpreter gets its own
# .venv-<version>, shared by all the scripts: each extra has its own stamp
# (.installed[<extra>]) and installing one adds to what the others installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VERSION="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
VENV="$ROOT/.venv-$VERSION"
EXTRAS="${1:-}"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.installed$EXTRAS"
if [[ ! -f "$STAMP" || "$ROOT/setup.cfg" -nt "$STAMP" ]]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT$EXTRAS"
    touch "$STAMP"
fi
cd "$ROOT"
