package handler

import (
	"encoding/json"

	"github.com/helm-service/helm-service/pkg/events"
)

// Superseding implements Superseding: of several deployments queued for one
// release, only the newest is worth running.
func (d *Deployment) Superseding() bool { return true }

// TouchedReleases implements ReleaseToucher: the releases the trigger's
// strategy writes, <service>-primary and <service>-canary for blue/green,
// <service> otherwise.
func (d *Deployment) TouchedReleases(t Trigger) []string {
	var in struct {
		Deployment struct {
			Strategy string `json:"deploymentstrategy"`
		} `json:"deployment"`
	}
	// Read leniently: a trigger this cannot read is refused by Run, which
	// then touches no release at all.
	_ = json.Unmarshal(t.Event.Data(), &in)
	strategy, err := events.ParseStrategy(in.Deployment.Strategy)
	if err != nil {
		strategy = events.StrategyDirect
	}
	return deploymentReleases(t.Common.Service, strategy)
}
