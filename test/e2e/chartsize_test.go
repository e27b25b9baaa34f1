package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestChartTooLarge: with MAX_CHART_BYTES at 1 MiB, a chart directory and
// a .tgz holding 2 MiB of data are refused with an errored .finished that
// names the chart, its size, the limit and the setting, nothing of them is
// installed, and a chart under the limit deploys.
func TestChartTooLarge(t *testing.T) {
	chartDir := t.TempDir()
	project, stage := suite.project("size"), "staging"
	ns := project + "-" + stage
	sample := filepath.Join(suite.chartDir, "carts")

	// big: the sample chart with 2 MiB of random data in files/.
	big := filepath.Join(chartDir, project, "big")
	if err := os.CopyFS(big, os.DirFS(sample)); err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 2<<20)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(big, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(big, "files", "data.bin"), noise, 0o644); err != nil {
		t.Fatal(err)
	}
	// bigpacked: the same, packaged (random data does not compress).
	loaded, err := loader.Load(big)
	if err != nil {
		t.Fatal(err)
	}
	loaded.Metadata.Name = "bigpacked"
	saved, err := chartutil.Save(loaded, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	packed := filepath.Join(chartDir, project, "bigpacked.tgz")
	if err := os.Rename(saved, packed); err != nil {
		t.Fatal(err)
	}
	packedInfo, err := os.Stat(packed)
	if err != nil {
		t.Fatal(err)
	}
	// small: the sample chart as it is.
	if err := os.CopyFS(filepath.Join(chartDir, project, "small"), os.DirFS(sample)); err != nil {
		t.Fatal(err)
	}

	e := startInstance(t, map[string]string{"CHART_DIR": chartDir, "MAX_CHART_BYTES": "1048576"})
	for _, c := range []struct {
		service string
		wants   []string
	}{
		{"big", []string{"chart " + big + " holds", "more than the 1048576 bytes (1.0 MiB) allowed", "raise MAX_CHART_BYTES"}},
		{"bigpacked", []string{fmt.Sprintf("chart %s is %d bytes", packed, packedInfo.Size()), "packaged, more than the 1048576 bytes (1.0 MiB) allowed", "raise MAX_CHART_BYTES"}},
	} {
		id := e.trigger(t, e.nats, deploymentTrigger(project, stage, c.service, "direct", map[string]any{"image": "example/carts:1"}))
		_, data := e.finished(t, id, deployTimeout)
		expectErrored(t, data, c.wants...)
		t.Logf("%s: %s", c.service, data.Message)
		secrets, err := suite.clientset.CoreV1().Secrets(ns).List(ctx(t), metav1.ListOptions{LabelSelector: "owner=helm,name=" + c.service})
		if err == nil && len(secrets.Items) > 0 {
			t.Errorf("a Helm release of the refused chart %s was stored", c.service)
		}
	}

	id := e.trigger(t, e.nats, deploymentTrigger(project, stage, "small", "direct", map[string]any{"image": "example/carts:1"}))
	_, data := e.finished(t, id, deployTimeout)
	expectSucceeded(t, data)
	if img := getDeployment(t, ns, "small").Spec.Template.Spec.Containers[0].Image; img != "example/carts:1" {
		t.Errorf("small runs %s, want example/carts:1", img)
	}
	t.Cleanup(func() {
		_ = suite.clientset.CoreV1().Namespaces().Delete(ctx(t), ns, metav1.DeleteOptions{})
	})
}
