package e2e

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/helm/reconcile"
	"github.com/helm-service/helm-service/pkg/kube"
)

// namespaceOwner returns the ownership labels of a namespace.
func namespaceOwner(t *testing.T, ns string) map[string]string {
	t.Helper()
	got, err := suite.clientset.CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range []string{kube.LabelManagedBy, kube.LabelProject, kube.LabelStage} {
		out[k] = got.Labels[k]
	}
	return out
}

// TestNamespaceCollisionRefusedThenAdopted: project <p>-shop, stage prod
// and project <p>, stage shop-prod both map to namespace <p>-shop-prod.
// The second is refused, naming the namespace, its labels and
// ADOPT_NAMESPACES, and nothing of it is deployed; an instance with
// ADOPT_NAMESPACES naming the namespace deploys it and labels the
// namespace as the second project's, after which the suite's instance,
// without the setting, deploys there too.
func TestNamespaceCollisionRefusedThenAdopted(t *testing.T) {
	base := suite.project("coll")
	first, second := base+"-shop", base
	ns := base + "-shop-prod"
	if err := os.CopyFS(filepath.Join(suite.chartDir, second, "orders"), os.DirFS("../testdata/charts/carts")); err != nil {
		t.Fatal(err)
	}
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(first, "prod", "carts", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	if data.Deployment.Namespace != ns {
		t.Fatalf("deployed to %s, want %s", data.Deployment.Namespace, ns)
	}

	_, data = suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(second, "shop-prod", "orders", "direct", nil)), deployTimeout)
	expectErrored(t, data, "namespace "+ns+" belongs to project "+first+", stage prod",
		kube.LabelProject+"="+first, kube.LabelStage+"=prod", "not to project "+second+", stage shop-prod", "ADOPT_NAMESPACES")
	if _, err := suite.clientset.AppsV1().Deployments(ns).Get(ctx(t), "orders", metav1.GetOptions{}); err == nil {
		t.Errorf("deployment %s/orders exists: the refused service was deployed", ns)
	}

	inst := startInstance(t, map[string]string{"ADOPT_NAMESPACES": ns})
	_, data = inst.finished(t, inst.trigger(t, inst.nats, deploymentTrigger(second, "shop-prod", "orders", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	want := map[string]string{kube.LabelManagedBy: kube.ManagedByValue, kube.LabelProject: second, kube.LabelStage: "shop-prod"}
	if got := namespaceOwner(t, ns); !maps.Equal(got, want) {
		t.Errorf("namespace %s labelled %v after the adoption, want %v", ns, got, want)
	}

	// Handed over once: no setting needed any more.
	_, data = suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(second, "shop-prod", "orders", "direct", map[string]any{"image": "example/carts:2"})), deployTimeout)
	expectSucceeded(t, data)
	if r := helmRelease(t, ns, "orders"); r.revision != "2" {
		t.Errorf("release %s/orders at revision %s, want 2", ns, r.revision)
	}
}

// TestReleaseInstalledByHelmRefusedThenAdopted: a release installed with
// the Helm SDK as the helm CLI installs one (no keptn.sh labels) in a
// namespace prepared for helm-service is not upgraded: the answer names the
// release, the labels it lacks and ADOPT_RELEASES. An instance with
// ADOPT_RELEASES naming it upgrades it and labels its record, after which
// the suite's instance, without the setting, upgrades it too.
func TestReleaseInstalledByHelmRefusedThenAdopted(t *testing.T) {
	project := suite.project("helmcli")
	ns := project + "-prod"
	if err := (kube.Namespaces{Clientset: suite.clientset}).Ensure(ctx(t), ns, kube.Owner{Project: project, Stage: "prod"}.Labels()); err != nil {
		t.Fatal(err)
	}
	restConfig, err := clientcmd.BuildConfigFromFlags("", suite.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load("../testdata/charts/carts")
	if err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	client := reconcile.New(helm.NewClient(restConfig, suite.clientset, discard), reconcile.DefaultPendingAge, discard)
	if _, err := client.Upgrade(ctx(t), helm.Request{Namespace: ns, Name: "carts", Chart: ch, Values: ch.Values, Timeout: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}

	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "prod", "carts", "direct", map[string]any{"image": "example/carts:2"})), deployTimeout)
	expectErrored(t, data, "release "+ns+"/carts (revision 1) is not helm-service's release of project "+project+", stage prod, service carts",
		"no label keptn.sh/project, no label keptn.sh/stage, no label keptn.sh/service", "ADOPT_RELEASES")
	if r := helmRelease(t, ns, "carts"); r.revision != "1" {
		t.Errorf("release %s/carts at revision %s after the refusal, want 1 (untouched)", ns, r.revision)
	}

	inst := startInstance(t, map[string]string{"ADOPT_RELEASES": ns + "/carts"})
	_, data = inst.finished(t, inst.trigger(t, inst.nats, deploymentTrigger(project, "prod", "carts", "direct", map[string]any{"image": "example/carts:2"})), deployTimeout)
	expectSucceeded(t, data)
	r := helmRelease(t, ns, "carts")
	if r.revision != "2" {
		t.Errorf("release %s/carts at revision %s after the adoption, want 2", ns, r.revision)
	}
	for k, v := range map[string]string{kube.LabelProject: project, kube.LabelStage: "prod", kube.LabelService: "carts"} {
		if r.labels[k] != v {
			t.Errorf("adopted record label %s=%q, want %q", k, r.labels[k], v)
		}
	}

	_, data = suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "prod", "carts", "direct", map[string]any{"image": "example/carts:3"})), deployTimeout)
	expectSucceeded(t, data)
	if r := helmRelease(t, ns, "carts"); r.revision != "3" {
		t.Errorf("release %s/carts at revision %s, want 3", ns, r.revision)
	}
}

// TestDeleteServicePastTheAllowListRefused: removal touches only the
// namespaces ALLOWED_NAMESPACES allows; the release in another stage's
// namespace is named as not allowed and stays deployed.
func TestDeleteServicePastTheAllowListRefused(t *testing.T) {
	project := suite.project("delallow")
	dev, locked := project+"-dev", project+"-locked"
	for _, stage := range []string{"dev", "locked"} {
		_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, stage, "carts", "direct", nil)), deployTimeout)
		expectSucceeded(t, data)
	}
	inst := startInstance(t, map[string]string{"ALLOWED_NAMESPACES": "*,!kube-*,!default,!" + locked})
	_, out := inst.serviceDeleted(t, project, "carts")
	if out.Status != events.StatusSucceeded || out.Removed == nil || !slices.Equal(out.Removed.Releases, []string{dev + "/carts"}) || !slices.Equal(out.Removed.NotAllowed, []string{locked + "/carts"}) {
		t.Fatalf("finished %s %q, removed %+v; want %s/carts removed and %s/carts not allowed", out.Status, out.Message, out.Removed, dev, locked)
	}
	if r := helmRelease(t, locked, "carts"); r.status != "deployed" {
		t.Errorf("release %s/carts: %s, want deployed (untouched)", locked, r.status)
	}
}

// TestDeleteServiceLeavesReleasesInOthersNamespaces: a release labelled as
// the service's in a namespace helm-service did not create (another
// team's, labels written by whoever installed it) is not uninstalled by the
// service's removal; it is named as not owned, and the service's own
// release is removed.
func TestDeleteServiceLeavesReleasesInOthersNamespaces(t *testing.T) {
	project := suite.project("delown")
	dev, team := project+"-dev", project+"-team"
	_, data := suite.finished(t, suite.trigger(t, suite.nats, deploymentTrigger(project, "dev", "carts", "direct", nil)), deployTimeout)
	expectSucceeded(t, data)
	if _, err := suite.clientset.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: team}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = suite.clientset.CoreV1().Namespaces().Delete(context.Background(), team, metav1.DeleteOptions{})
	})
	restConfig, err := clientcmd.BuildConfigFromFlags("", suite.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load("../testdata/charts/carts")
	if err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	client := reconcile.New(helm.NewClient(restConfig, suite.clientset, discard), reconcile.DefaultPendingAge, discard)
	if _, err := client.Upgrade(ctx(t), helm.Request{Namespace: team, Name: "carts", Chart: ch, Values: ch.Values, Timeout: 2 * time.Minute,
		Labels: map[string]string{kube.LabelProject: project, kube.LabelStage: "team", kube.LabelService: "carts"}}); err != nil {
		t.Fatal(err)
	}

	_, out := suite.serviceDeleted(t, project, "carts")
	if out.Status != events.StatusSucceeded || out.Removed == nil || !slices.Equal(out.Removed.Releases, []string{dev + "/carts"}) || !slices.Equal(out.Removed.NotOwned, []string{team + "/carts"}) {
		t.Fatalf("finished %s %q, removed %+v; want %s/carts removed and %s/carts not owned", out.Status, out.Message, out.Removed, dev, team)
	}
	if r := helmRelease(t, team, "carts"); r.status != "deployed" {
		t.Errorf("release %s/carts: %s, want deployed (untouched)", team, r.status)
	}
}
