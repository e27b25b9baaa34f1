#!/usr/bin/env bash
# A first deployment with helm-service, in one command:
#
#   test/demo.sh
#
# Without KUBECONFIG it brings up the local cluster (test/cluster/cluster.sh up;
# a running one is reused, CLUSTER_NAME picks it). It builds helm-service once,
# runs it in the background with its embedded NATS server and the sample charts
# (CHART_DIR=test/testdata/charts), deploys the sample service carts direct to
# stage staging, then blue/green to stage prod, promotes the canary (a release
# trigger with result pass), prints `helm-service status`, stops the service
# and says how to go on. Every step that fails stops the demo with a message
# naming the step and the end of the service's log. Running it again upgrades
# what the last run deployed.
#
# Environment:
#   KUBECONFIG        the cluster to deploy to (default: the local cluster)
#   CLUSTER_NAME      the local cluster's name (cluster.sh's default otherwise)
#   DEMO_PROJECT      Keptn project of the sample service (default sockshop)
#   DEMO_NATS_PORT    port of the embedded NATS server on 127.0.0.1 (default 4222)
#   DEMO_HTTP_PORT    port of /healthz, /readyz and /metrics on 127.0.0.1 (default 8080)
#   DEMO_DIR          the binary, the service's log and its NATS data
#                     (default ~/.cache/helm-service/demo)
#   HELM_SERVICE_BIN  a helm-service binary to run instead of building one
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

project="${DEMO_PROJECT:-sockshop}"
nats_port="${DEMO_NATS_PORT:-4222}"
http_port="${DEMO_HTTP_PORT:-8080}"
demo_dir="${DEMO_DIR:-${HELM_SERVICE_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/helm-service}/demo}"
nats_url="nats://127.0.0.1:${nats_port}"
log_file="${demo_dir}/helm-service.log"
pid_file="${demo_dir}/helm-service.pid"
image="docker.io/keptnexamples/carts:0.13.2"
service_pid=""

say() { printf '\n== %s\n' "$*"; }
fail() {
	printf '\ndemo: FAILED: %s\n' "$*" >&2
	if [[ -s "${log_file}" ]]; then
		printf 'demo: the last lines of the service log %s:\n' "${log_file}" >&2
		tail -n 20 "${log_file}" | sed 's/^/    /' >&2
	fi
	exit 1
}

# stop_service stops the helm-service this script started (SIGTERM, then
# waits for it to hand back its work and exit).
stop_service() {
	if [[ -n "${service_pid}" ]] && kill -0 "${service_pid}" 2>/dev/null; then
		kill -TERM "${service_pid}" 2>/dev/null || true
		wait "${service_pid}" 2>/dev/null || true
	fi
	service_pid=""
	rm -f "${pid_file}"
}
trap stop_service EXIT
trap 'printf "\ndemo: interrupted\n" >&2; exit 130' INT
trap 'printf "\ndemo: terminated\n" >&2; exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# step NAME COMMAND...: runs the command; its failure ends the demo.
step() {
	local name="$1"
	shift
	say "${name}"
	local code=0
	"$@" || code=$?
	((code == 0)) || fail "${name}: '$*' exited ${code}"
}

mkdir -p "${demo_dir}"

# A service left running by an earlier demo that was killed: it is ours, stop it.
if [[ -s "${pid_file}" ]]; then
	old_pid="$(cat "${pid_file}")"
	if kill -0 "${old_pid}" 2>/dev/null && [[ "$(readlink "/proc/${old_pid}/exe" 2>/dev/null)" == "${demo_dir}/helm-service"* ]]; then
		echo "stopping the helm-service an earlier demo left running (pid ${old_pid})"
		kill -TERM "${old_pid}" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "${old_pid}" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -f "${pid_file}"
fi

for port in "${nats_port}" "${http_port}"; do
	if port_in_use "${port}"; then
		fail "port ${port} on 127.0.0.1 is already in use; stop what listens there or pick other ports with DEMO_NATS_PORT and DEMO_HTTP_PORT"
	fi
done

say "Kubernetes cluster"
local_cluster=""
if [[ -z "${KUBECONFIG:-}" ]]; then
	local_cluster=1
	echo "KUBECONFIG is not set: bringing up the local cluster (test/cluster; the first build takes about 16 minutes on 2 cores)"
	KUBECONFIG="$(test/cluster/cluster.sh up)" || fail "the local cluster did not come up (test/cluster/cluster.sh up); see its messages above"
fi
export KUBECONFIG
echo "KUBECONFIG=${KUBECONFIG}"

binary="${HELM_SERVICE_BIN:-}"
if [[ -z "${binary}" ]]; then
	binary="${demo_dir}/helm-service"
	step "build helm-service" go build -o "${binary}" ./cmd/helm-service
fi
[[ -x "${binary}" ]] || fail "no helm-service binary at ${binary}"

# Tasks act as each namespace's deployer ServiceAccount, bound to the
# chart's deployer ClusterRole: the service checks at start that it exists.
step "apply the deployer ClusterRole of chart/" go run ./test/deployerrole

say "start helm-service (embedded NATS on ${nats_url}, charts from test/testdata/charts)"
rm -rf "${demo_dir}/nats" # a fresh stream: nothing of an earlier run is delivered again
env -u NATS_URL \
	NATS_LISTEN="127.0.0.1:${nats_port}" \
	NATS_DATA_DIR="${demo_dir}/nats" \
	HTTP_ADDR="127.0.0.1:${http_port}" \
	CHART_DIR=test/testdata/charts \
	LOG_FORMAT=text \
	"${binary}" >"${log_file}" 2>&1 &
service_pid=$!
echo "${service_pid}" >"${pid_file}"
for _ in $(seq 1 300); do
	grep -q 'helm-service is running' "${log_file}" && break
	kill -0 "${service_pid}" 2>/dev/null || fail "helm-service exited at start"
	sleep 0.1
done
grep -q 'helm-service is running' "${log_file}" || fail "helm-service did not start within 30 s"
echo "running (pid ${service_pid}); its log: ${log_file}"

step "deploy carts direct to ${project}-staging (test/testdata/deployment.triggered.json)" \
	"${binary}" trigger --nats "${nats_url}" --project "${project}" test/testdata/deployment.triggered.json

step "deploy carts blue/green to ${project}-prod: the first time the primary, then the canary" \
	"${binary}" trigger deployment --nats "${nats_url}" --project "${project}" --stage prod --service carts \
	--strategy blue_green_service --image "${image}"

step "promote the canary of carts in ${project}-prod (release.triggered, result pass)" \
	"${binary}" trigger release --nats "${nats_url}" --project "${project}" --stage prod --service carts --result pass

step "helm-service status --project ${project}" "${binary}" status --project "${project}"

say "stop helm-service"
stop_service
echo "stopped"

# How to go on, with this run's settings where they are not the defaults.
listen="" nats_flag=""
if [[ "${nats_port}" != 4222 ]]; then
	listen="NATS_LISTEN=127.0.0.1:${nats_port} "
	nats_flag=" --nats ${nats_url}"
fi
if [[ "${http_port}" != 8080 ]]; then
	listen+="HTTP_ADDR=127.0.0.1:${http_port} "
fi
teardown="kill %1 %2   # stop the service and the watch"
if [[ -n "${local_cluster}" ]]; then
	teardown="kill %1 %2; ${CLUSTER_NAME:+CLUSTER_NAME=${CLUSTER_NAME} }test/cluster/cluster.sh down   # stop it all, tear the local cluster down"
fi
cat <<EOF

The demo is done. To go on, against the same cluster:

  export KUBECONFIG=${KUBECONFIG}
  ${listen}CHART_DIR=test/testdata/charts go run ./cmd/helm-service &   # the service again
  go run ./cmd/helm-service watch${nats_flag} &   # every event on the bus, one line each
  go run ./cmd/helm-service trigger deployment${nats_flag} --project ${project} --stage staging --service carts --image example/carts:2
  go run ./cmd/helm-service status --project ${project}
  ${teardown}

README.md and docs/ say what each step did. The service's log of this demo: ${log_file}
EOF
