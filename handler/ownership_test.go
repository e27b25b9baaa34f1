package handler

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/allowlist"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

func mustOptIn(t *testing.T, text string) allowlist.List {
	t.Helper()
	l, err := allowlist.ParseOptIn("ADOPT", text)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestOwnershipOfTheTarget deploys carts of sockshop/staging into
// sockshop-staging as it is found: the namespace and release must be
// helm-service's for that project, stage and service, or be adopted.
func TestOwnershipOfTheTarget(t *testing.T) {
	ours := map[string]string{kube.LabelManagedBy: kube.ManagedByValue, kube.LabelProject: "sockshop", kube.LabelStage: "staging"}
	other := map[string]string{kube.LabelManagedBy: kube.ManagedByValue, kube.LabelProject: "sock", kube.LabelStage: "shop-staging"}
	owned := map[string]string{kube.LabelProject: "sockshop", kube.LabelStage: "staging", kube.LabelService: "carts"}
	for _, tc := range []struct {
		name string
		// namespace are the labels of the existing namespace; nil: none.
		namespace map[string]string
		// release are the labels of an existing release carts; nil: none.
		release map[string]string
		adopt   ownershipGlobs
		// wantErr says why the trigger is refused; empty: deployed.
		wantErr []string
		// wantNamespace are the namespace's ownership labels afterwards.
		wantNamespace map[string]string
		// wantRevision is the newest revision of carts afterwards, 0 for
		// none.
		wantRevision int
	}{
		{name: "new namespace", wantNamespace: ours, wantRevision: 1},
		{name: "own namespace and release", namespace: ours, release: owned, wantNamespace: ours, wantRevision: 2},
		{name: "another project's namespace", namespace: other, wantNamespace: other, wantErr: []string{
			"namespace sockshop-staging belongs to project sock, stage shop-staging", "keptn.sh/project=sock", "ADOPT_NAMESPACES"}},
		{name: "namespace made by hand", namespace: map[string]string{}, wantNamespace: map[string]string{}, wantErr: []string{
			"namespace sockshop-staging was not created by helm-service", "no label app.kubernetes.io/managed-by", "ADOPT_NAMESPACES"}},
		{name: "another project's namespace, adopted", namespace: other, adopt: ownershipGlobs{namespaces: "sockshop-*"}, wantNamespace: ours, wantRevision: 1},
		{name: "adoption of another namespace only", namespace: other, adopt: ownershipGlobs{namespaces: "sockshop-prod"}, wantNamespace: other, wantErr: []string{"ADOPT_NAMESPACES"}},
		{name: "release installed by the helm CLI", namespace: ours, release: map[string]string{}, wantNamespace: ours, wantRevision: 1, wantErr: []string{
			"release sockshop-staging/carts (revision 1) is not helm-service's release of project sockshop, stage staging, service carts",
			"no label keptn.sh/project, no label keptn.sh/stage, no label keptn.sh/service", "ADOPT_RELEASES"}},
		{name: "release of another project", namespace: ours, release: map[string]string{kube.LabelProject: "sock", kube.LabelStage: "shop-staging", kube.LabelService: "carts"},
			wantNamespace: ours, wantRevision: 1, wantErr: []string{"keptn.sh/project=sock, keptn.sh/stage=shop-staging, keptn.sh/service=carts", "ADOPT_RELEASES"}},
		{name: "release installed by the helm CLI, adopted", namespace: ours, release: map[string]string{}, adopt: ownershipGlobs{releases: "sockshop-staging/carts"},
			wantNamespace: ours, wantRevision: 2},
		{name: "namespace and release adopted", namespace: map[string]string{"team": "shop"}, release: map[string]string{},
			adopt: ownershipGlobs{namespaces: "sockshop-staging", releases: "*/carts"}, wantNamespace: ours, wantRevision: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTaskFixture(t, taskOptions{ownership: &tc.adopt})
			ctx := context.Background()
			if tc.namespace != nil {
				if _, err := f.cluster.clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: tc.namespace}}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.release != nil {
				ch := cartsChart(t)
				if _, err := f.cluster.releases.Upgrade(ctx, helm.Request{Namespace: ns, Name: "carts", Chart: ch, Values: ch.Values, Labels: tc.release, Timeout: time.Minute}); err != nil {
					t.Fatal(err)
				}
			}
			f.deliver(triggerEvent(t, validTrigger()))
			_, data := f.published.finished(t)
			if len(tc.wantErr) == 0 && data.Status != "succeeded" {
				t.Errorf("finished %s %q, want succeeded", data.Status, data.Message)
			}
			if len(tc.wantErr) > 0 && data.Status != "errored" {
				t.Errorf("finished %s %q, want errored", data.Status, data.Message)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(data.Message, w) {
					t.Errorf("message %q does not say %q", data.Message, w)
				}
			}
			got, err := f.cluster.clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			gotLabels := map[string]string{}
			for _, k := range []string{kube.LabelManagedBy, kube.LabelProject, kube.LabelStage} {
				if v, ok := got.Labels[k]; ok {
					gotLabels[k] = v
				}
			}
			if diff := cmp.Diff(tc.wantNamespace, gotLabels); diff != "" {
				t.Errorf("namespace's labels afterwards (-want +got):\n%s", diff)
			}
			rec, err := f.cluster.releases.Get(ctx, ns, "carts")
			switch {
			case tc.wantRevision == 0 && err == nil:
				t.Errorf("release carts at revision %d, want none", rec.Revision)
			case tc.wantRevision == 0:
			case err != nil:
				t.Fatal(err)
			case rec.Revision != tc.wantRevision:
				t.Errorf("release carts at revision %d, want %d", rec.Revision, tc.wantRevision)
			case len(tc.wantErr) == 0:
				for k, v := range owned {
					if rec.Labels[k] != v {
						t.Errorf("record label %s=%q, want %q", k, rec.Labels[k], v)
					}
				}
			}
		})
	}
}

// TestOwnershipOfReleasesTheOtherTasksTouch: rollback and scaling of a
// release whose record names another project are refused, leaving it as
// it is; a release of another service of the project and stage does not
// stand in the way.
func TestOwnershipOfReleasesTheOtherTasksTouch(t *testing.T) {
	foreign := map[string]string{kube.LabelProject: "sock", kube.LabelStage: "shop-staging"}
	sibling := revision{name: "carts-primary", strategy: "direct", image: "carts:1", labels: map[string]string{kube.LabelService: "carts-primary"}}
	for _, tc := range []struct {
		name     string
		releases []revision
		trigger  func(t *testing.T) (eventType string, data map[string]any)
		adopt    ownershipGlobs
		wantErr  []string
		// wantRevision is carts' newest revision afterwards.
		wantRevision int
	}{
		{name: "rollback of another project's release", releases: []revision{{name: "carts", strategy: "direct", image: "carts:1", labels: foreign}, {name: "carts", strategy: "direct", image: "carts:2", labels: foreign}},
			trigger: rollbackOf, wantRevision: 2, wantErr: []string{"release sockshop-staging/carts (revision 2)", "keptn.sh/project=sock, keptn.sh/stage=shop-staging, keptn.sh/service=carts", "ADOPT_RELEASES"}},
		{name: "rollback of own release", releases: []revision{directCarts1, directCarts2}, trigger: rollbackOf, wantRevision: 3},
		{name: "rollback beside another service's release", releases: []revision{directCarts1, directCarts2, sibling}, trigger: rollbackOf, wantRevision: 3},
		{name: "scaling of another project's release", releases: []revision{{name: "carts", strategy: "direct", image: "carts:1", labels: foreign}},
			trigger: scalingOf, wantRevision: 1, wantErr: []string{"release sockshop-staging/carts (revision 1)", "ADOPT_RELEASES"}},
		{name: "scaling of an adopted release", releases: []revision{{name: "carts", strategy: "direct", image: "carts:1", labels: foreign}},
			adopt: ownershipGlobs{releases: "sockshop-staging/carts"}, trigger: scalingOf, wantRevision: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTaskFixture(t, taskOptions{ownership: &tc.adopt})
			f.cluster.deploy(tc.releases...)
			eventType, data := tc.trigger(t)
			e := triggerEvent(t, data)
			e.SetType(eventType)
			f.deliver(e)
			finished := f.published.answersOfType(strings.Replace(eventType, ".triggered", ".finished", 1))
			if len(finished) != 1 {
				t.Fatalf("%d answers of %s, want 1", len(finished), eventType)
			}
			var got struct {
				Status, Message string
			}
			if err := finished[0].DataAs(&got); err != nil {
				t.Fatal(err)
			}
			if len(tc.wantErr) == 0 && got.Status != "succeeded" {
				t.Errorf("finished %s %q, want succeeded", got.Status, got.Message)
			}
			if len(tc.wantErr) > 0 && got.Status != "errored" {
				t.Errorf("finished %s %q, want errored", got.Status, got.Message)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(got.Message, w) {
					t.Errorf("message %q does not say %q", got.Message, w)
				}
			}
			if rec := f.cluster.record("carts"); rec.Revision != tc.wantRevision {
				t.Errorf("release carts at revision %d, want %d", rec.Revision, tc.wantRevision)
			}
		})
	}
}

func rollbackOf(t *testing.T) (string, map[string]any) {
	return "sh.keptn.event.rollback.triggered", lifecycleEvent(t, "rollback", "")
}

func scalingOf(*testing.T) (string, map[string]any) {
	return "sh.keptn.event.action.triggered", map[string]any{
		"project": "sockshop", "stage": "staging", "service": "carts", "action": map[string]any{"name": "scale up", "action": "scaling", "value": 1},
	}
}

// TestRemovalLeavesReleasesInOthersNamespacesAlone: a service's releases
// are removed from a namespace helm-service created for their project and
// stage; in any other namespace they are named as not owned and stay.
func TestRemovalLeavesReleasesInOthersNamespacesAlone(t *testing.T) {
	for _, tc := range []struct {
		name string
		// namespace are the labels of sockshop-staging; nil: no namespace.
		namespace    map[string]string
		wantRemoved  []string
		wantNotOwned []string
	}{
		{name: "own namespace", namespace: map[string]string{kube.LabelManagedBy: kube.ManagedByValue, kube.LabelProject: "sockshop", kube.LabelStage: "staging"},
			wantRemoved: []string{ns + "/carts"}},
		{name: "another project's namespace", namespace: map[string]string{kube.LabelManagedBy: kube.ManagedByValue, kube.LabelProject: "sock", kube.LabelStage: "shop-staging"},
			wantRemoved: []string{}, wantNotOwned: []string{ns + "/carts"}},
		{name: "namespace made by hand", namespace: map[string]string{}, wantRemoved: []string{}, wantNotOwned: []string{ns + "/carts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTaskFixture(t, taskOptions{ownership: &ownershipGlobs{namespaces: "*", releases: "*/*"}})
			if _, err := f.cluster.clientset.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: tc.namespace}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			f.cluster.deploy(directCarts1)
			f.deliver(deleteEvent(t))
			_, out := deleteAnswer(t, f.published)
			if out.Status != "succeeded" || out.Removed == nil {
				t.Fatalf("finished %s %q, want succeeded", out.Status, out.Message)
			}
			if diff := cmp.Diff(tc.wantRemoved, out.Removed.Releases); diff != "" {
				t.Errorf("removed releases (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantNotOwned, out.Removed.NotOwned); diff != "" {
				t.Errorf("releases not owned (-want +got):\n%s", diff)
			}
			_, err := f.cluster.releases.Get(context.Background(), ns, "carts")
			if stays := len(tc.wantNotOwned) > 0; stays != (err == nil) {
				t.Errorf("release carts afterwards: %v, want it there %v", err, stays)
			}
			if len(tc.wantNotOwned) > 0 && !strings.Contains(out.Message, "left alone, in namespaces helm-service did not create for their project and stage: "+ns+"/carts") {
				t.Errorf("message %q does not name the release left alone", out.Message)
			}
		})
	}
}

// TestPromotionLabelsAnAdoptedPrimary: the record a promotion writes for
// the primary names the trigger's project, stage and service, also when the
// primary's record before it named others (an adopted release).
func TestPromotionLabelsAnAdoptedPrimary(t *testing.T) {
	f := newTaskFixture(t, taskOptions{ownership: &ownershipGlobs{releases: ns + "/carts-primary"}})
	oldPrimary := primaryCarts1
	oldPrimary.labels = map[string]string{kube.LabelProject: "sock", kube.LabelStage: "shop-staging"}
	f.cluster.deploy(oldPrimary, canaryCarts1, canaryCarts2)
	f.cluster.routeToCanary()
	e := triggerEvent(t, lifecycleEvent(t, "release", "pass"))
	e.SetType("sh.keptn.event.release.triggered")
	f.deliver(e)
	common, outcome := lifecycleAnswer(t, f.published, "release")
	if common.Status != "succeeded" || outcome == nil || outcome.Action != "promoted" {
		t.Fatalf("finished %s %q (%+v), want succeeded and promoted", common.Status, common.Message, outcome)
	}
	rec := f.cluster.record("carts-primary")
	got := map[string]string{}
	for _, k := range []string{kube.LabelProject, kube.LabelStage, kube.LabelService} {
		got[k] = rec.Labels[k]
	}
	want := map[string]string{kube.LabelProject: "sockshop", kube.LabelStage: "staging", kube.LabelService: "carts"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("labels of primary revision %d (-want +got):\n%s", rec.Revision, diff)
	}
}
