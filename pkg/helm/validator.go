package helm

import (
	"fmt"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/kubectl/pkg/validation"
)

// validatorTTL is how long one strict validation schema serves every
// action before a new one is built. A kind first checked while the server
// did not know it yet (a CRD installed by an earlier release) is validated
// as Helm validates an unknown kind, by the API server alone, until then.
const validatorTTL = 10 * time.Minute

// sharedValidator hands out one strict validation schema to every action
// against a cluster, rebuilt every ttl.
//
// Helm asks its factory for a schema on every Build, and kubectl's factory
// answers with a new one each time, whose first check parses the whole
// OpenAPI document of each group/version in the manifest (core/v1 alone is
// megabytes of JSON). Per release, that parse was most of helm-service's
// CPU time and allocations. The schema does not depend on the namespace.
// It checks each kind once and keeps the answer; its checks run one at a
// time, so that concurrent first checks do not parse the same document
// side by side (a warm check takes microseconds).
type sharedValidator struct {
	getter genericclioptions.RESTClientGetter
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	schema  validation.Schema
	expires time.Time
}

func newSharedValidator(getter genericclioptions.RESTClientGetter, ttl time.Duration, now func() time.Time) *sharedValidator {
	return &sharedValidator{getter: getter, ttl: ttl, now: now}
}

// strict returns the current strict schema, building one (on a factory of
// its own, so that every cache inside starts empty) when there is none or
// it has expired.
func (v *sharedValidator) strict() (validation.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.schema != nil && v.now().Before(v.expires) {
		return v.schema, nil
	}
	schema, err := kubeFactory(v.getter).Validator(metav1.FieldValidationStrict)
	if err != nil {
		return nil, fmt.Errorf("build the manifest validator: %w", err)
	}
	v.schema, v.expires = &serialSchema{schema: schema, failed: v.forget}, v.now().Add(v.ttl)
	return v.schema, nil
}

// forget drops schema if it is the current one, so that the next action
// builds a new one.
func (v *sharedValidator) forget(schema validation.Schema) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.schema == schema {
		v.schema = nil
	}
}

// serialSchema runs the checks of a schema one at a time. kubectl's schema
// keeps every answer, failures included: a check that failed (the OpenAPI
// document could not be fetched while the API server was down, say) calls
// failed, and the schema is not handed out again.
type serialSchema struct {
	mu     sync.Mutex
	schema validation.Schema
	failed func(validation.Schema)
}

// ValidateBytes implements validation.Schema.
func (s *serialSchema) ValidateBytes(data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.schema.ValidateBytes(data)
	if err != nil && s.failed != nil {
		s.failed(s)
	}
	return err
}

// kubeFactory returns Helm's own factory for getter.
func kubeFactory(getter genericclioptions.RESTClientGetter) kube.Factory {
	return kube.New(getter).Factory
}
