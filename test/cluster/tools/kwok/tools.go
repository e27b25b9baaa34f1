//go:build tools

// Package tools pins the Go modules that test/cluster/cluster.sh builds the
// local control plane from. It is never compiled (build tag "tools"); it only
// keeps the requirements in go.mod and go.sum. Regenerate with
// "test/cluster/cluster.sh update-tools".
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
	_ "sigs.k8s.io/kwok/cmd/kwokctl"
)
