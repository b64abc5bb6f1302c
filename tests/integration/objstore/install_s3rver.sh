#!/usr/bin/env bash
# Installs the S3 server of the objstore tests, s3rver (pinned), into
# PREFIX/node_modules — inside the build tree, never globally. Run once by
# ctest as a fixture; a second run finds it installed and does nothing.
set -euo pipefail
PREFIX=${1:?usage: install_s3rver.sh PREFIX}
VERSION=3.7.1
PKG=$PREFIX/node_modules/s3rver/package.json

installed() {
	[[ -f $PKG && -f $PREFIX/node_modules/s3rver/bin/s3rver.js ]] &&
		grep -q "\"version\": \"$VERSION\"" "$PKG"
}

if installed; then
	echo "s3rver $VERSION already in $PREFIX"
	exit 0
fi
command -v npm >/dev/null || { echo "FATAL: npm not installed (make deps installs nodejs npm)" >&2; exit 1; }
mkdir -p "$PREFIX"
# npm writes its cache and logs under HOME; keep them in the build tree too
export npm_config_cache=$PREFIX/.npm-cache
timeout 540 npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$PREFIX" "s3rver@$VERSION"
installed || { echo "FATAL: s3rver $VERSION not found in $PREFIX after npm install" >&2; exit 1; }
echo "installed s3rver $VERSION into $PREFIX"
