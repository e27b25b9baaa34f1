package main

import (
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/helm-service/helm-service/handler"
	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/config"
)

// chartSource returns where deployments find charts: CHART_SOURCE for a
// service's own chart, and the OCI registry for a chart a trigger names in
// deployment.chart.ref. Both share one cache.
func chartSource(cfg config.Charts) (handler.ChartSource, error) {
	cache := charts.NewCache(cfg.CacheMaxEntries, cfg.CacheMaxBytes)
	oci, err := charts.NewOCI(charts.OCIOptions{
		Registry:      cfg.Registry,
		Template:      cfg.OCITemplate,
		Username:      cfg.RegistryUsername,
		Password:      cfg.RegistryPassword,
		CAFile:        cfg.RegistryCAFile,
		PlainHTTP:     cfg.RegistryPlainHTTP,
		FetchTimeout:  cfg.FetchTimeout,
		MaxChartBytes: cfg.MaxBytes,
		Cache:         cache,
	})
	if err != nil {
		return nil, err
	}
	var own charts.Source
	switch cfg.Source {
	case "oci":
		own = oci
	case "git":
		own, err = charts.NewGit(charts.GitOptions{
			URL:           cfg.GitURL,
			Username:      cfg.GitUsername,
			Password:      cfg.GitPassword,
			Token:         cfg.GitToken,
			FetchTimeout:  cfg.FetchTimeout,
			MaxChartBytes: cfg.MaxBytes,
			Cache:         cache,
			RepoDir:       cfg.GitCacheDir,
			RepoMaxBytes:  cfg.GitCacheMaxBytes,
		})
		if err != nil {
			return nil, err
		}
	default:
		own = charts.Dir{Root: cfg.Dir, MaxBytes: cfg.MaxBytes}
	}
	return charts.Explicit{Default: own, Override: oci}, nil
}

// limitHelmLoader sets the limits of Helm's chart loader to MAX_CHART_BYTES:
// what a packaged chart unpacks to (Helm's default 100 MiB) and the size of
// one file (5 MiB). The chart sources refuse a chart over MAX_CHART_BYTES
// before the loader runs; with these limits a chart under it is never
// refused by Helm instead, and one that reached the loader another way is
// held to it all the same.
//
// The loader's limits are package variables: this is the one place
// helm-service changes Helm's global state, once at start before any chart
// is loaded.
func limitHelmLoader(maxChartBytes int64) {
	loader.MaxDecompressedChartSize = maxChartBytes
	loader.MaxDecompressedFileSize = maxChartBytes
}
