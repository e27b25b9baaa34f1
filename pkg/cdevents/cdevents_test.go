package cdevents

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	cdeventsapi "github.com/cdevents/sdk-go/pkg/api"
	cdevents "github.com/cdevents/sdk-go/pkg/api/v04"
	cloudevents "github.com/cloudevents/sdk-go/v2"
)

func TestArtifactID(t *testing.T) {
	for _, c := range []struct{ image, want string }{
		{"carts:2", "pkg:oci/carts?repository_url=docker.io%2Flibrary%2Fcarts&tag=2"},
		{"docker.io/keptnexamples/carts:0.13.1", "pkg:oci/carts?repository_url=docker.io%2Fkeptnexamples%2Fcarts&tag=0.13.1"},
		{"keptnexamples/carts", "pkg:oci/carts?repository_url=docker.io%2Fkeptnexamples%2Fcarts&tag=latest"},
		{"registry.example.com:5000/shop/Carts:1.2@sha256:ab12", "pkg:oci/carts@sha256:ab12?repository_url=registry.example.com:5000%2Fshop%2FCarts&tag=1.2"},
		{"localhost/carts@sha256:ab12", "pkg:oci/carts@sha256:ab12?repository_url=localhost%2Fcarts"},
	} {
		got, err := ArtifactID(c.image)
		if err != nil {
			t.Errorf("ArtifactID(%q): %v", c.image, err)
			continue
		}
		if got != c.want {
			t.Errorf("ArtifactID(%q) = %s, want %s", c.image, got, c.want)
		}
	}
	for _, bad := range []string{"", ":2", "carts 2:1"} {
		if got, err := ArtifactID(bad); err == nil {
			t.Errorf("ArtifactID(%q) = %s, want an error", bad, got)
		}
	}
}

// TestEventsAreValidCDEvents builds each kind of change and checks the
// CloudEvent against the spec's schema again, after a round trip through
// JSON as a consumer reads it.
func TestEventsAreValidCDEvents(t *testing.T) {
	keptn := Keptn{Context: "5f3b1c2e-0000-4000-8000-000000000001", TriggeredID: "trigger-1", Project: "sockshop", Stage: "staging", Service: "carts"}
	for kind, wantType := range map[Kind]string{
		Deployed:   cdevents.ServiceDeployedEventType.String(),
		Upgraded:   cdevents.ServiceUpgradedEventType.String(),
		RolledBack: cdevents.ServiceRolledbackEventType.String(),
		Removed:    cdevents.ServiceRemovedEventType.String(),
	} {
		ce, err := Builder{Source: "helm-service"}.Event(Change{Kind: kind, Service: "carts", Namespace: "sockshop-staging", Image: "carts:2", Keptn: keptn})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if ce.Type() != wantType || ce.Source() != "helm-service" || ce.Subject() != "carts" || ce.Extensions()[ExtContext] != keptn.Context {
			t.Errorf("%s: CloudEvent type %s source %s subject %s extensions %v", kind, ce.Type(), ce.Source(), ce.Subject(), ce.Extensions())
		}
		back, err := cdevents.NewFromJsonBytes(ce.Data())
		if err != nil {
			t.Fatalf("%s: read back %s: %v", kind, ce.Data(), err)
		}
		if err := cdeventsapi.Validate(back); err != nil {
			t.Errorf("%s: read back, not valid: %v", kind, err)
		}
		var got struct {
			Context struct {
				ChainID string `json:"chainId"`
				Version string `json:"version"`
			} `json:"context"`
			Subject struct {
				ID      string `json:"id"`
				Content struct {
					ArtifactID  string `json:"artifactId"`
					Environment struct {
						ID     string `json:"id"`
						Source string `json:"source"`
					} `json:"environment"`
				} `json:"content"`
			} `json:"subject"`
			CustomData Keptn `json:"customData"`
		}
		if err := json.Unmarshal(ce.Data(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Context.ChainID != keptn.Context || got.Context.Version != "0.4.1" || got.Subject.ID != "carts" ||
			got.Subject.Content.Environment.ID != "sockshop-staging" || got.Subject.Content.Environment.Source != "helm-service" || got.CustomData != keptn {
			t.Errorf("%s: %s", kind, ce.Data())
		}
		wantArtifact := "pkg:oci/carts?repository_url=docker.io%2Flibrary%2Fcarts&tag=2"
		if kind == Removed {
			wantArtifact = ""
		}
		if got.Subject.Content.ArtifactID != wantArtifact {
			t.Errorf("%s: artifactId %q, want %q", kind, got.Subject.Content.ArtifactID, wantArtifact)
		}
	}
}

func TestEventRefusesWhatTheSpecDoesNot(t *testing.T) {
	for name, c := range map[string]Change{
		"no image":     {Kind: Deployed, Service: "carts", Namespace: "ns"},
		"no service":   {Kind: Upgraded, Namespace: "ns", Image: "carts:2"},
		"no namespace": {Kind: Removed, Service: "carts"},
		"unknown kind": {Kind: "published", Service: "carts", Namespace: "ns", Image: "carts:2"},
	} {
		if _, err := (Builder{Source: "helm-service"}).Event(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for _, source := range []string{"", "http://[::1"} {
		if _, err := (Builder{Source: source}).Event(Change{Kind: Deployed, Service: "carts", Namespace: "ns", Image: "carts:2"}); err == nil || !strings.Contains(err.Error(), "source") {
			t.Errorf("source %q: error %v, want one naming the source", source, err)
		}
	}
}

func TestSubject(t *testing.T) {
	if got := Subject("dev.cdevents", Deployed); got != "dev.cdevents.service.deployed" {
		t.Errorf("Subject = %s", got)
	}
	if got := Subject("acme.cd.", RolledBack); !strings.HasSuffix(got, ".service.rolledback") || strings.Contains(got, "..") {
		t.Errorf("Subject = %s", got)
	}
}

// TestEventsAreTheSDKs builds each kind of change here and with the
// CDEvents SDK, and compares their JSON but for the id and timestamp.
func TestEventsAreTheSDKs(t *testing.T) {
	keptn := Keptn{Context: "5f3b1c2e-0000-4000-8000-000000000001", TriggeredID: "trigger-1", Project: "sockshop", Stage: "staging", Service: "carts"}
	for _, kind := range []Kind{Deployed, Upgraded, RolledBack, Removed} {
		for _, k := range []Keptn{keptn, {}} {
			c := Change{Kind: kind, Service: "carts", Namespace: "sockshop-staging", Image: "registry.example.com:5000/shop/carts:1.2", Keptn: k}
			ce, err := Builder{Source: "helm-service/dev"}.Event(c)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			sdk := sdkEvent(t, c, "helm-service/dev")
			var got, want map[string]any
			if err := json.Unmarshal(ce.Data(), &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(sdk.Data(), &want); err != nil {
				t.Fatal(err)
			}
			for _, m := range []map[string]any{got, want} {
				ctx := m["context"].(map[string]any)
				if _, err := time.Parse(time.RFC3339Nano, ctx["timestamp"].(string)); err != nil {
					t.Errorf("%s: timestamp: %v", kind, err)
				}
				delete(ctx, "id")
				delete(ctx, "timestamp")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s with %v:\n got %s\nwant %s", kind, k, ce.Data(), sdk.Data())
			}
			if ce.Type() != sdk.Type() || ce.Source() != sdk.Source() || ce.Subject() != sdk.Subject() || ce.DataContentType() != sdk.DataContentType() {
				t.Errorf("%s: CloudEvent %s %s %s %s, the SDK's %s %s %s %s", kind,
					ce.Type(), ce.Source(), ce.Subject(), ce.DataContentType(), sdk.Type(), sdk.Source(), sdk.Subject(), sdk.DataContentType())
			}
		}
	}
}

// sdkServiceEvent is a service CDEvent of the SDK; all but service.removed
// also set an artifact id.
type sdkServiceEvent interface {
	cdeventsapi.CDEventV04
	SetSubjectEnvironment(*cdeventsapi.Reference)
}

// sdkEvent is change c as the CDEvents SDK writes it.
func sdkEvent(t *testing.T, c Change, source string) *cloudevents.Event {
	t.Helper()
	env := &cdeventsapi.Reference{Id: c.Namespace, Source: source}
	artifact, err := ArtifactID(c.Image)
	if err != nil {
		t.Fatal(err)
	}
	var ev sdkServiceEvent
	switch c.Kind {
	case Deployed:
		ev, err = cdevents.NewServiceDeployedEvent()
	case Upgraded:
		ev, err = cdevents.NewServiceUpgradedEvent()
	case RolledBack:
		ev, err = cdevents.NewServiceRolledbackEvent()
	case Removed:
		ev, err = cdevents.NewServiceRemovedEvent()
	}
	if err != nil {
		t.Fatal(err)
	}
	ev.SetSubjectEnvironment(env)
	if a, ok := ev.(interface{ SetSubjectArtifactId(string) }); ok {
		a.SetSubjectArtifactId(artifact)
	}
	ev.SetSource(source)
	ev.SetSubjectId(c.Service)
	ev.SetSubjectSource(source)
	if c.Keptn.Context != "" {
		ev.SetChainId(c.Keptn.Context)
	}
	if c.Keptn != (Keptn{}) {
		if err := ev.SetCustomData(cloudevents.ApplicationJSON, c.Keptn); err != nil {
			t.Fatal(err)
		}
	}
	ce, err := cdeventsapi.AsCloudEvent(ev)
	if err != nil {
		t.Fatalf("the SDK's %s: %v", c.Kind, err)
	}
	return ce
}

func TestEventTimestampIsTheBuildersClock(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 2, 3, 400, time.FixedZone("CET", 3600))
	ce, err := Builder{Source: "helm-service", Now: func() time.Time { return at }}.Event(Change{Kind: Removed, Service: "carts", Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Context struct {
			Timestamp string `json:"timestamp"`
		} `json:"context"`
	}
	if err := json.Unmarshal(ce.Data(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Context.Timestamp != "2026-12-02T00:02:03.0000004Z" {
		t.Errorf("timestamp %s, want the clock's time in UTC", got.Context.Timestamp)
	}
}
