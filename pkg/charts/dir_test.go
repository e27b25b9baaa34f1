package charts

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// writeChart writes a minimal chart named name at dir/name, unpacked or as
// dir/name.tgz, and returns the path.
func writeChart(t *testing.T, dir, name, version string, packed bool) string {
	t.Helper()
	c := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: version},
		Values:   map[string]any{"image": "example/" + name},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if packed {
		tmp := t.TempDir()
		saved, err := chartutil.Save(c, tmp)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, name+".tgz")
		if err := os.Rename(saved, dst); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	if err := chartutil.SaveDir(c, dir); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

func TestDirLookupOrder(t *testing.T) {
	root := t.TempDir()
	ref := Ref{Project: "sockshop", Stage: "staging", Service: "carts"}
	d := Dir{Root: root}

	writeChart(t, root, "carts", "1.0.0", false)
	assertVersion(t, d, ref, "1.0.0")

	writeChart(t, filepath.Join(root, "sockshop"), "carts", "2.0.0", true)
	assertVersion(t, d, ref, "2.0.0")

	writeChart(t, filepath.Join(root, "sockshop", "staging"), "carts", "3.0.0", false)
	assertVersion(t, d, ref, "3.0.0")

	// Another stage does not see the stage-specific chart.
	assertVersion(t, d, Ref{Project: "sockshop", Stage: "prod", Service: "carts"}, "2.0.0")
}

func assertVersion(t *testing.T, d Dir, ref Ref, want string) {
	t.Helper()
	c, err := d.Load(context.Background(), ref)
	if err != nil {
		t.Fatalf("Load(%+v): %v", ref, err)
	}
	if c.Metadata.Version != want {
		t.Errorf("Load(%+v) found version %s, want %s", ref, c.Metadata.Version, want)
	}
}

func TestDirNotFoundNamesThePaths(t *testing.T) {
	root := t.TempDir()
	_, err := Dir{Root: root}.Load(context.Background(), Ref{Project: "p", Stage: "s", Service: "orders"})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("error %v is not ErrNotFound", err)
	}
	for _, want := range []string{filepath.Join(root, "p", "s", "orders"), filepath.Join(root, "orders") + ".tgz", "CHART_DIR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestDirBrokenChartNamesTheFile(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "carts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte("name: [unclosed"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Dir{Root: root}.Load(context.Background(), Ref{Project: "p", Stage: "s", Service: "carts"})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %v does not name the chart %s", err, dir)
	}
}

// A chart directory whose symbolic link resolves outside the chart is
// refused, naming the link; a link that stays inside it loads.
func TestDirRefusesLinksOutOfTheChart(t *testing.T) {
	root := t.TempDir()
	chartDir := writeChart(t, root, "carts", "0.1.0", false)
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(chartDir, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(chartDir, "files", "real"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(chartDir, "files", "inside")); err != nil {
		t.Fatal(err)
	}
	d := Dir{Root: root}
	if _, err := d.Load(context.Background(), Ref{Project: "p", Stage: "s", Service: "carts"}); err != nil {
		t.Fatalf("a chart with a link inside it: %v", err)
	}
	if err := os.Symlink(secret, filepath.Join(chartDir, "files", "token")); err != nil {
		t.Fatal(err)
	}
	_, err := d.Load(context.Background(), Ref{Project: "p", Stage: "s", Service: "carts"})
	if err == nil || !strings.Contains(err.Error(), "symbolic link files/token points outside the chart") {
		t.Fatalf("a chart linking %s: %v, want refused naming files/token", secret, err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the linked file's content: %v", err)
	}
}
