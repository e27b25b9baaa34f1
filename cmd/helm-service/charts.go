package main

import (
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
