// Package cdevents turns changes helm-service made to a running service
// into CDEvents (spec 0.4): service.deployed, service.upgraded,
// service.rolledback and service.removed.
//
// The events are written here rather than with the CDEvents Go SDK: the
// SDK compiles the schemas of every CDEvent at its start, which would hold
// about 5.5 MiB of helm-service's heap for the four events it sends. The
// tests check every event against the spec's schemas with the SDK.
package cdevents

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
)

// SpecVersion is the version of the CDEvents spec the events follow.
const SpecVersion = "0.4.1"

// Kind is what happened to a service: the predicate of its CDEvent.
type Kind string

// The changes helm-service reports.
const (
	Deployed   Kind = "deployed"
	Upgraded   Kind = "upgraded"
	RolledBack Kind = "rolledback"
	Removed    Kind = "removed"
)

// eventTypes are the CDEvent types of the kinds, at the versions of spec
// 0.4.
var eventTypes = map[Kind]string{
	Deployed:   "dev.cdevents.service.deployed.0.2.0",
	Upgraded:   "dev.cdevents.service.upgraded.0.2.0",
	RolledBack: "dev.cdevents.service.rolledback.0.2.0",
	Removed:    "dev.cdevents.service.removed.0.2.0",
}

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
	// its environment: a URI reference.
	Source string
	// Now is the clock of the events' timestamps; nil is time.Now.
	Now func() time.Time
}

// event is a CDEvent of spec 0.4 about a service.
type event struct {
	Context               eventContext    `json:"context"`
	Subject               subject         `json:"subject"`
	CustomData            json.RawMessage `json:"customData,omitempty"`
	CustomDataContentType string          `json:"customDataContentType,omitempty"`
}

type eventContext struct {
	Version   string `json:"version"`
	ID        string `json:"id"`
	Source    string `json:"source"`
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	ChainID   string `json:"chainId,omitempty"`
}

type subject struct {
	ID      string  `json:"id"`
	Source  string  `json:"source"`
	Type    string  `json:"type"`
	Content content `json:"content"`
}

type content struct {
	ArtifactID  string    `json:"artifactId,omitempty"`
	Environment reference `json:"environment"`
}

type reference struct {
	ID     string `json:"id"`
	Source string `json:"source"`
}

// Event returns the change as a CloudEvent carrying its CDEvent.
func (b Builder) Event(c Change) (cloudevents.Event, error) {
	ev, err := b.cdevent(c)
	if err != nil {
		return cloudevents.Event{}, fmt.Errorf("service.%s CDEvent for %s/%s: %w", c.Kind, c.Namespace, c.Service, err)
	}
	ce := cloudevents.NewEvent()
	ce.SetID(ev.Context.ID)
	ce.SetSource(ev.Context.Source)
	ce.SetSubject(ev.Subject.ID)
	ce.SetType(ev.Context.Type)
	if err := ce.SetData(cloudevents.ApplicationJSON, ev); err != nil {
		return cloudevents.Event{}, fmt.Errorf("service.%s CDEvent as CloudEvent: %w", c.Kind, err)
	}
	if c.Keptn.Context != "" {
		ce.SetExtension(ExtContext, c.Keptn.Context)
	}
	return ce, nil
}

// cdevent is the CDEvent of a change, refused where the spec's schema
// would refuse it.
func (b Builder) cdevent(c Change) (event, error) {
	eventType, ok := eventTypes[c.Kind]
	if !ok {
		return event{}, fmt.Errorf("unknown change %q", c.Kind)
	}
	if err := uriReference("source", b.Source); err != nil {
		return event{}, err
	}
	if c.Service == "" {
		return event{}, errors.New("subject id (the service) is empty")
	}
	if c.Namespace == "" {
		return event{}, errors.New("environment id (the namespace) is empty")
	}
	var artifact string
	if c.Kind != Removed {
		var err error
		if artifact, err = ArtifactID(c.Image); err != nil {
			return event{}, err
		}
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	ev := event{
		Context: eventContext{
			Version:   SpecVersion,
			ID:        uuid.NewString(),
			Source:    b.Source,
			Type:      eventType,
			Timestamp: now().UTC().Format(time.RFC3339Nano),
			ChainID:   c.Keptn.Context,
		},
		Subject: subject{
			ID:      c.Service,
			Source:  b.Source,
			Type:    "service",
			Content: content{ArtifactID: artifact, Environment: reference{ID: c.Namespace, Source: b.Source}},
		},
	}
	if c.Keptn != (Keptn{}) {
		data, err := json.Marshal(c.Keptn)
		if err != nil {
			return event{}, fmt.Errorf("custom data: %w", err)
		}
		ev.CustomData, ev.CustomDataContentType = data, cloudevents.ApplicationJSON
	}
	return ev, nil
}

// uriReference checks that s, the value of field, is a non-empty URI
// reference, as the spec's schema requires of sources.
func uriReference(field, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", field)
	}
	if _, err := url.Parse(s); err != nil {
		return fmt.Errorf("%s %q is not a URI reference: %w", field, s, err)
	}
	return nil
}

// Subject is the NATS subject of a change's CDEvent: prefix, then the
// CDEvent's subject and predicate, e.g. dev.cdevents.service.deployed.
func Subject(prefix string, k Kind) string {
	return strings.TrimSuffix(prefix, ".") + ".service." + string(k)
}
