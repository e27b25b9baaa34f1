package handler

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang/mock/gomock"

	"github.com/helm-service/helm-service/handler/mocks"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
)

// TestServiceDeleteRemovesVariableGroupsAndSaysWhyNamespacesStay: the
// service's variable group goes in every namespace it is removed from and
// is listed; a namespace DeleteIfEmpty keeps is listed with the reason.
func TestServiceDeleteRemovesVariableGroupsAndSaysWhyNamespacesStay(t *testing.T) {
	f := newFixture(t)
	vars := mocks.NewMockVariableGroups(f.ctrl)
	f.removal.WithVariables(vars)
	dev := record("carts", "direct", 1, "carts:1")
	dev.Namespace = "sockshop-dev"
	f.releases.EXPECT().Find(gomock.Any(), helm.AllNamespaces, gomock.Any()).Return([]*helm.Record{directV2, dev}, nil)
	first := vars.EXPECT().DeleteService(gomock.Any(), "sockshop-dev", "carts").Return([]string{"sockshop-dev/helm-service-vars-carts"}, nil)
	f.releases.EXPECT().Uninstall(gomock.Any(), "sockshop-dev", "carts", time.Minute).Return(nil).After(first)
	second := vars.EXPECT().DeleteService(gomock.Any(), ns, "carts").Return(nil, nil) // none there
	f.releases.EXPECT().Uninstall(gomock.Any(), ns, "carts", time.Minute).Return(nil).After(second)
	f.router.EXPECT().Remove(gomock.Any(), gomock.Any(), "carts").Return(nil, nil).Times(2)
	f.namespaces.EXPECT().DeleteIfEmpty(gomock.Any(), "sockshop-dev").Return(true, "", nil)
	f.namespaces.EXPECT().DeleteIfEmpty(gomock.Any(), ns).Return(false, "holds PersistentVolumeClaim data", nil)
	f.deliver(deleteEvent(t))

	_, out := deleteAnswer(t, f.published)
	if out.Status != events.StatusSucceeded {
		t.Fatalf("finished %s %q", out.Status, out.Message)
	}
	if !slices.Equal(out.Removed.VariableGroups, []string{"sockshop-dev/helm-service-vars-carts"}) {
		t.Errorf("removed variable groups %v", out.Removed.VariableGroups)
	}
	wantKept := []events.KeptNamespace{{Namespace: ns, Reason: "holds PersistentVolumeClaim data"}}
	if !slices.Equal(out.Removed.Namespaces, []string{"sockshop-dev"}) || !slices.Equal(out.Removed.KeptNamespaces, wantKept) {
		t.Errorf("namespaces removed %v, kept %+v; want sockshop-dev removed, %+v kept", out.Removed.Namespaces, out.Removed.KeptNamespaces, wantKept)
	}
	for _, want := range []string{"variable groups sockshop-dev/helm-service-vars-carts", "kept namespaces " + ns + " (holds PersistentVolumeClaim data)"} {
		if !strings.Contains(out.Message, want) {
			t.Errorf("message %q does not contain %q", out.Message, want)
		}
	}
}

// TestServiceDeleteLeavesTheReleasesWhenTheVariableGroupStays: a variable
// group that cannot be deleted leaves the service's releases in that
// namespace, so that the removal sent again finds the namespace; the
// answer is errored and says so.
func TestServiceDeleteLeavesTheReleasesWhenTheVariableGroupStays(t *testing.T) {
	f := newFixture(t)
	vars := mocks.NewMockVariableGroups(f.ctrl)
	f.removal.WithVariables(vars)
	f.releases.EXPECT().Find(gomock.Any(), helm.AllNamespaces, gomock.Any()).Return([]*helm.Record{directV2}, nil)
	vars.EXPECT().DeleteService(gomock.Any(), ns, "carts").Return(nil, errors.New("delete variable group sockshop-staging/helm-service-vars-carts: forbidden"))
	// No Uninstall, no routing removal, no DeleteIfEmpty.
	f.deliver(deleteEvent(t))

	_, out := deleteAnswer(t, f.published)
	if out.Status != events.StatusErrored || out.Result != events.ResultFail {
		t.Fatalf("finished %s/%s, want errored", out.Status, out.Result)
	}
	for _, want := range []string{"delete variable group sockshop-staging/helm-service-vars-carts: forbidden", "send the removal again"} {
		if !strings.Contains(out.Message, want) {
			t.Errorf("message %q does not contain %q", out.Message, want)
		}
	}
}

// Only the control plane's service.delete.finished (DELETE_EVENT_SOURCES)
// removes a service: another helm-service's answer, or anybody else's
// event of that type, is ignored, unanswered, so two instances never
// answer each other forever.
func TestServiceDeleteOnlyFromListedSources(t *testing.T) {
	f := newFixture(t) // no EXPECT: nothing is looked up or removed
	e := deleteEvent(t)
	e.SetSource("helm-service-eu")
	f.deliver(e)
	if got := f.published.answersOfType("sh.keptn.event.service.delete.finished"); len(got) != 0 {
		t.Errorf("answered a delete from an unlisted source: %d answers", len(got))
	}
}

// Releases in a namespace ALLOWED_NAMESPACES refuses are left alone, and
// the answer names them.
func TestServiceDeleteStaysInTheAllowedNamespaces(t *testing.T) {
	deleteSettings := ServiceDeleteSettings{
		WaitTimeout: time.Minute, EventSources: []string{"shipyard-controller"},
		AllowNamespace: func(ns string) error {
			if ns == "sockshop-dev" {
				return fmt.Errorf("namespace %s is not allowed by ALLOWED_NAMESPACES", ns)
			}
			return nil
		},
	}
	f := newFixtureWithRemoval(t, deleteSettings)
	dev := record("carts", "direct", 1, "carts:1")
	dev.Namespace = "sockshop-dev"
	f.releases.EXPECT().Find(gomock.Any(), helm.AllNamespaces, gomock.Any()).Return([]*helm.Record{directV2, dev}, nil)
	f.releases.EXPECT().Uninstall(gomock.Any(), ns, "carts", time.Minute).Return(nil)
	f.router.EXPECT().Remove(gomock.Any(), ns, "carts").Return(nil, nil)
	f.deliver(deleteEvent(t))

	_, out := deleteAnswer(t, f.published)
	if out.Status != events.StatusSucceeded || !slices.Equal(out.Removed.Releases, []string{ns + "/carts"}) {
		t.Fatalf("finished %s %q, removed %+v; want only %s/carts removed", out.Status, out.Message, out.Removed, ns)
	}
	if !slices.Equal(out.Removed.NotAllowed, []string{"sockshop-dev/carts"}) || !strings.Contains(out.Message, "sockshop-dev/carts") || !strings.Contains(out.Message, "ALLOWED_NAMESPACES") {
		t.Errorf("not allowed %v, message %q; want sockshop-dev/carts named with ALLOWED_NAMESPACES", out.Removed.NotAllowed, out.Message)
	}
}
