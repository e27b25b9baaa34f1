#!/usr/bin/env bash
# Flux's helm-controller and source-controller for the benchmark's Flux
# baseline (go run ./test/bench -baseline flux).
#
# Builds both controllers from their Go modules at pinned versions, through
# the committed wrapper modules beside this script, the way
# test/cluster/cluster.sh builds Kubernetes: no container image, no prebuilt
# binary. Binaries are cached under the cache directory by version.
#
# Usage: test/bench/flux/flux.sh {build|bin-dir|crds|update-tools}
#   build         build both controllers (only if missing); prints the bin dir
#   bin-dir       print the bin dir (built or not)
#   crds          print the paths of the CRD files both modules ship
#   update-tools  regenerate the wrapper modules' go.mod/go.sum from the pins
set -euo pipefail

# ---------------------------------------------------------------------------
# Pinned versions: the only place to change them. helm-controller v1.6.x and
# the source-controller whose API it is built against (helm-controller
# v1.6.4 requires github.com/fluxcd/source-controller/api v1.9.0; the later
# v1.9.x patches need github.com/fluxcd/pkg/artifact versions the module
# proxy does not serve). After a change run
# `test/bench/flux/flux.sh update-tools` and commit the result.
HELM_CONTROLLER_VERSION=v1.6.4   # github.com/fluxcd/helm-controller
SOURCE_CONTROLLER_VERSION=v1.9.0 # github.com/fluxcd/source-controller
# ---------------------------------------------------------------------------

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${HELM_SERVICE_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/helm-service}/flux"
STAMP="helm-controller-${HELM_CONTROLLER_VERSION}_source-controller-${SOURCE_CONTROLLER_VERSION}"
BIN_DIR="${CACHE_ROOT}/${STAMP}/bin"

log() { printf '[flux] %s\n' "$*" >&2; }
die() {
	printf '[flux] error: %s\n' "$*" >&2
	exit 1
}

go_env() {
	env GOWORK=off GOFLAGS="${GO_MOD_FLAG:--mod=readonly} -buildvcs=false" CGO_ENABLED=0 "$@"
}

# module_of NAME: the Go module path of controller NAME.
module_of() { printf 'github.com/fluxcd/%s' "$1"; }

version_of() {
	case "$1" in
	helm-controller) printf '%s' "${HELM_CONTROLLER_VERSION}" ;;
	source-controller) printf '%s' "${SOURCE_CONTROLLER_VERSION}" ;;
	*) die "unknown controller $1" ;;
	esac
}

check_module_pin() {
	local dir="$1" mod="$2" version="$3"
	[[ -f "${dir}/go.mod" && -f "${dir}/go.sum" ]] ||
		die "${dir} lacks go.mod/go.sum; run: $0 update-tools"
	grep -Eq "^[[:space:]]*(require[[:space:]]+)?${mod//./\\.}[[:space:]]+${version//./\\.}([[:space:]]|$)" "${dir}/go.mod" ||
		die "${dir}/go.mod does not require ${mod} ${version} (pinned in $0); run: $0 update-tools"
}

# module_dir NAME: where the pinned module's source is (downloaded if needed).
module_dir() {
	local name="$1" dir
	dir="$(cd "${SCRIPT_DIR}/${name}" && go_env go mod download -json "$(module_of "${name}")@$(version_of "${name}")" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
	[[ -d "${dir}" ]] || die "could not download $(module_of "${name}")@$(version_of "${name}")"
	printf '%s' "${dir}"
}

cmd_build() {
	local name tmp start
	for name in helm-controller source-controller; do
		check_module_pin "${SCRIPT_DIR}/${name}" "$(module_of "${name}")" "$(version_of "${name}")"
	done
	mkdir -p "${BIN_DIR}"
	if command -v flock >/dev/null; then
		exec 9>"${CACHE_ROOT}/${STAMP}/.build.lock"
		if ! flock -n 9; then
			log "another build of ${STAMP} is running; waiting for it (up to 60 minutes)"
			flock -w 3600 9 || die "timed out waiting for the other build"
		fi
	fi
	for name in helm-controller source-controller; do
		[[ -x "${BIN_DIR}/${name}" ]] && continue
		tmp="$(mktemp -d "${CACHE_ROOT}/${STAMP}/.build-${name}.XXXXXX")"
		start=${SECONDS}
		log "building ${name} $(version_of "${name}") (go $(go env GOVERSION)) ..."
		if ! (cd "${SCRIPT_DIR}/${name}" && go_env go build -trimpath -ldflags "-s -w" -o "${tmp}/${name}" "$(module_of "${name}")"); then
			rm -rf "${tmp}"
			die "building ${name} failed"
		fi
		mv -f "${tmp}/${name}" "${BIN_DIR}/"
		rm -rf "${tmp}"
		log "built ${name} in $((SECONDS - start))s"
	done
	printf '%s\n' "${BIN_DIR}"
}

cmd_crds() {
	local name dir
	for name in helm-controller source-controller; do
		dir="$(module_dir "${name}")"
		ls -1 "${dir}"/config/crd/bases/*.yaml
	done
}

# Regenerates the wrapper modules: a fresh go.mod requiring the pinned
# version, with the upstream module's replace directives copied (as a
# dependency its replaces do not apply; its local ./api replace is left out,
# the published api module at the same version stands in for it).
cmd_update_tools() {
	local name dir gomod
	for name in helm-controller source-controller; do
		dir="${SCRIPT_DIR}/${name}"
		log "updating ${name} to $(module_of "${name}") $(version_of "${name}")"
		rm -f "${dir}/go.mod" "${dir}/go.sum"
		(cd "${dir}" && GO_MOD_FLAG=-mod=mod go_env go mod init "github.com/helm-service/helm-service/test/bench/flux/${name}" 2>/dev/null)
		gomod="$(cd "${dir}" && GO_MOD_FLAG=-mod=mod go_env go mod download -json "$(module_of "${name}")@$(version_of "${name}")" |
			sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
		[[ -f "${gomod}" ]] || die "could not download $(module_of "${name}")@$(version_of "${name}")"
		{
			printf '// Generated by test/bench/flux/flux.sh update-tools from the versions pinned\n'
			printf '// at the top of that script; do not edit by hand.\n\n'
			cat "${dir}/go.mod"
			printf '\n// Copied from %s@%s (its replaces do not apply to dependents).\n' "$(module_of "${name}")" "$(version_of "${name}")"
			# Single-line and block replaces, without the ones to local directories.
			awk '
				/^replace[[:space:]]*\(/ { block = 1; next }
				block && /^\)/ { block = 0; next }
				block && /=>/ && $0 !~ /=>[[:space:]]*\.\.?\// { print "replace " $0; next }
				/^replace[[:space:]]/ && /=>/ && $0 !~ /=>[[:space:]]*\.\.?\// { print }
			' "${gomod}" | sed 's/^replace[[:space:]]\+/replace /'
		} >"${dir}/go.mod.tmp"
		mv "${dir}/go.mod.tmp" "${dir}/go.mod"
		(
			cd "${dir}"
			GO_MOD_FLAG=-mod=mod go_env go mod edit -require "$(module_of "${name}")@$(version_of "${name}")"
			# -e: the tests of the controllers' packages import modules the
			# build does not need (and the proxy may not serve).
			GO_MOD_FLAG=-mod=mod go_env go mod tidy -e
		)
	done
	log "done; commit test/bench/flux/*/go.mod and go.sum"
}

case "${1:-}" in
build) cmd_build ;;
bin-dir) printf '%s\n' "${BIN_DIR}" ;;
crds) cmd_crds ;;
update-tools) cmd_update_tools ;;
*)
	sed -n '2,16p' "$0" >&2
	exit 2
	;;
esac
