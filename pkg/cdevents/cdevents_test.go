package cdevents

import (
	"encoding/json"
	"strings"
	"testing"

	cdeventsapi "github.com/cdevents/sdk-go/pkg/api"
	cdevents "github.com/cdevents/sdk-go/pkg/api/v04"
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
}

func TestSubject(t *testing.T) {
	if got := Subject("dev.cdevents", Deployed); got != "dev.cdevents.service.deployed" {
		t.Errorf("Subject = %s", got)
	}
	if got := Subject("acme.cd.", RolledBack); !strings.HasSuffix(got, ".service.rolledback") || strings.Contains(got, "..") {
		t.Errorf("Subject = %s", got)
	}
}
