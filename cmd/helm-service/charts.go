package main

import (
	"github.com/helm-service/helm-service/handler"
	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/config"
)

// chartSource returns where deployments find charts: CHART_SOURCE for a
// service's own chart, and the OCI registry for a chart a trigger names in
// deployment.chart.ref. Both share one cache.
func chartSource(cfg config.Config) (handler.ChartSource, error) {
	cache := charts.NewCache(cfg.ChartCacheMaxEntries, cfg.ChartCacheMaxBytes)
	oci, err := charts.NewOCI(charts.OCIOptions{
		Registry:      cfg.ChartRegistry,
		Template:      cfg.ChartOCITemplate,
		Username:      cfg.ChartRegistryUsername,
		Password:      cfg.ChartRegistryPassword,
		CAFile:        cfg.ChartRegistryCAFile,
		PlainHTTP:     cfg.ChartRegistryPlainHTTP,
		FetchTimeout:  cfg.ChartFetchTimeout,
		MaxChartBytes: cfg.MaxChartBytes,
		Cache:         cache,
	})
	if err != nil {
		return nil, err
	}
	var own charts.Source
	switch cfg.ChartSource {
	case "oci":
		own = oci
	case "git":
		own, err = charts.NewGit(charts.GitOptions{
			URL:           cfg.ChartGitURL,
			Username:      cfg.ChartGitUsername,
			Password:      cfg.ChartGitPassword,
			Token:         cfg.ChartGitToken,
			FetchTimeout:  cfg.ChartFetchTimeout,
			MaxChartBytes: cfg.MaxChartBytes,
			Cache:         cache,
		})
		if err != nil {
			return nil, err
		}
	default:
		own = charts.Dir{Root: cfg.ChartDir, MaxBytes: cfg.MaxChartBytes}
	}
	return charts.Explicit{Default: own, Override: oci}, nil
}
