#!/usr/bin/env bash
# Installs code-server (a real VS Code 1.100.3: server + web workbench) into .cache/code-server, so the
# extension-host test suite can run in real VS Code without downloading VS Code at test time.
#
# Idempotent: does nothing when the pinned version is already installed there.
#
# Needs (Debian/Ubuntu, as root):   apt-get install -y libkrb5-dev ripgrep chromium
#   libkrb5-dev  headers for code-server's native "kerberos" module (built at install time)
#   ripgrep      /usr/bin/rg, copied into @vscode/ripgrep's download cache (its postinstall cannot download)
#   chromium     the browser that test/vscode/run.mjs drives through playwright-core
# plus a C++ toolchain (make, g++, python3) for node-gyp. code-server 4.100.3 runs on Node 20 only.
#
# Env: CODE_SERVER_DIR overrides the install folder; CHROMIUM_PATH the browser checked for (default /usr/bin/chromium).
set -euo pipefail

VERSION="4.100.3"
RIPGREP_CACHE_NAME="vscode-ripgrep-cache-1.15.11"
RIPGREP_TARBALL="ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${CODE_SERVER_DIR:-$REPO_ROOT/.cache/code-server}"
BIN="$DEST/node_modules/.bin/code-server"
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

installed_version() {
  node -e 'try { process.stdout.write(require(process.argv[1]).version) } catch { }' \
    "$DEST/node_modules/code-server/package.json" 2>/dev/null || true
}

missing=()
command -v rg >/dev/null 2>&1 || missing+=("ripgrep (provides rg)")
[ -e /usr/include/gssapi/gssapi.h ] || command -v krb5-config >/dev/null 2>&1 || missing+=("libkrb5-dev")
[ -x "$CHROMIUM" ] || missing+=("chromium (expected at $CHROMIUM; set CHROMIUM_PATH to use another)")
for tool in make g++ python3; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool (C++ toolchain for node-gyp)"); done

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" != "20" ]; then
  echo "setup-code-server: code-server $VERSION needs Node 20 (found $(node -v))." >&2
  exit 1
fi

if [ "$(installed_version)" = "$VERSION" ] && [ -x "$BIN" ]; then
  echo "setup-code-server: code-server $VERSION already installed in $DEST"
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-code-server: warning, still missing for the tests: ${missing[*]}" >&2
    echo "  install with: apt-get install -y libkrb5-dev ripgrep chromium" >&2
  fi
  exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-code-server: missing system packages: ${missing[*]}" >&2
  echo "  install with (as root): apt-get update && apt-get install -y libkrb5-dev ripgrep chromium build-essential python3" >&2
  exit 1
fi

mkdir -p "$DEST"
# A private TMPDIR: @vscode/ripgrep looks for its download in os.tmpdir(); pre-seed it with Debian's rg.
TMP="$DEST/tmp"
mkdir -p "$TMP/$RIPGREP_CACHE_NAME"
if [ ! -s "$TMP/$RIPGREP_CACHE_NAME/$RIPGREP_TARBALL" ]; then
  stage="$(mktemp -d "$TMP/rg.XXXXXX")"
  cp "$(command -v rg)" "$stage/rg"
  chmod 755 "$stage/rg"
  tar -czf "$TMP/$RIPGREP_CACHE_NAME/$RIPGREP_TARBALL" -C "$stage" ./rg
  rm -rf "$stage"
fi

# A package.json of its own, so npm treats $DEST as the project root instead of walking up to this repository.
[ -f "$DEST/package.json" ] || echo '{ "name": "clarifycoder-code-server", "private": true }' > "$DEST/package.json"

echo "setup-code-server: installing code-server@$VERSION into $DEST (about 40 s, 300 MB)..."
start=$(date +%s)
# unsafe_perm: code-server's postinstall refuses to run as root otherwise. yes: node-pty's postinstall runs npx.
TMPDIR="$TMP" npm_config_unsafe_perm=true npm_config_yes=true \
  npm install --prefix "$DEST" --no-audit --no-fund --save-exact "code-server@$VERSION"

if [ "$(installed_version)" != "$VERSION" ] || [ ! -x "$BIN" ]; then
  echo "setup-code-server: install finished but $BIN is missing" >&2
  exit 1
fi
# Its own XDG dirs: code-server writes a default config file on first start.
XDG_CONFIG_HOME="$TMP/xdg-config" XDG_DATA_HOME="$TMP/xdg-data" "$BIN" --version
echo "setup-code-server: done in $(( $(date +%s) - start )) s"
