//go:build tools

// The baseline of the benchmark is the helm CLI at the Helm version of this
// module; this import keeps its dependencies in go.mod so that
// `go build helm.sh/helm/v3/cmd/helm` works from the repository.
package main

import _ "helm.sh/helm/v3/cmd/helm"
