#!/usr/bin/env bash
# Builds the Go test producers under test/producers/ (Milvus's own message builders and WAL/msgstream code, from the
# Go module proxy) into $CDC_CACHE_DIR/producers/NAME-HASH, HASH being a digest of the producer's sources, go.mod and
# go.sum: a rebuild happens only when one of them changed. Prints nothing but the path of each binary it built or
# found, one per line (`producers.sh wal26` → the wal26 binary).
#
# Needs Go >= 1.24 and a C compiler (confluent-kafka-go links its bundled librdkafka with cgo).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PRODUCERS_DIR="$REPO_ROOT/test/producers"
OUT_DIR="$CDC_CACHE_DIR/producers"

build_producer() {
  local name="$1" src="$PRODUCERS_DIR/$1"
  [[ -f "$src/go.mod" ]] || die "no producer named $name under $PRODUCERS_DIR"
  command -v go >/dev/null || die "Go >= 1.24 is required to build the test producer $name"
  local hash
  # Nested modules (a producer's local `replace` targets) count too.
  hash="$(cd "$src" && cat go.mod go.sum $(ls ./*.go | sort) \
    $(find . -mindepth 2 -type f \( -name '*.go' -o -name go.mod \) | sort) | sha256sum | cut -c1-16)"
  local bin="$OUT_DIR/$name-$hash"
  if [[ ! -x "$bin" ]]; then
    mkdir -p "$OUT_DIR"
    log "building test producer $name (Go modules from $(go env GOPROXY))"
    local start=$SECONDS
    (cd "$src" && CGO_ENABLED=1 go build -trimpath -o "$bin.tmp" .) || die "building test producer $name failed"
    mv "$bin.tmp" "$bin"
    # Older builds of the same producer are garbage now.
    find "$OUT_DIR" -maxdepth 1 -name "$name-*" ! -name "$name-$hash" -delete
    log "built $name in $((SECONDS - start))s"
  fi
  echo "$bin"
}

if (($# == 0)); then
  set -- $(cd "$PRODUCERS_DIR" && ls -d */ | tr -d /)
fi
for name in "$@"; do build_producer "$name"; done
