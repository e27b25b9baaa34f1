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

	"github.com/helm-service/helm-service/pkg/charts/chartstest"
)

// chartWithPackedSubchart is the chart carts with the subchart db packed
// as charts/db-1.0.0.tgz, a few KiB that unpack to subchartBytes of zeros:
// Helm's loader unpacks such a subchart itself when it loads carts.
func chartWithPackedSubchart(t *testing.T, subchartBytes int) *chart.Chart {
	t.Helper()
	db := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "db", Version: "1.0.0"},
		Files:    []*chart.File{{Name: "files/blob", Data: make([]byte, subchartBytes)}},
	}
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "carts", Version: "1.0.0"},
		Values:   map[string]any{"image": "example/carts"},
		Files:    []*chart.File{{Name: "charts/db-1.0.0.tgz", Data: chartstest.Package(t, db)}},
	}
}

// A packed subchart counts with what it unpacks to, in every source: its
// few packed KiB must not let Helm's loader unpack more than
// MAX_CHART_BYTES.
func TestPackedSubchartCountsUnpacked(t *testing.T) {
	const limit = 1 << 20
	ref := Ref{Project: "sockshop", Stage: "staging", Service: "carts", Version: "1.0.0"}
	type source struct {
		name string
		// load loads carts from a source holding c, with MaxBytes limit.
		load func(t *testing.T, c *chart.Chart) (*chart.Chart, error)
	}
	dir := func(packed bool) func(t *testing.T, c *chart.Chart) (*chart.Chart, error) {
		return func(t *testing.T, c *chart.Chart) (*chart.Chart, error) {
			root := t.TempDir()
			if packed {
				if err := os.WriteFile(filepath.Join(root, "carts.tgz"), chartstest.Package(t, c), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := chartutil.SaveDir(c, root); err != nil {
				t.Fatal(err)
			}
			return Dir{Root: root, MaxBytes: limit}.Load(context.Background(), ref)
		}
	}
	git := func(packed bool) func(t *testing.T, c *chart.Chart) (*chart.Chart, error) {
		return func(t *testing.T, c *chart.Chart) (*chart.Chart, error) {
			srv := chartstest.StartGitServer(t)
			srv.Commit(t, "sockshop", "staging", chartstest.ChartFiles(t, "carts", c, packed))
			g, err := NewGit(GitOptions{URL: srv.URL + "/{{.Project}}.git", MaxChartBytes: limit})
			if err != nil {
				t.Fatal(err)
			}
			return g.Load(context.Background(), ref)
		}
	}
	for _, src := range []source{
		{name: "chart directory", load: dir(false)},
		{name: "packed chart", load: dir(true)},
		{name: "git directory", load: git(false)},
		{name: "git packed", load: git(true)},
		{name: "oci", load: func(t *testing.T, c *chart.Chart) (*chart.Chart, error) {
			reg := chartstest.StartRegistry(t, chartstest.RegistryOptions{})
			reg.Push(t, "sockshop/carts", c)
			return newOCI(t, reg, OCIOptions{MaxChartBytes: limit}).Load(context.Background(), ref)
		}},
	} {
		t.Run(src.name, func(t *testing.T) {
			_, err := src.load(t, chartWithPackedSubchart(t, 2<<20))
			var tooLarge *TooLargeError
			if !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "MAX_CHART_BYTES") {
				t.Fatalf("a subchart unpacking to 2 MiB under a 1 MiB limit: %v, want a TooLargeError naming MAX_CHART_BYTES", err)
			}
			loaded, err := src.load(t, chartWithPackedSubchart(t, 256<<10))
			if err != nil {
				t.Fatalf("a subchart unpacking to 256 KiB under a 1 MiB limit: %v", err)
			}
			if deps := loaded.Dependencies(); len(deps) != 1 || deps[0].Name() != "db" {
				t.Fatalf("loaded carts with subcharts %v, want db", deps)
			}
		})
	}
}

// Packed subcharts inside packed subcharts are counted too, down to
// maxSubchartDepth; deeper nesting is refused, naming it.
func TestNestedPackedSubcharts(t *testing.T) {
	nested := func(levels, innerBytes int) *chart.Chart {
		c := &chart.Chart{
			Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "leaf", Version: "1.0.0"},
			Files:    []*chart.File{{Name: "files/blob", Data: make([]byte, innerBytes)}},
		}
		for i := 0; i < levels; i++ {
			name := "carts"
			if i < levels-1 {
				name = "level" + string(rune('a'+i))
			}
			c = &chart.Chart{
				Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: "1.0.0"},
				Files:    []*chart.File{{Name: "charts/" + c.Name() + "-1.0.0.tgz", Data: chartstest.Package(t, c)}},
			}
		}
		return c
	}
	for _, tc := range []struct {
		name       string
		levels     int
		innerBytes int
		wantErr    string
	}{
		{name: "three levels under the limit", levels: 3, innerBytes: 256 << 10},
		{name: "three levels over the limit", levels: 3, innerBytes: 2 << 20, wantErr: "MAX_CHART_BYTES"},
		{name: "deeper than allowed", levels: maxSubchartDepth + 1, innerBytes: 1, wantErr: "nest more than 8 deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, "carts.tgz"), chartstest.Package(t, nested(tc.levels, tc.innerBytes)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Dir{Root: root, MaxBytes: 1 << 20}.Load(context.Background(), cartsRef)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "carts.tgz") {
				t.Fatalf("load: %v, want an error naming carts.tgz and %q", err, tc.wantErr)
			}
		})
	}
}
