package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/golang/mock/gomock"
	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// eventOf builds an event of any type from the control plane.
func eventOf(t *testing.T, eventType string, data any) *cloudevents.Event {
	t.Helper()
	e := triggerEvent(t, data)
	e.SetType(eventType)
	return e
}

func scalingEvent(t *testing.T, value any) *cloudevents.Event {
	action := map[string]any{"name": "scale up", "action": "scaling"}
	if value != nil {
		action["value"] = value
	}
	return eventOf(t, "sh.keptn.event.action.triggered", map[string]any{
		"project": "sockshop", "stage": "staging", "service": "carts", "action": action,
	})
}

// actionAnswer returns the .finished of an action after checking that
// .started came first.
func actionAnswer(t *testing.T, r *recorder) events.ActionFinished {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) != 2 || r.events[0].Type() != "sh.keptn.event.action.started" || r.events[1].Type() != "sh.keptn.event.action.finished" {
		t.Fatalf("published %d events, want action .started and .finished", len(r.events))
	}
	var data events.ActionFinished
	if err := json.Unmarshal(r.events[1].Data(), &data); err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseIncrement(t *testing.T) {
	good := map[string]int32{`1`: 1, `"1"`: 1, `"+2"`: 2, `"-1"`: -1, `-3`: -3, `0`: 0, `" 4 "`: 4}
	for raw, want := range good {
		got, err := parseIncrement(json.RawMessage(raw))
		if err != nil || got != want {
			t.Errorf("parseIncrement(%s) = %d, %v; want %d", raw, got, err, want)
		}
	}
	bad := map[string]string{
		``: "action.value is missing", `null`: "action.value is missing",
		`"abc"`: `action.value "abc" is not a replica increment`, `1.5`: "action.value 1.5 is not",
		`"1.5"`: `action.value "1.5" is not`, `true`: "action.value true is not", `{"n":1}`: `action.value {"n":1} is not`,
		`[1]`: "action.value [1] is not", `""`: `action.value "" is not`, `99999999999`: "action.value 99999999999 is out of range",
	}
	for raw, want := range bad {
		if _, err := parseIncrement(json.RawMessage(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseIncrement(%s) error = %v, want %q", raw, err, want)
		}
	}
}

func TestOtherActionsAreNotAnswered(t *testing.T) {
	for _, data := range []any{
		map[string]any{"project": "sockshop", "stage": "staging", "service": "carts", "action": map[string]any{"action": "toggle-feature", "value": "on"}},
		map[string]any{"project": "sockshop", "stage": "staging", "service": "carts"},
		`{"action": "scaling"}`,
	} {
		f := newTaskFixture(t, taskOptions{})
		f.cluster.deploy(directCarts1)
		before := f.cluster.state()
		f.deliver(eventOf(t, "sh.keptn.event.action.triggered", data))
		if n := len(f.published.events); n != 0 {
			t.Errorf("%v: published %d events, want none", data, n)
		}
		if diff := cmp.Diff(before, f.cluster.state()); diff != "" {
			t.Errorf("%v: cluster afterwards (-want +got):\n%s", data, diff)
		}
	}
}

// deleteAnswer returns the one event published for a service removal.
func deleteAnswer(t *testing.T, r *recorder) (cloudevents.Event, events.ServiceDeleteFinished) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) != 1 || r.events[0].Type() != "sh.keptn.event.service.delete.finished" {
		t.Fatalf("published %d events, want one service.delete.finished", len(r.events))
	}
	var data events.ServiceDeleteFinished
	if err := json.Unmarshal(r.events[0].Data(), &data); err != nil {
		t.Fatal(err)
	}
	return r.events[0], data
}

func deleteEvent(t *testing.T) *cloudevents.Event {
	return eventOf(t, "sh.keptn.event.service.delete.finished", map[string]any{"project": "sockshop", "service": "carts", "status": "succeeded"})
}

func TestServiceDeleteRemovesEveryStage(t *testing.T) {
	f := newFixture(t)
	dev := record("carts", "direct", 1, "carts:1")
	dev.Namespace = "sockshop-dev"
	f.releases.EXPECT().Find(gomock.Any(), helm.AllNamespaces, map[string]string{kube.LabelProject: "sockshop", kube.LabelService: "carts"}).
		Return([]*helm.Record{primaryV1, dev, canaryV2}, nil)
	var order []string
	f.releases.EXPECT().Uninstall(gomock.Any(), gomock.Any(), gomock.Any(), time.Minute).DoAndReturn(func(_ context.Context, namespace, name string, _ time.Duration) error {
		order = append(order, namespace+"/"+name)
		return nil
	}).Times(3)
	f.router.EXPECT().Remove(gomock.Any(), "sockshop-dev", "carts").Return(nil, nil)
	f.router.EXPECT().Remove(gomock.Any(), ns, "carts").Return([]string{"Service sockshop-staging/carts"}, nil)
	f.namespaces.EXPECT().DeleteIfEmpty(gomock.Any(), "sockshop-dev").Return(true, "", nil)
	f.namespaces.EXPECT().DeleteIfEmpty(gomock.Any(), ns).Return(false, "", nil)
	f.deliver(deleteEvent(t))

	ev, out := deleteAnswer(t, f.published)
	if ev.Source() != "helm-service" || events.StringExtension(ev, events.ExtTriggeredID) != "trigger-id" {
		t.Errorf("answer source %s, triggeredid %v", ev.Source(), ev.Extensions())
	}
	if out.Status != events.StatusSucceeded || out.Project != "sockshop" || out.Service != "carts" || out.Stage != "" {
		t.Fatalf("finished %+v", out.Common)
	}
	wantReleases := []string{"sockshop-dev/carts", "sockshop-staging/carts-canary", "sockshop-staging/carts-primary"}
	if !slices.Equal(order, wantReleases) || !slices.Equal(out.Removed.Releases, wantReleases) {
		t.Errorf("uninstalled %v, reported %v; want %v", order, out.Removed.Releases, wantReleases)
	}
	if !slices.Equal(out.Removed.RoutingObjects, []string{"Service sockshop-staging/carts"}) || !slices.Equal(out.Removed.Namespaces, []string{"sockshop-dev"}) {
		t.Errorf("removed %+v", out.Removed)
	}
	for _, want := range append(wantReleases, "Service sockshop-staging/carts", "empty namespaces sockshop-dev") {
		if !strings.Contains(out.Message, want) {
			t.Errorf("message %q does not name %s", out.Message, want)
		}
	}
}

func TestServiceDeleteNothingDeployed(t *testing.T) {
	f := newFixture(t)
	f.releases.EXPECT().Find(gomock.Any(), helm.AllNamespaces, gomock.Any()).Return(nil, nil)
	f.deliver(deleteEvent(t))
	_, out := deleteAnswer(t, f.published)
	if out.Status != events.StatusSucceeded || !strings.Contains(out.Message, "nothing deployed") || len(out.Removed.Releases) != 0 {
		t.Errorf("finished %s %q %+v", out.Status, out.Message, out.Removed)
	}
}

func TestServiceDeleteFailedUninstall(t *testing.T) {
	f := newFixture(t)
	f.releases.EXPECT().Find(gomock.Any(), helm.AllNamespaces, gomock.Any()).Return([]*helm.Record{primaryV1, canaryV2}, nil)
	f.releases.EXPECT().Uninstall(gomock.Any(), ns, "carts-canary", gomock.Any()).Return(nil)
	f.releases.EXPECT().Uninstall(gomock.Any(), ns, "carts-primary", gomock.Any()).Return(errors.New("uninstall release sockshop-staging/carts-primary: forbidden"))
	f.router.EXPECT().Remove(gomock.Any(), ns, "carts").Return([]string{"Service sockshop-staging/carts"}, nil)
	// No DeleteIfEmpty: a namespace where an uninstall failed is left alone.
	f.deliver(deleteEvent(t))
	_, out := deleteAnswer(t, f.published)
	if out.Status != events.StatusErrored || out.Result != events.ResultFail {
		t.Fatalf("finished %s/%s, want errored", out.Status, out.Result)
	}
	for _, want := range []string{"uninstall release sockshop-staging/carts-primary: forbidden", "releases sockshop-staging/carts-canary"} {
		if !strings.Contains(out.Message, want) {
			t.Errorf("message %q does not contain %q", out.Message, want)
		}
	}
}

func TestServiceDeleteBadInputAndOwnEvents(t *testing.T) {
	for data, want := range map[string]string{
		`{"service": "carts"}`:                         "project is missing",
		`{"project": "sockshop", "service": "Carts!"}`: `service "Carts!" is not a valid Kubernetes name`,
		`{"project": 1}`:                               "field project",
	} {
		f := newFixture(t)
		f.deliver(eventOf(t, "sh.keptn.event.service.delete.finished", data))
		_, out := deleteAnswer(t, f.published)
		if out.Status != events.StatusErrored || !strings.Contains(out.Message, want) {
			t.Errorf("%s: finished %s %q, want errored with %q", data, out.Status, out.Message, want)
		}
	}
	f := newFixture(t)
	own := deleteEvent(t)
	own.SetSource("helm-service")
	f.deliver(own)
	if n := len(f.published.events); n != 0 {
		t.Errorf("own service.delete.finished answered with %d events", n)
	}
}

func TestServiceDeleteSearchesNamespacesWhenListingAllIsForbidden(t *testing.T) {
	f := newFixture(t)
	labels := map[string]string{kube.LabelProject: "sockshop", kube.LabelService: "carts"}
	forbidden := func(ns string) error {
		return fmt.Errorf("list releases in %s: %w", ns, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("no access")))
	}
	f.releases.EXPECT().Find(gomock.Any(), helm.AllNamespaces, labels).Return(nil, forbidden("every namespace"))
	f.namespaces.EXPECT().List(gomock.Any()).Return([]string{"kube-system", "sockshop-secret", "sockshop-staging", "shop-staging"}, nil)
	f.releases.EXPECT().Find(gomock.Any(), "sockshop-secret", labels).Return(nil, forbidden("sockshop-secret"))
	f.releases.EXPECT().Find(gomock.Any(), ns, labels).Return([]*helm.Record{directV2}, nil)
	f.releases.EXPECT().Uninstall(gomock.Any(), ns, "carts", gomock.Any()).Return(nil)
	f.router.EXPECT().Remove(gomock.Any(), ns, "carts").Return(nil, nil)
	f.namespaces.EXPECT().DeleteIfEmpty(gomock.Any(), ns).Return(false, "", nil)
	f.deliver(deleteEvent(t))
	_, out := deleteAnswer(t, f.published)
	if out.Status != events.StatusSucceeded || !slices.Equal(out.Removed.Releases, []string{"sockshop-staging/carts"}) {
		t.Errorf("finished %s %q %+v", out.Status, out.Message, out.Removed)
	}
}
