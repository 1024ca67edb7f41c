#!/usr/bin/env bash
# Renders every kustomization under deploy/k8s and validates each object offline:
#   - Kubernetes kinds: kubeconform -strict against the Kubernetes JSON schemas (unknown fields, wrong types,
#     duplicate keys fail), for every version in K8S_VERSIONS.
#   - KEDA kinds (keda.sh): against KEDA's CRD schema as compiled in the npm package @kubernetes-models/keda.
#   - Consistency: drain grace vs terminationGracePeriodSeconds, and the pod security settings every container keeps.
# Any other kind (a CRD without a schema here) fails. Exits non-zero on any invalid manifest.
#
# No network beyond package registries is needed; tools and schemas go to $CDC_CACHE_DIR/deploy-tools
# (default ~/.cache/milvus-cdc-ts/deploy-tools), outside git, and are reused on re-runs:
#   kubeconform, kustomize   go install from the Go module proxy (needs go)
#   Kubernetes JSON schemas  the PyPI wheel kubernetes-validate (needs python3 -m pip), hash-pinned
#   KEDA CRD schema          npm packages @kubernetes-models/keda + yaml (needs node, npm)
#   compose checker          a small Go program over compose-go (the loader of `docker compose`), for
#                            deploy/docker-compose.yml (schema + interpolation)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${CDC_CACHE_DIR:-$HOME/.cache/milvus-cdc-ts}/deploy-tools"

KUBECONFORM_VERSION=v0.8.0
KUSTOMIZE_VERSION=v5.8.1
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBERNETES_VALIDATE_SHA256=85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9
KEDA_MODELS_VERSION=2.0.0
YAML_VERSION=2.8.1
COMPOSE_GO_VERSION=v2.16.2
# Oldest supported (native gRPC probes are GA from 1.27) and newest in the schema package.
K8S_VERSIONS="${K8S_VERSIONS:-1.27.0 1.37.0}"

log() { printf '[validate] %s\n' "$*"; }
die() {
  printf '[validate] ERROR: %s\n' "$*" >&2
  exit 2
}

BIN_DIR="$TOOLS_DIR/bin"
KUBECONFORM="$BIN_DIR/kubeconform-$KUBECONFORM_VERSION"
KUSTOMIZE="$BIN_DIR/kustomize-$KUSTOMIZE_VERSION"
SCHEMA_DIR="$TOOLS_DIR/k8s-schemas/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
KEDA_DIR="$TOOLS_DIR/keda-models-$KEDA_MODELS_VERSION"
COMPOSE_CHECK="$BIN_DIR/compose-check-$COMPOSE_GO_VERSION"

go_tool() { # go_tool DEST MODULE/PATH@VERSION
  local dest="$1" pkg="$2" tmp
  [[ -x "$dest" ]] && return 0
  command -v go >/dev/null || die "go is needed to install $pkg"
  log "installing $pkg"
  tmp="$(mktemp -d)"
  (cd "$tmp" && GOBIN="$tmp/bin" GOFLAGS=-mod=mod go install "$pkg") || die "go install $pkg failed"
  mkdir -p "$BIN_DIR"
  mv "$tmp"/bin/* "$dest" # the one binary built (named without a /vN suffix)
  rm -rf "$tmp"
}

install_schemas() {
  local wheel="$SCHEMA_DIR/kubernetes_validate-$KUBERNETES_VALIDATE_VERSION-py3-none-any.whl" missing=()
  for v in $K8S_VERSIONS; do
    [[ -f "$SCHEMA_DIR/v$v-local-strict/.complete" ]] || missing+=("$v")
  done
  ((${#missing[@]} == 0)) && return 0
  mkdir -p "$SCHEMA_DIR"
  if [[ ! -f "$wheel" ]]; then
    log "downloading kubernetes-validate $KUBERNETES_VALIDATE_VERSION (Kubernetes JSON schemas) from PyPI"
    local req
    req="$(mktemp)"
    echo "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION --hash=sha256:$KUBERNETES_VALIDATE_SHA256" >"$req"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes -r "$req" -d "$SCHEMA_DIR" ||
      die "pip download kubernetes-validate failed"
    rm -f "$req"
  fi
  log "extracting schemas for Kubernetes ${missing[*]}"
  # The package's schemas carry "$id": https://kubernetes.io/api/... and "$ref": /api/_definitions.json#...; made
  # relative here so kubeconform resolves them from disk and never goes to the network.
  python3 - "$wheel" "$SCHEMA_DIR" "${missing[@]}" <<'PY'
import json, os, shutil, sys, zipfile
wheel, out, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
root = 'kubernetes_validate/kubernetes-json-schema/'
z = zipfile.ZipFile(wheel)
have = sorted({n[len(root):].split('/')[0] for n in z.namelist() if n.startswith(root) and n.endswith('-local-strict/_definitions.json')})
def fix(node):
    if isinstance(node, dict):
        node.pop('$id', None)
        ref = node.get('$ref')
        if isinstance(ref, str):
            if ref.startswith('/api/'):
                node['$ref'] = ref[len('/api/'):]
            elif not ref.startswith('#') and not ref.startswith('_definitions.json#'):
                sys.exit(f'unexpected $ref {ref!r}: the schema package layout changed')
        for v in node.values():
            fix(v)
    elif isinstance(node, list):
        for v in node:
            fix(v)
for v in versions:
    d = f'v{v}-local-strict'
    names = [n for n in z.namelist() if n.startswith(f'{root}{d}/') and n.endswith('.json')]
    if not names:
        sys.exit(f'no schemas for Kubernetes {v} in this package; it has: ' + ', '.join(h.removesuffix('-local-strict') for h in have))
    tmp = os.path.join(out, d + '.tmp')
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for n in names:
        doc = json.loads(z.read(n))
        fix(doc)
        with open(os.path.join(tmp, os.path.basename(n)), 'w') as f:
            json.dump(doc, f)
    open(os.path.join(tmp, '.complete'), 'w').close()
    shutil.rmtree(os.path.join(out, d), ignore_errors=True)
    os.rename(tmp, os.path.join(out, d))
PY
}

install_keda_models() {
  [[ -f "$KEDA_DIR/.complete" ]] && return 0
  command -v npm >/dev/null || die "npm is needed to install @kubernetes-models/keda"
  log "installing @kubernetes-models/keda $KEDA_MODELS_VERSION (KEDA CRD schema) from npm"
  rm -rf "$KEDA_DIR"
  mkdir -p "$KEDA_DIR"
  cat >"$KEDA_DIR/package.json" <<EOF
{ "private": true, "type": "module",
  "dependencies": { "@kubernetes-models/keda": "$KEDA_MODELS_VERSION", "yaml": "$YAML_VERSION" } }
EOF
  (cd "$KEDA_DIR" && npm install --silent --no-audit --no-fund --omit=dev --engine-strict=false) ||
    die "npm install @kubernetes-models/keda failed"
  touch "$KEDA_DIR/.complete"
}

install_compose_check() {
  [[ -x "$COMPOSE_CHECK" ]] && return 0
  command -v go >/dev/null || die "go is needed to build the compose checker"
  log "building the compose checker (compose-go $COMPOSE_GO_VERSION)"
  local tmp
  tmp="$(mktemp -d)"
  cat >"$tmp/main.go" <<'GO'
// Loads compose files the way `docker compose` does (schema validation, interpolation, normalisation).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	opts, err := cli.NewProjectOptions(os.Args[1:], cli.WithOsEnv)
	if err == nil {
		var p interface{ ServiceNames() []string }
		if p, err = opts.LoadProject(context.Background()); err == nil {
			fmt.Printf("%v - compose project is valid, services %v\n", os.Args[1:], p.ServiceNames())
			return
		}
	}
	fmt.Printf("%v is invalid: %v\n", os.Args[1:], err)
	os.Exit(1)
}
GO
  (cd "$tmp" && go mod init compose-check >/dev/null 2>&1 &&
    go get "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION" >/dev/null 2>&1 &&
    go mod tidy >/dev/null 2>&1 && go build -o compose-check .) || die "building the compose checker failed"
  mkdir -p "$BIN_DIR"
  mv "$tmp/compose-check" "$COMPOSE_CHECK"
  rm -rf "$tmp"
}

write_checker() {
  # Written on every run (it is part of this script), run from KEDA_DIR so its imports resolve there.
  cat >"$KEDA_DIR/check.mjs" <<'JS'
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';

const keda = { ScaledObject, TriggerAuthentication };
let failed = 0;
const fail = (where, msg) => {
  failed++;
  console.log(`${where} is invalid: ${msg}`);
};
const objects = [];
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const obj = doc.toJS();
    if (obj) objects.push({ file, obj, where: `${file} - ${obj.kind} ${obj.metadata?.name}` });
  }
}
// KEDA objects against KEDA's CRD schema.
for (const { obj, where } of objects.filter((o) => String(o.obj.apiVersion).startsWith('keda.sh/'))) {
  const Model = keda[obj.kind];
  if (!Model || obj.apiVersion !== 'keda.sh/v1alpha1') {
    fail(where, `no schema for ${obj.apiVersion} ${obj.kind}`);
    continue;
  }
  try {
    new Model(obj).validate();
    console.log(`${where} is valid (KEDA CRD schema)`);
  } catch (err) {
    fail(where, err.message);
  }
}
// Consistency of pod specs with the services' shutdown behaviour and the security baseline.
const env = (name) =>
  objects.find((o) => o.obj.kind === 'ConfigMap' && o.obj.metadata.name.startsWith(name))?.obj.data ?? {};
const graceNeeded = {
  'cdc-control': Number(env('cdc-control-config').CONTROL_SHUTDOWN_GRACE_MS ?? 10000) + 5000,
  'cdc-worker': Number(env('cdc-worker-config').WORKER_SHUTDOWN_GRACE_MS ?? 20000),
};
for (const { obj, where } of objects.filter((o) => o.obj.kind === 'Deployment')) {
  const pod = obj.spec.template.spec;
  const needed = graceNeeded[obj.metadata.name];
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (needed !== undefined && grace * 1000 <= needed)
    fail(where, `terminationGracePeriodSeconds ${grace} must exceed the drain time ${needed} ms`);
  for (const c of pod.containers) {
    const sc = c.securityContext ?? {};
    const problems = [];
    if (!(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot)) problems.push('runAsNonRoot');
    if (sc.readOnlyRootFilesystem !== true) problems.push('readOnlyRootFilesystem');
    if (sc.allowPrivilegeEscalation !== false) problems.push('allowPrivilegeEscalation: false');
    if (!sc.capabilities?.drop?.includes('ALL')) problems.push('capabilities.drop [ALL]');
    if (!c.resources?.requests || !c.resources?.limits?.memory) problems.push('resources');
    if (!c.readinessProbe || !c.livenessProbe) problems.push('readiness and liveness probes');
    // An open control API hands out task secrets: the credentials are required, never optional.
    for (const e of c.env ?? [])
      if (/TOKEN/.test(e.name) && e.valueFrom?.secretKeyRef?.optional === true)
        problems.push(`${e.name} required (not optional)`);
    if (problems.length > 0) fail(`${where} container ${c.name}`, `missing ${problems.join(', ')}`);
  }
  console.log(`${where} checked (drain grace, security context, resources, probes, required tokens)`);
}
process.exit(failed > 0 ? 1 : 0);
JS
}

main() {
  local k8s_dir="${1:-$REPO_ROOT/deploy/k8s}"
  mkdir -p "$TOOLS_DIR"
  go_tool "$KUBECONFORM" "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  go_tool "$KUSTOMIZE" "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  install_schemas
  install_keda_models
  install_compose_check
  write_checker

  local rc=0 rendered=() dir name
  OUT_DIR="$(mktemp -d)"
  trap 'rm -rf "$OUT_DIR"' EXIT
  local out="$OUT_DIR"
  while IFS= read -r dir; do
    name="$(realpath --relative-to="$k8s_dir" "$dir" | tr '/' '_')"
    if ! "$KUSTOMIZE" build "$dir" >"$out/$name.yaml"; then
      log "kustomize build $dir failed"
      rc=1
      continue
    fi
    log "rendered $(realpath --relative-to="$REPO_ROOT" "$dir" 2>/dev/null || echo "$dir"): $(grep -c '^kind:' "$out/$name.yaml") objects"
    rendered+=("$out/$name.yaml")
  done < <(find "$k8s_dir" -name kustomization.yaml -printf '%h\n' | sort)
  ((${#rendered[@]} > 0)) || die "no kustomization.yaml under $k8s_dir"

  local v
  for v in $K8S_VERSIONS; do
    log "kubeconform $KUBECONFORM_VERSION -strict, Kubernetes $v schemas (kubernetes-validate $KUBERNETES_VALIDATE_VERSION)"
    (cd "$out" && "$KUBECONFORM" -strict -summary -verbose -n 1 -kubernetes-version "$v" \
      -schema-location "$SCHEMA_DIR/{{.NormalizedKubernetesVersion}}-local{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json" \
      -skip keda.sh/v1alpha1/ScaledObject,keda.sh/v1alpha1/TriggerAuthentication \
      "${rendered[@]##*/}") || rc=1
  done
  log "KEDA objects (@kubernetes-models/keda $KEDA_MODELS_VERSION) and consistency checks"
  (cd "$out" && node "$KEDA_DIR/check.mjs" "${rendered[@]##*/}") || rc=1

  local compose_file="${COMPOSE_FILE_TO_CHECK:-$REPO_ROOT/deploy/docker-compose.yml}"
  log "compose: $(realpath --relative-to="$REPO_ROOT" "$compose_file" 2>/dev/null || echo "$compose_file") (compose-go $COMPOSE_GO_VERSION)"
  # The file requires CONTROL_SECRET_KEY from the caller's environment; any value does for loading.
  CONTROL_SECRET_KEY="${CONTROL_SECRET_KEY:-placeholder}" CONTROL_API_TOKENS="${CONTROL_API_TOKENS:-placeholder}" \
    CONTROL_WORKER_TOKEN="${CONTROL_WORKER_TOKEN:-placeholder}" "$COMPOSE_CHECK" "$compose_file" || rc=1

  if ((rc != 0)); then
    log "FAILED: invalid manifests above"
  else
    log "all manifests valid"
  fi
  return "$rc"
}

main "$@"
