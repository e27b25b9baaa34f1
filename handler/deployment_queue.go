package handler

import (
	"encoding/json"

	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
)

// Superseding implements Superseding: of several deployments queued for one
// release, only the newest is worth running.
func (d *Deployment) Superseding() bool { return true }

// TouchedReleases implements ReleaseToucher: the releases the trigger's
// strategy writes, <service>-primary and <service>-canary for blue/green,
// <service> otherwise.
func (d *Deployment) TouchedReleases(t Trigger) []string {
	return deployed.StrategyReleaseNames(t.Common.Service, d.TriggerStrategy(t))
}

// TriggerStrategy implements StrategyTeller: the trigger's
// deploymentstrategy, direct when it cannot be read (Run then refuses the
// trigger).
func (d *Deployment) TriggerStrategy(t Trigger) events.Strategy {
	var in struct {
		Deployment struct {
			Strategy string `json:"deploymentstrategy"`
		} `json:"deployment"`
	}
	_ = json.Unmarshal(t.Event.Data(), &in)
	strategy, err := events.ParseStrategy(in.Deployment.Strategy)
	if err != nil {
		return events.StrategyDirect
	}
	return strategy
}
