// Package routing points the stable endpoint of a blue/green service at its
// primary or its canary. A Router owns the objects that make the stable
// endpoint (a Service, an HTTPRoute, a VirtualService); the primary's and
// the canary's own objects belong to their Helm releases.
package routing

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Router routes a service's traffic between its primary and its canary.
type Router interface {
	// Route creates or updates the stable endpoints of t so that traffic
	// is split as given. It is idempotent.
	Route(ctx context.Context, t Target, s Split) error
	// Split reports how traffic is routed now; an error wrapping
	// ErrNotRouted when the stable endpoints do not exist.
	Split(ctx context.Context, t Target) (Split, error)
	// Remove deletes every routing object made for service in namespace
	// and returns them as "Kind namespace/name".
	Remove(ctx context.Context, namespace, service string) ([]string, error)
}

// ErrNotRouted is returned by Split for a target without stable endpoints.
var ErrNotRouted = errors.New("no stable endpoint")

// Target is a service with a primary and a canary.
type Target struct {
	Namespace string
	// Service is the Keptn service.
	Service string
	// Backends pair every stable Service name with the Services of the
	// primary and the canary it routes to.
	Backends []Backend
}

// Backend is one stable endpoint and the Services behind it.
type Backend struct {
	Stable  string
	Primary string
	Canary  string
	// Port is the Service port traffic goes to.
	Port int32
}

// Split is the share of traffic, in percent, each side gets.
type Split struct {
	Primary int
	Canary  int
}

// The splits blue/green uses.
var (
	AllPrimary = Split{Primary: 100}
	AllCanary  = Split{Canary: 100}
)

// majority is the side that gets most of the traffic, primary on a tie.
func (s Split) majority() Split {
	if s.Canary > s.Primary {
		return AllCanary
	}
	return AllPrimary
}

func (s Split) String() string {
	return fmt.Sprintf("primary %d%%, canary %d%%", s.Primary, s.Canary)
}

// Validate reports a split whose shares are not between 0 and 100 or do
// not add up to 100.
func (s Split) Validate() error {
	if s.Primary < 0 || s.Canary < 0 || s.Primary+s.Canary != 100 {
		return fmt.Errorf("split %s: shares must be non-negative and add up to 100", s)
	}
	return nil
}

// BlueGreenBackend pairs a Service of one side's release of a blue/green
// service with its stable Service and the other side's Service. Every
// object of a primary or canary release is named after the release, so a
// Service release+suffix of the release primary or canary (one of the
// two) routes through the stable Service service+suffix. ok is false for a
// Service not named after its release.
func BlueGreenBackend(service, primary, canary, release, name string, port int32) (b Backend, ok bool) {
	suffix, ok := strings.CutPrefix(name, release)
	if !ok {
		return Backend{}, false
	}
	return Backend{Stable: service + suffix, Primary: primary + suffix, Canary: canary + suffix, Port: port}, true
}
