// Package cdevents turns changes helm-service made to a running service
// into CDEvents (spec 0.4): service.deployed, service.upgraded,
// service.rolledback and service.removed, validated against the spec's
// schemas.
package cdevents

import (
	"fmt"
	"strings"

	cdeventsapi "github.com/cdevents/sdk-go/pkg/api"
	cdevents "github.com/cdevents/sdk-go/pkg/api/v04"
	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// Kind is what happened to a service: the predicate of its CDEvent.
type Kind string

// The changes helm-service reports.
const (
	Deployed   Kind = "deployed"
	Upgraded   Kind = "upgraded"
	RolledBack Kind = "rolledback"
	Removed    Kind = "removed"
)

// Change is a change to a service running in an environment.
type Change struct {
	Kind Kind
	// Service is the subject's id: the Keptn service.
	Service string
	// Namespace is the environment's id.
	Namespace string
	// Image is the container image the service runs afterwards, the
	// artifact; unused for Removed.
	Image string
	// Keptn correlates the change with the Keptn sequence that made it.
	Keptn Keptn
}

// Keptn is the Keptn sequence and trigger behind a change; it is the
// CDEvent's custom data, and the Keptn context is its chainId.
type Keptn struct {
	Context     string `json:"shkeptncontext,omitempty"`
	TriggeredID string `json:"triggeredid,omitempty"`
	Project     string `json:"project,omitempty"`
	Stage       string `json:"stage,omitempty"`
	Service     string `json:"service,omitempty"`
}

// ExtContext is the CloudEvents extension that carries the Keptn context,
// as on Keptn's own events.
const ExtContext = "shkeptncontext"

// Builder builds the CDEvents of changes.
type Builder struct {
	// Source is the CDEvent's source and the source of the subject and
	// its environment.
	Source string
}

// Event returns the change as a CloudEvent carrying a CDEvent that passed
// the spec's schema validation.
func (b Builder) Event(c Change) (cloudevents.Event, error) {
	ev, err := b.cdevent(c)
	if err != nil {
		return cloudevents.Event{}, fmt.Errorf("service.%s CDEvent for %s/%s: %w", c.Kind, c.Namespace, c.Service, err)
	}
	if c.Keptn != (Keptn{}) {
		if err := ev.SetCustomData(cloudevents.ApplicationJSON, c.Keptn); err != nil {
			return cloudevents.Event{}, fmt.Errorf("service.%s CDEvent custom data: %w", c.Kind, err)
		}
	}
	if err := cdeventsapi.Validate(ev); err != nil {
		return cloudevents.Event{}, fmt.Errorf("service.%s CDEvent for %s/%s is not valid: %w", c.Kind, c.Namespace, c.Service, err)
	}
	ce, err := cdeventsapi.AsCloudEvent(ev)
	if err != nil {
		return cloudevents.Event{}, fmt.Errorf("service.%s CDEvent as CloudEvent: %w", c.Kind, err)
	}
	if c.Keptn.Context != "" {
		ce.SetExtension(ExtContext, c.Keptn.Context)
	}
	return *ce, nil
}

// cdevent is the CDEvent of a change, its context and subject set.
func (b Builder) cdevent(c Change) (cdeventsapi.CDEventV04, error) {
	env := &cdeventsapi.Reference{Id: c.Namespace, Source: b.Source}
	var artifact string
	if c.Kind != Removed {
		var err error
		if artifact, err = ArtifactID(c.Image); err != nil {
			return nil, err
		}
	}
	var ev cdeventsapi.CDEventV04
	switch c.Kind {
	case Deployed:
		e, err := cdevents.NewServiceDeployedEvent()
		if err != nil {
			return nil, err
		}
		e.SetSubjectEnvironment(env)
		e.SetSubjectArtifactId(artifact)
		ev = e
	case Upgraded:
		e, err := cdevents.NewServiceUpgradedEvent()
		if err != nil {
			return nil, err
		}
		e.SetSubjectEnvironment(env)
		e.SetSubjectArtifactId(artifact)
		ev = e
	case RolledBack:
		e, err := cdevents.NewServiceRolledbackEvent()
		if err != nil {
			return nil, err
		}
		e.SetSubjectEnvironment(env)
		e.SetSubjectArtifactId(artifact)
		ev = e
	case Removed:
		e, err := cdevents.NewServiceRemovedEvent()
		if err != nil {
			return nil, err
		}
		e.SetSubjectEnvironment(env)
		ev = e
	default:
		return nil, fmt.Errorf("unknown change %q", c.Kind)
	}
	ev.SetSource(b.Source)
	ev.SetSubjectId(c.Service)
	ev.SetSubjectSource(b.Source)
	if c.Keptn.Context != "" {
		ev.SetChainId(c.Keptn.Context)
	}
	return ev, nil
}

// Subject is the NATS subject of a change's CDEvent: prefix, then the
// CDEvent's subject and predicate, e.g. dev.cdevents.service.deployed.
func Subject(prefix string, k Kind) string {
	return strings.TrimSuffix(prefix, ".") + ".service." + string(k)
}
