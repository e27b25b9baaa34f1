//go:build tools

// Package tools pins the Go module that test/bench/flux/flux.sh builds Flux's
// helm-controller from. It is never compiled (build tag "tools"); it only
// keeps the requirements in go.mod and go.sum. Regenerate with
// "test/bench/flux/flux.sh update-tools".
package tools

import _ "github.com/fluxcd/helm-controller"
