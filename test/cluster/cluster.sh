#!/usr/bin/env bash
# Local Kubernetes control plane for end-to-end tests.
#
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd,
# kwok and kwokctl from Go modules (no container engine, no prebuilt binaries)
# and runs them as a kwok cluster on loopback. kwok stands in for the kubelet,
# so pods of a Deployment become Running/Ready without pulling images.
#
# Usage: test/cluster/cluster.sh {build|up|down|env|status|kubectl ARGS...|update-tools}
# See test/cluster/README.md.
set -euo pipefail

# ---------------------------------------------------------------------------
# Pinned versions: the only place to change them. After changing one, run
# `test/cluster/cluster.sh update-tools` to regenerate the wrapper modules
# under test/cluster/tools/ (go.mod/go.sum), then commit them.
KUBE_VERSION=v1.36.3 # k8s.io/kubernetes; staging modules use v0.<minor>.<patch>
ETCD_VERSION=v3.6.8  # go.etcd.io/etcd/server/v3
KWOK_VERSION=v0.8.0  # sigs.k8s.io/kwok
# ---------------------------------------------------------------------------

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS_DIR="${SCRIPT_DIR}/tools"

CACHE_ROOT="${HELM_SERVICE_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/helm-service}/cluster"
STAMP="k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
BIN_DIR="${CACHE_ROOT}/${STAMP}/bin"
WORK_DIR="${CACHE_ROOT}/kwok"

CLUSTER_NAME="${CLUSTER_NAME:-helm-service-e2e}"
# One kubeconfig per cluster name, so clusters of different names never share
# (or delete) each other's file.
KUBECONFIG_PATH="${CLUSTER_KUBECONFIG:-${CACHE_ROOT}/${CLUSTER_NAME}.kubeconfig}"
# Seconds to wait for the API server, the nodes and the default ServiceAccount.
CLUSTER_WAIT_SECONDS="${CLUSTER_WAIT_SECONDS:-180}"
CLUSTER_NODES="${CLUSTER_NODES:-2}"

KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
ETCD_BINS=(etcd)
KWOK_BINS=(kwok kwokctl)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() {
	printf '[cluster] error: %s\n' "$*" >&2
	exit 1
}

# Environment shared by every go invocation on the wrapper modules.
# GOFLAGS is set here (not inherited) so that builds use exactly the
# committed go.sum; update-tools overrides it with -mod=mod.
go_env() {
	env GOWORK=off GOFLAGS="${GO_MOD_FLAG:--mod=readonly} -buildvcs=false" CGO_ENABLED=0 "$@"
}

# v1.36.3 -> v0.36.3 (version of the k8s.io/* staging modules)
staging_version() { printf 'v0.%s' "${KUBE_VERSION#v1.}"; }

kube_ldflags() {
	local v="${KUBE_VERSION}" major minor pkg flags="-s -w"
	major="${v#v}"
	major="${major%%.*}"
	minor="${v#v*.}"
	minor="${minor%%.*}"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X ${pkg}.gitVersion=${v} -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor}"
		flags+=" -X ${pkg}.gitTreeState=clean"
	done
	printf '%s' "${flags}"
}

kwok_ldflags() {
	printf '%s' "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}"
}

# Fails when a wrapper module does not require the pinned version.
check_module_pin() {
	local dir="$1" mod="$2" version="$3"
	[[ -f "${dir}/go.mod" && -f "${dir}/go.sum" ]] ||
		die "${dir} lacks go.mod/go.sum; run: $0 update-tools"
	grep -Eq "^[[:space:]]*(require[[:space:]]+)?${mod//./\\.}[[:space:]]+${version//./\\.}([[:space:]]|$)" "${dir}/go.mod" ||
		die "${dir}/go.mod does not require ${mod} ${version} (pinned in $0); run: $0 update-tools"
}

have_bins() {
	local b
	for b in "$@"; do
		[[ -x "${BIN_DIR}/${b}" ]] || return 1
	done
}

# build_part NAME MODULE_DIR LDFLAGS OUTPUT PACKAGE...
# OUTPUT is a file name for a single package, or "" for one binary per package
# named after it. Binaries land in BIN_DIR only when the whole build succeeded.
build_part() {
	local name="$1" dir="$2" ldflags="$3" out="$4"
	shift 4
	local tmp start
	tmp="$(mktemp -d "${CACHE_ROOT}/${STAMP}/.build-${name}.XXXXXX")"
	start=${SECONDS}
	log "building ${name}: $* ..."
	if ! (cd "${dir}" && go_env go build -trimpath -ldflags "${ldflags}" -o "${tmp}/${out}" "$@"); then
		rm -rf "${tmp}"
		die "building ${name} failed"
	fi
	mv -f "${tmp}"/* "${BIN_DIR}/"
	rm -rf "${tmp}"
	log "built ${name} in $((SECONDS - start))s"
}

cmd_build() {
	check_module_pin "${TOOLS_DIR}/kubernetes" k8s.io/kubernetes "${KUBE_VERSION}"
	check_module_pin "${TOOLS_DIR}/etcd" go.etcd.io/etcd/server/v3 "${ETCD_VERSION}"
	check_module_pin "${TOOLS_DIR}/kwok" sigs.k8s.io/kwok "${KWOK_VERSION}"

	if have_bins "${KWOK_BINS[@]}" "${ETCD_BINS[@]}" "${KUBE_BINS[@]}"; then
		log "binaries up to date in ${BIN_DIR}"
		return 0
	fi
	command -v go >/dev/null || die "go is not on PATH"
	mkdir -p "${BIN_DIR}"
	# Serialise concurrent builds of the same versions (e.g. two test runs
	# starting at once). The lock is released before anything is started that
	# outlives this script: the cluster processes must not inherit it.
	if command -v flock >/dev/null; then
		exec 9>"${CACHE_ROOT}/${STAMP}/.build.lock"
		if ! flock -n 9; then
			log "another build of ${STAMP} is running; waiting for it (up to 60 minutes)"
			flock -w 3600 9 || die "timed out waiting for the other build"
		fi
	fi
	build_missing
	if command -v flock >/dev/null; then
		flock -u 9
		exec 9>&-
	fi
}

build_missing() {
	local start=${SECONDS}
	if have_bins "${KWOK_BINS[@]}" "${ETCD_BINS[@]}" "${KUBE_BINS[@]}"; then
		log "binaries up to date in ${BIN_DIR} (built by another run)"
		return 0
	fi
	log "building into ${BIN_DIR} (go $(go env GOVERSION), $(nproc 2>/dev/null || echo '?') cores)"
	have_bins "${KWOK_BINS[@]}" ||
		build_part kwok "${TOOLS_DIR}/kwok" "$(kwok_ldflags)" "" \
			sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
	have_bins "${ETCD_BINS[@]}" ||
		build_part etcd "${TOOLS_DIR}/etcd" "-s -w" etcd go.etcd.io/etcd/server/v3
	have_bins "${KUBE_BINS[@]}" ||
		build_part kubernetes "${TOOLS_DIR}/kubernetes" "$(kube_ldflags)" "" \
			k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
			k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
	have_bins "${KWOK_BINS[@]}" "${ETCD_BINS[@]}" "${KUBE_BINS[@]}" || die "binaries missing after build"
	log "build finished in $((SECONDS - start))s: ${BIN_DIR}"
}

# Environment for every kwokctl invocation: state under WORK_DIR, and the
# built kubectl so kwokctl never tries to download one.
kwokctl() {
	env KWOK_WORKDIR="${WORK_DIR}" KWOK_KUBECTL_BINARY="${BIN_DIR}/kubectl" \
		PATH="${BIN_DIR}:${PATH}" "${BIN_DIR}/kwokctl" "$@"
}

k() { "${BIN_DIR}/kubectl" --kubeconfig "${KUBECONFIG_PATH}" "$@"; }

cluster_dir() { printf '%s/clusters/%s' "${WORK_DIR}" "${CLUSTER_NAME}"; }

cluster_answers() {
	[[ -f "${KUBECONFIG_PATH}" && -x "${BIN_DIR}/kubectl" ]] || return 1
	k --request-timeout=5s get --raw /readyz >/dev/null 2>&1
}

port_in_use() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {
	local i port
	for i in $(seq 1 100); do
		port=$((20000 + (RANDOM % 10000)))
		port_in_use "${port}" || {
			printf '%s' "${port}"
			return 0
		}
	done
	die "no free loopback port found"
}

# Prints the component whose recorded process is gone, if any; fails then.
components_alive() {
	local f pid
	for f in "$(cluster_dir)"/pids/*.pid; do
		[[ -f "${f}" ]] || continue
		pid="$(tr -dc '0-9' <"${f}")"
		if [[ -z "${pid}" ]] || ! process_runs "${pid}"; then
			basename "${f}" .pid
			return 1
		fi
	done
}

# process_runs PID: the process exists and is not a zombie (an exited
# process that nobody reaped yet).
process_runs() {
	local stat
	stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
	stat="${stat##*) }"
	[[ "${stat:0:1}" != "Z" ]]
}

# wait_until DESCRIPTION COMMAND... : retries once a second until
# CLUSTER_WAIT_SECONDS after WAIT_START. Fails (returns 1, after saying why)
# at once when a component process has exited, or when time is up.
wait_until() {
	local what="$1" dead
	shift
	until "$@" >/dev/null 2>&1; do
		if ! dead="$(components_alive)"; then
			log "${dead} exited while waiting for ${what}; end of its log:"
			tail -n 20 "$(cluster_dir)/logs/${dead}.log" >&2 2>/dev/null || true
			return 1
		fi
		if ((SECONDS - WAIT_START >= CLUSTER_WAIT_SECONDS)); then
			log "timed out after ${CLUSTER_WAIT_SECONDS}s waiting for ${what}; last attempt said:"
			"$@" >&2 || true
			log_tails
			return 1
		fi
		sleep 1
	done
}

# log_tails prints the end of every component's log (stderr).
log_tails() {
	local f
	for f in "$(cluster_dir)"/logs/*.log; do
		[[ -f "${f}" ]] || continue
		log "end of $(basename "${f}"):"
		tail -n 8 "${f}" >&2 || true
	done
}

# keep_failed ATTEMPT: copies the state of a failed attempt (logs, pid files,
# kwokctl's configuration; not etcd's data) under CACHE_ROOT/failed/ before
# the cluster is deleted, so that the next attempt does not erase why this
# one failed. The three newest are kept.
keep_failed() {
	local attempt="$1" dest old
	[[ -d "$(cluster_dir)" ]] || return 0
	dest="${CACHE_ROOT}/failed/${CLUSTER_NAME}-$(date -u +%Y%m%dT%H%M%SZ)-attempt${attempt}"
	mkdir -p "${dest}"
	cp -r "$(cluster_dir)/logs" "$(cluster_dir)/pids" "${dest}/" 2>/dev/null || true
	cp "$(cluster_dir)"/*.yaml "${dest}/" 2>/dev/null || true
	log "kept the logs of the failed attempt in ${dest}"
	# shellcheck disable=SC2012 # names carry no newlines
	for old in $(ls -1dt "${CACHE_ROOT}/failed/${CLUSTER_NAME}-"* 2>/dev/null | tail -n +4); do
		rm -rf "${old}"
	done
}

nodes_ready() {
	local ready
	ready="$(k get nodes -o jsonpath='{range .items[*]}{range .status.conditions[?(@.type=="Ready")]}{.status}{"\n"}{end}{end}' | grep -c '^True$' || true)"
	if ((ready < CLUSTER_NODES)); then
		echo "${ready} of ${CLUSTER_NODES} nodes Ready:"
		k get nodes
		return 1
	fi
}

# stage_configs prints --config flags for kwok's stages: its default node and
# pod stages, read from the kwok module (kwokctl drops its defaults once any
# stage is configured), then test/cluster/stages.yaml, whose stages only
# apply to pods labelled helm-service.test/pod-status.
stage_configs() {
	local dir f
	dir="$(cd "${TOOLS_DIR}/kwok" && go_env go mod download -json "sigs.k8s.io/kwok@${KWOK_VERSION}" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[[ -d "${dir}/kustomize/stage" ]] || die "kwok module ${KWOK_VERSION} not found (go mod download)"
	for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
		pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
		[[ -f "${dir}/kustomize/stage/${f}" ]] || die "kwok stage ${f} missing in ${dir}"
		printf -- '--config\n%s\n' "${dir}/kustomize/stage/${f}"
	done
	printf -- '--config\n%s\n' "${SCRIPT_DIR}/stages.yaml"
}

# create_cluster PORT: one kwokctl create, holding a machine-wide lock so that
# concurrent `up`s (other cluster names) do not pick the same component ports
# (kwokctl probes for free ports, then starts the processes). The lock's file
# descriptor is closed for kwokctl, so the cluster processes never hold it.
create_cluster() {
	local port="$1" rc=0 stages
	mapfile -t stages < <(stage_configs)
	((${#stages[@]} > 0)) || die "no kwok stages"
	if command -v flock >/dev/null; then
		exec 8>"${WORK_DIR}/.create.lock"
		flock -w 300 8 || die "timed out waiting for another cluster creation"
	fi
	kwokctl create cluster \
		--name "${CLUSTER_NAME}" \
		--config "${SCRIPT_DIR}/kwokctl.yaml" \
		"${stages[@]}" \
		--runtime binary \
		--kube-apiserver-port "${port}" \
		--etcd-binary "${BIN_DIR}/etcd" \
		--kube-apiserver-binary "${BIN_DIR}/kube-apiserver" \
		--kube-controller-manager-binary "${BIN_DIR}/kube-controller-manager" \
		--kube-scheduler-binary "${BIN_DIR}/kube-scheduler" \
		--kwok-controller-binary "${BIN_DIR}/kwok" \
		--kubeconfig "${KUBECONFIG_PATH}" \
		--wait "${CLUSTER_WAIT_SECONDS}s" \
		-v WARN >&2 8>&- || rc=$?
	if command -v flock >/dev/null; then
		flock -u 8
		exec 8>&-
	fi
	return "${rc}"
}

cmd_up() {
	UP_START=${SECONDS}
	cmd_build
	mkdir -p "${WORK_DIR}" "$(dirname "${KUBECONFIG_PATH}")"

	if [[ -e "$(cluster_dir)" ]]; then
		if cluster_answers; then
			log "cluster ${CLUSTER_NAME} is already up; reusing it"
			printf '%s\n' "${KUBECONFIG_PATH}"
			return 0
		fi
		log "cluster ${CLUSTER_NAME} exists but does not answer; recreating it"
		cmd_down
	fi

	local attempt
	for attempt in 1 2 3; do
		if start_attempt "${attempt}"; then
			log "cluster ${CLUSTER_NAME} ready in $((SECONDS - UP_START))s"
			printf '%s\n' "${KUBECONFIG_PATH}"
			return 0
		fi
		keep_failed "${attempt}"
		cmd_down >/dev/null 2>&1 || true
		((attempt < 3)) || die "could not bring up cluster ${CLUSTER_NAME} in 3 attempts; their logs: ${CACHE_ROOT}/failed/"
		log "recreating the cluster (attempt $((attempt + 1)) of 3)"
	done
}

# start_attempt creates the cluster and waits until it can run pods: the API
# server ready, the nodes Ready and the default ServiceAccount made (by the
# controller manager). It fails, after saying why, when kwokctl fails, a
# component exits or CLUSTER_WAIT_SECONDS pass.
start_attempt() {
	local attempt="$1" port dead
	WAIT_START=${SECONDS}
	port="${CLUSTER_PORT:-}"
	if [[ -z "${port}" ]]; then
		port="$(pick_port)"
	elif port_in_use "${port}"; then
		die "CLUSTER_PORT=${port} is already in use"
	fi
	log "creating cluster ${CLUSTER_NAME} on 127.0.0.1:${port} (state in $(cluster_dir))"
	if ! create_cluster "${port}"; then
		log "kwokctl create cluster failed"
		log_tails
		return 1
	fi
	sleep 1
	if ! dead="$(components_alive)"; then
		# Most likely a port taken between kwokctl's probe and the start.
		log "${dead} exited right after the start; end of its log:"
		tail -n 20 "$(cluster_dir)/logs/${dead}.log" >&2 2>/dev/null || true
		return 1
	fi
	# Use the cluster's context regardless of what else the file holds.
	k config use-context "kwok-${CLUSTER_NAME}" >/dev/null || return 1

	log "scaling to ${CLUSTER_NODES} nodes"
	kwokctl scale node --name "${CLUSTER_NAME}" --replicas "${CLUSTER_NODES}" -v WARN >&2 || return 1

	# Fault injection for the test of this recovery: kills the named
	# component once, in the first attempt.
	if [[ "${attempt}" == 1 && -n "${CLUSTER_TEST_KILL:-}" ]]; then
		log "test: killing ${CLUSTER_TEST_KILL}"
		kill -KILL "$(component_pid "${CLUSTER_TEST_KILL}")" 2>/dev/null || true
	fi

	wait_until "the API server" k get --raw /readyz &&
		wait_until "${CLUSTER_NODES} Ready nodes" nodes_ready &&
		wait_until "ServiceAccount default/default" k -n default get serviceaccount default || return 1
	# Ready, but only worth handing out with every component running.
	if ! dead="$(components_alive)"; then
		log "${dead} exited while the cluster came up; end of its log:"
		tail -n 20 "$(cluster_dir)/logs/${dead}.log" >&2 2>/dev/null || true
		return 1
	fi
}

# Stops processes recorded in the cluster's pid files, if kwokctl could not.
kill_leftovers() {
	local dir="$1" f pid
	[[ -d "${dir}/pids" ]] || return 0
	for f in "${dir}"/pids/*.pid; do
		[[ -f "${f}" ]] || continue
		pid="$(tr -dc '0-9' <"${f}")"
		[[ -n "${pid}" ]] || continue
		# Only processes started from this cluster's copy of the binaries.
		if [[ -r "/proc/${pid}/cmdline" ]] && tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -qF "${dir}/"; then
			log "stopping leftover process ${pid} ($(basename "${f}" .pid))"
			kill "${pid}" 2>/dev/null || true
		fi
	done
}

cmd_down() {
	local dir
	dir="$(cluster_dir)"
	if [[ ! -e "${dir}" ]]; then
		log "no cluster ${CLUSTER_NAME} to delete"
	else
		log "deleting cluster ${CLUSTER_NAME}"
		if [[ -x "${BIN_DIR}/kwokctl" ]]; then
			kwokctl delete cluster --name "${CLUSTER_NAME}" --kubeconfig "${KUBECONFIG_PATH}" -v WARN >&2 ||
				log "kwokctl delete cluster failed; cleaning up by hand"
		fi
		kill_leftovers "${dir}"
		rm -rf "${dir}"
	fi
	# The default kubeconfig holds nothing but this cluster.
	if [[ -z "${CLUSTER_KUBECONFIG:-}" ]]; then
		rm -f "${KUBECONFIG_PATH}"
	fi
	return 0
}

# The kube-apiserver of a running cluster, stopped and started again on its
# own (etcd and kwok keep running), for outage tests. kwokctl can only stop
# and start whole clusters, so the process is stopped by hand; the command
# lines of the control plane are kept to start the API server again with the
# same flags, port and certificates, and to restart the controller manager
# and the scheduler, which exit when they cannot renew their leader lease
# during the outage (as a kubelet would restart them).
saved_dir() { printf '%s/stopped' "$(cluster_dir)"; }

component_pid() { tr -dc '0-9' <"$(cluster_dir)/pids/$1.pid" 2>/dev/null || true; }

cmd_apiserver_stop() {
	local dir pid name i
	dir="$(cluster_dir)"
	[[ -f "${dir}/pids/kube-apiserver.pid" ]] || die "no cluster ${CLUSTER_NAME}"
	pid="$(component_pid kube-apiserver)"
	if [[ -z "${pid}" || ! -r "/proc/${pid}/cmdline" ]]; then
		[[ -f "$(saved_dir)/kube-apiserver.cmdline" ]] && {
			log "kube-apiserver of ${CLUSTER_NAME} is already stopped"
			return 0
		}
		die "kube-apiserver of ${CLUSTER_NAME} is not running and its command line is unknown"
	fi
	tr '\0' '\n' <"/proc/${pid}/cmdline" | grep -qF "${dir}/" || die "process ${pid} is not the kube-apiserver of ${CLUSTER_NAME}"
	mkdir -p "$(saved_dir)"
	for name in kube-apiserver kube-controller-manager kube-scheduler; do
		i="$(component_pid "${name}")"
		[[ -n "${i}" && -r "/proc/${i}/cmdline" ]] && cp "/proc/${i}/cmdline" "$(saved_dir)/${name}.cmdline"
	done
	kill -KILL "${pid}"
	for i in $(seq 1 100); do
		[[ -d "/proc/${pid}" ]] || break
		sleep 0.1
	done
	[[ ! -d "/proc/${pid}" ]] || die "kube-apiserver (${pid}) did not stop"
	log "stopped the kube-apiserver of ${CLUSTER_NAME} (pid ${pid})"
}

# start_saved NAME: starts a stopped component from its saved command line,
# in its own session and with no inherited descriptors, so that it outlives
# this script like the processes kwokctl starts.
start_saved() {
	local name="$1" dir pid
	local -a args
	dir="$(cluster_dir)"
	mapfile -d '' -t args <"$(saved_dir)/${name}.cmdline"
	(cd "${dir}" && exec setsid "${args[@]}" </dev/null >>"${dir}/logs/${name}.log" 2>&1 8>&- 9>&-) &
	pid=$!
	printf '%s' "${pid}" >"${dir}/pids/${name}.pid"
	log "started ${name} of ${CLUSTER_NAME} again (pid ${pid})"
}

cmd_apiserver_start() {
	local name pid
	[[ -f "$(saved_dir)/kube-apiserver.cmdline" ]] || die "the kube-apiserver of ${CLUSTER_NAME} was not stopped with apiserver-stop"
	UP_START=${SECONDS}
	WAIT_START=${SECONDS}
	for name in kube-apiserver kube-controller-manager kube-scheduler; do
		pid="$(component_pid "${name}")"
		if [[ -f "$(saved_dir)/${name}.cmdline" && ! (-n "${pid}" && -d "/proc/${pid}") ]]; then
			start_saved "${name}"
		fi
	done
	wait_until "the API server" k get --raw /readyz ||
		die "the kube-apiserver of ${CLUSTER_NAME} did not become ready; component logs: $(cluster_dir)/logs/"
	rm -rf "$(saved_dir)"
	log "kube-apiserver of ${CLUSTER_NAME} ready again in $((SECONDS - UP_START))s"
}

cmd_env() {
	printf 'export KUBECONFIG=%q\n' "${KUBECONFIG_PATH}"
	printf 'export PATH=%q:"${PATH}"\n' "${BIN_DIR}"
}

cmd_status() {
	printf 'binaries:   %s (%s)\n' "${BIN_DIR}" "$(have_bins "${KWOK_BINS[@]}" "${ETCD_BINS[@]}" "${KUBE_BINS[@]}" && echo built || echo 'not built')"
	printf 'state:      %s\n' "$(cluster_dir)"
	printf 'kubeconfig: %s\n' "${KUBECONFIG_PATH}"
	if cluster_answers; then
		printf 'cluster:    %s is up (%s)\n' "${CLUSTER_NAME}" "$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
	else
		printf 'cluster:    %s is not running\n' "${CLUSTER_NAME}"
		return 1
	fi
}

cmd_kubectl() {
	[[ -x "${BIN_DIR}/kubectl" ]] || die "kubectl not built; run: $0 build"
	exec "${BIN_DIR}/kubectl" --kubeconfig "${KUBECONFIG_PATH}" "$@"
}

# init_tools_module DIR: a fresh go.mod for the wrapper module in DIR.
init_tools_module() {
	local dir="$1"
	rm -f "${dir}/go.mod" "${dir}/go.sum"
	(cd "${dir}" && GO_MOD_FLAG=-mod=mod go_env go mod init "github.com/helm-service/helm-service/test/cluster/tools/$(basename "${dir}")" 2>/dev/null)
	{
		printf '// Generated by test/cluster/cluster.sh update-tools from the versions pinned\n'
		printf '// at the top of that script; do not edit by hand.\n\n'
		cat "${dir}/go.mod"
	} >"${dir}/go.mod.tmp"
	mv "${dir}/go.mod.tmp" "${dir}/go.mod"
}

# Regenerates the wrapper modules under tools/ from the pinned versions.
cmd_update_tools() {
	local staging gomod m

	log "updating tools/kwok to sigs.k8s.io/kwok ${KWOK_VERSION}"
	init_tools_module "${TOOLS_DIR}/kwok"
	(
		cd "${TOOLS_DIR}/kwok"
		GO_MOD_FLAG=-mod=mod go_env go mod edit -require "sigs.k8s.io/kwok@${KWOK_VERSION}"
		GO_MOD_FLAG=-mod=mod go_env go mod tidy
	)

	log "updating tools/etcd to go.etcd.io/etcd/server/v3 ${ETCD_VERSION}"
	init_tools_module "${TOOLS_DIR}/etcd"
	(
		cd "${TOOLS_DIR}/etcd"
		GO_MOD_FLAG=-mod=mod go_env go mod edit -require "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
		GO_MOD_FLAG=-mod=mod go_env go mod tidy
	)

	# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces
	# them with local directories; as a dependency those replaces do not
	# apply, so point every one of them at the published staging version.
	staging="$(staging_version)"
	log "updating tools/kubernetes to k8s.io/kubernetes ${KUBE_VERSION} (staging ${staging})"
	init_tools_module "${TOOLS_DIR}/kubernetes"
	(
		cd "${TOOLS_DIR}/kubernetes"
		gomod="$(GO_MOD_FLAG=-mod=mod go_env go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" |
			sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
		[[ -f "${gomod}" ]] || die "could not download k8s.io/kubernetes ${KUBE_VERSION}"
		mapfile -t staged < <(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "${gomod}" | sort -u)
		((${#staged[@]} > 0)) || die "found no k8s.io/* v0.0.0 requirements in ${gomod}"
		log "pointing ${#staged[@]} staging modules at ${staging}"
		GO_MOD_FLAG=-mod=mod go_env go mod edit -require "k8s.io/kubernetes@${KUBE_VERSION}"
		{
			printf '\n// k8s.io/kubernetes requires these at v0.0.0 (its own replaces point\n'
			printf '// into its source tree and do not apply to dependents).\nreplace (\n'
			for m in "${staged[@]}"; do
				printf '\t%s => %s %s\n' "${m}" "${m}" "${staging}"
			done
			printf ')\n'
		} >>go.mod
		GO_MOD_FLAG=-mod=mod go_env go mod tidy
	)
	log "done; commit test/cluster/tools/*/go.mod and go.sum"
}

usage() {
	cat >&2 <<EOF
usage: $0 COMMAND
  build          build the binaries into ${CACHE_ROOT}/<versions>/bin (only if missing)
  up             build if needed, start cluster \$CLUSTER_NAME (${CLUSTER_NAME}), print the kubeconfig path
  down           stop and delete the cluster (succeeds when none is running)
  env            print exports for: eval "\$($0 env)"
  status         print paths and whether the cluster answers
  kubectl ARGS   run the built kubectl against the cluster
  apiserver-stop stop only the kube-apiserver of the running cluster (SIGKILL)
  apiserver-start start it again with the same flags and wait until it is ready
  update-tools   regenerate tools/*/go.mod and go.sum from the pinned versions
EOF
	exit 2
}

main() {
	local cmd="${1:-}"
	[[ $# -gt 0 ]] && shift
	case "${cmd}" in
	build) cmd_build ;;
	up) cmd_up ;;
	down) cmd_down ;;
	env) cmd_env ;;
	status) cmd_status ;;
	kubectl) cmd_kubectl "$@" ;;
	apiserver-stop) cmd_apiserver_stop ;;
	apiserver-start) cmd_apiserver_start ;;
	update-tools) cmd_update_tools ;;
	*) usage ;;
	esac
}

main "$@"
