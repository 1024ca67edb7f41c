#!/usr/bin/env bash
# Installs the JavaScript toolchain and workspace dependencies: pnpm from the npm registry if missing, then
# `pnpm install --frozen-lockfile` and a TypeScript build; and the Pulsar C client library the worker loads.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/pulsar-client.sh"

command -v node >/dev/null || die "Node.js >= 20.19 is required (https://nodejs.org or Debian nodejs)"
PNPM_VERSION="$(node -p "require('$REPO_ROOT/package.json').packageManager.split('@')[1]")"
if ! command -v pnpm >/dev/null || [[ "$(pnpm --version)" != "$PNPM_VERSION" ]]; then
  log "installing pnpm@$PNPM_VERSION from the npm registry"
  npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null
fi
cd "$REPO_ROOT"
pnpm install --frozen-lockfile --reporter=silent
pnpm -s build
pulsar_client_lib
log "workspace installed and built"
