#!/usr/bin/env bash
# Runs every test of helm-service: static checks (gofmt, go vet, staticcheck), the unit tests, then the
# end-to-end suite and its fault cases against the local Kubernetes cluster (test/cluster), which
# it builds on first use (about 16 minutes on 2 cores; cached afterwards),
# brings up, and takes down again unless it was already running.
#
#   test/run.sh            everything
#   E2E=0 test/run.sh      unit tests only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== gofmt, go vet"
unformatted="$(gofmt -l cmd pkg handler eventbus test)"
if [[ -n "${unformatted}" ]]; then
	printf 'gofmt wants these files formatted:\n%s\n' "${unformatted}" >&2
	exit 1
fi
go vet ./...

echo "== staticcheck"
# Pinned; fetched from the module proxy on first use, then cached like any module.
staticcheck_version="v0.8.2"
go run "honnef.co/go/tools/cmd/staticcheck@${staticcheck_version}" ./...

echo "== unit tests"
go test -race -count=1 ./...

if [[ "${E2E:-1}" == "0" ]]; then
	exit 0
fi

echo "== nats-server for the fault suite"
# The fault suite restarts a real nats-server process; Debian's is too old
# for this module's client, so build the version the module uses, once.
nats_version="$(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)"
nats_dir="${HELM_SERVICE_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/helm-service}/nats-server-${nats_version}"
if [[ ! -x "${nats_dir}/nats-server" ]]; then
	GOBIN="${nats_dir}" go install "github.com/nats-io/nats-server/v2@${nats_version}"
fi
"${nats_dir}/nats-server" --version

echo "== end-to-end tests on the local cluster"
if test/cluster/cluster.sh status >/dev/null 2>&1; then
	echo "using the local cluster that is already up"
else
	trap 'test/cluster/cluster.sh down' EXIT
fi
# Fake nodes are free; four leave room for every pod the suite makes.
kubeconfig="$(CLUSTER_NODES="${CLUSTER_NODES:-4}" test/cluster/cluster.sh up)"
E2E_KUBECONFIG="${kubeconfig}" E2E_NATS_SERVER="${nats_dir}/nats-server" go test -race -count=1 -v -timeout 45m ./test/e2e/

echo "== the benchmark's floor baselines on the local cluster"
# The floor and floor+records baselines against the same cluster: that they
# deploy what helm-service deployed, and leave Helm's records as Helm does.
E2E_KUBECONFIG="${kubeconfig}" go test -race -count=1 -run TestFloorOnCluster ./test/bench/
