package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/charts/chartstest"
	"github.com/helm-service/helm-service/pkg/config"
)

// blobChart is the chart carts with one file of n zero bytes.
func blobChart(n int) *chart.Chart {
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "carts", Version: "1.0.0"},
		Files:    []*chart.File{{Name: "files/blob", Data: make([]byte, n)}},
	}
}

// Helm's loader has limits of its own (a packaged chart unpacks to at most
// 100 MiB, a file is at most 5 MiB); serve sets both to MAX_CHART_BYTES, so
// that MAX_CHART_BYTES is the one limit: a chart under it is not refused by
// Helm, and a chart reaching Helm's loader by any way is held to it.
func TestHelmLoaderLimitsFollowMaxChartBytes(t *testing.T) {
	chartSize, fileSize := loader.MaxDecompressedChartSize, loader.MaxDecompressedFileSize
	t.Cleanup(func() { loader.MaxDecompressedChartSize, loader.MaxDecompressedFileSize = chartSize, fileSize })

	t.Run("a 6 MiB file under the default 10 MiB loads", func(t *testing.T) {
		for _, packed := range []bool{false, true} {
			root := t.TempDir()
			if packed {
				if err := os.WriteFile(filepath.Join(root, "carts.tgz"), chartstest.Package(t, blobChart(6<<20)), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := chartutil.SaveDir(blobChart(6<<20), root); err != nil {
				t.Fatal(err)
			}
			cfg := config.Charts{Source: "dir", Dir: root, MaxBytes: charts.DefaultMaxBytes}
			limitHelmLoader(cfg.MaxBytes)
			src, err := chartSource(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := src.Load(context.Background(), charts.Ref{Project: "sockshop", Stage: "dev", Service: "carts"}); err != nil {
				t.Errorf("packed %v: %v", packed, err)
			}
		}
	})

	t.Run("Helm's loader refuses more than MAX_CHART_BYTES", func(t *testing.T) {
		limitHelmLoader(1 << 20)
		for name, c := range map[string]*chart.Chart{
			"a file over the limit":          blobChart(2 << 20),
			"files adding up over the limit": {Metadata: blobChart(0).Metadata, Files: []*chart.File{{Name: "files/a", Data: make([]byte, 600<<10)}, {Name: "files/b", Data: make([]byte, 600<<10)}}},
		} {
			_, err := loader.LoadArchive(bytes.NewReader(chartstest.Package(t, c)))
			if err == nil || !strings.Contains(err.Error(), "larger than the maximum") {
				t.Errorf("%s: Helm's loader: %v, want its refusal", name, err)
			}
		}
		if _, err := loader.LoadArchive(bytes.NewReader(chartstest.Package(t, blobChart(900<<10)))); err != nil {
			t.Errorf("under the limit: %v", err)
		}
	})
}
