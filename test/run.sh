#!/usr/bin/env bash
# Runs every test of helm-service: static checks, the unit tests, then the
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

echo "== unit tests"
go test -race -count=1 ./...

if [[ "${E2E:-1}" == "0" ]]; then
	exit 0
fi

echo "== end-to-end tests on the local cluster"
if test/cluster/cluster.sh status >/dev/null 2>&1; then
	echo "using the local cluster that is already up"
else
	trap 'test/cluster/cluster.sh down' EXIT
fi
# Fake nodes are free; four leave room for every pod the suite makes.
kubeconfig="$(CLUSTER_NODES="${CLUSTER_NODES:-4}" test/cluster/cluster.sh up)"
E2E_KUBECONFIG="${kubeconfig}" go test -race -count=1 -v -timeout 25m ./test/e2e/
