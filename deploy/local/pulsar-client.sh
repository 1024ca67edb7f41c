#!/usr/bin/env bash
# The Pulsar C client library the worker loads through FFI (koffi): libpulsar as shipped inside the PyPI wheel
# `pulsar-client` (self-contained: it links only the C and C++ runtimes). Installed into the cache as
# $CDC_CACHE_DIR/libpulsar/libpulsar.so, where the worker looks by default (WORKER_PULSAR_CLIENT_LIBRARY overrides).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pulsar_client_lib() {
  local dir="$CDC_CACHE_DIR/libpulsar"
  if [[ -f "$dir/libpulsar.so" && "$(cat "$dir/VERSION" 2>/dev/null)" == "$PULSAR_CLIENT_WHEEL_VERSION" ]]; then
    return 0
  fi
  command -v python3 >/dev/null || need_apt python3 python3-venv
  [[ -x "$VENV_DIR/bin/pip" ]] || python3 -m venv "$VENV_DIR"
  log "installing libpulsar from the PyPI wheel pulsar-client==$PULSAR_CLIENT_WHEEL_VERSION into $dir"
  local tmp
  tmp="$(mktemp -d)"
  "$VENV_DIR/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$tmp" "pulsar-client==$PULSAR_CLIENT_WHEEL_VERSION" >&2
  "$VENV_DIR/bin/python" - "$tmp" "$dir.partial" <<'PY'
import glob, os, shutil, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], 'pulsar_client-*.whl'))[0]
out = sys.argv[2]
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
with zipfile.ZipFile(wheel) as z:
    libs = [n for n in z.namelist() if n.startswith('pulsar_client.libs/libpulsar')]
    if len(libs) != 1:
        sys.exit(f'expected one libpulsar in {wheel}, found {libs}')
    with z.open(libs[0]) as src, open(os.path.join(out, 'libpulsar.so'), 'wb') as dst:
        shutil.copyfileobj(src, dst)
    for n in z.namelist():
        if n.endswith(('/LICENSE', '/NOTICE')):
            with z.open(n) as src, open(os.path.join(out, os.path.basename(n)), 'wb') as dst:
                shutil.copyfileobj(src, dst)
PY
  echo "$PULSAR_CLIENT_WHEEL_VERSION" >"$dir.partial/VERSION"
  rm -rf "$dir" "$tmp" && mv "$dir.partial" "$dir"
}

# Run directly: install it.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then pulsar_client_lib; fi
