# Sourced by scripts/demo and scripts/test: a project virtualenv with the
# package and its test tools installed, refreshed when pyproject.toml changes;
# Node 22 first on PATH (installed from the npm registry into .node/ when the
# machine's Node is missing or older); the npm workspace installed, refreshed
# when package-lock.json changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.drizzlesync-installed"
WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]"
    echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"

# Node: current Wrangler, node:sqlite and @sqlite.org/sqlite-wasm need 22 (20 is end of life).
NODE_MAJOR=22
NODE_HOME="$ROOT/.node"
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ -x "$NODE_HOME/node_modules/.bin/node" ]; then
    export PATH="$NODE_HOME/node_modules/.bin:$PATH"
elif [ "$(node_major)" -lt "$NODE_MAJOR" ]; then
    echo "bootstrap: installing node@$NODE_MAJOR from the npm registry into .node/" >&2
    npm install --silent --prefix "$NODE_HOME" --no-save --no-package-lock "node@$NODE_MAJOR" >&2
    export PATH="$NODE_HOME/node_modules/.bin:$PATH"
fi
NPM_STAMP="$ROOT/node_modules/.drizzlesync-installed"
WANT="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$NPM_STAMP" ] || [ "$(cat "$NPM_STAMP")" != "$WANT" ]; then
    (cd "$ROOT" && npm ci --silent --no-audit --no-fund)
    echo "$WANT" > "$NPM_STAMP"
fi
cd "$ROOT"
