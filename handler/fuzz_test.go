package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
)

// Plain fakes: the fuzzer calls them any number of times.
type fakeCharts struct{}

func (fakeCharts) Load(context.Context, charts.Ref) (*chart.Chart, error) { return testChart(), nil }

type fakeNamespaces struct{}

func (fakeNamespaces) Ensure(context.Context, string, map[string]string) error { return nil }

func (fakeNamespaces) DeleteIfEmpty(context.Context, string) (bool, string, error) {
	return false, "", nil
}

func (fakeNamespaces) List(context.Context) ([]string, error) { return nil, nil }

type fakeReleases struct{}

func (fakeReleases) Upgrade(_ context.Context, req helm.Request) (*helm.Result, error) {
	return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1}, nil
}

func (fakeReleases) Get(_ context.Context, namespace, name string) (*helm.Record, error) {
	return nil, fmt.Errorf("release %s/%s: %w", namespace, name, helm.ErrNotFound)
}

func (fakeReleases) Find(context.Context, string, map[string]string) ([]*helm.Record, error) {
	return nil, nil
}

func (fakeReleases) Uninstall(_ context.Context, namespace, name string, _ time.Duration) error {
	return fmt.Errorf("release %s/%s: %w", namespace, name, helm.ErrNotFound)
}

func (fakeReleases) Rollback(_ context.Context, namespace, name string, _ time.Duration) (*helm.Result, error) {
	return nil, fmt.Errorf("release %s/%s: %w", namespace, name, helm.ErrNotFound)
}

type collect struct {
	mu     sync.Mutex
	events []cloudevents.Event
}

func (c *collect) Publish(_ context.Context, e cloudevents.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	return nil
}

// FuzzHandleTrigger feeds arbitrary bytes on the deployment subject through
// decoding, validation and the deployment task. Whatever comes in, the
// dispatcher must not panic and must answer with exactly one valid
// .finished (unless the event claims to be helm-service's own).
func FuzzHandleTrigger(f *testing.F) {
	files, _ := filepath.Glob("../test/testdata/events/*.json")
	files = append(files, "../test/testdata/deployment.triggered.json")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{"", "{", `{"id":"x","data":{"project":7}}`, `{"specversion":"1.0","id":"x","source":"s","type":"sh.keptn.event.deployment.triggered","data":{"project":"p","stage":"s","service":"c","configurationChange":{"values":[]}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pub := &collect{}
		d := NewDispatcher("helm-service", pub, quiet, []Task{NewDeployment(fakeCharts{}, fakeNamespaces{}, fakeReleases{}, nil, nil, settings)}, Options{})
		const subject = "sh.keptn.event.deployment.triggered"
		del := eventbus.Delivery{Subject: subject, Raw: data}
		del.Event, del.DecodeErr = eventbus.Decode(context.Background(), &nats.Msg{Subject: subject, Data: data})
		d.Handle(context.Background(), del)

		if del.Event != nil && del.Event.Source() == "helm-service" {
			return
		}
		var finished []cloudevents.Event
		for _, e := range pub.events {
			if e.Type() == "sh.keptn.event.deployment.finished" {
				finished = append(finished, e)
			}
		}
		if len(finished) != 1 {
			t.Fatalf("%d .finished for %q", len(finished), data)
		}
		if err := finished[0].Validate(); err != nil {
			t.Fatalf(".finished is not a valid CloudEvent: %v", err)
		}
		var out events.Common
		if err := json.Unmarshal(finished[0].Data(), &out); err != nil {
			t.Fatalf(".finished data %s: %v", finished[0].Data(), err)
		}
		if out.Status != events.StatusSucceeded && out.Status != events.StatusErrored {
			t.Fatalf("status %q", out.Status)
		}
	})
}
