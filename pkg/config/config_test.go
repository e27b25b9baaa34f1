package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.ChartDir != "./charts" || c.WaitTimeout != 5*time.Minute || c.Source != "helm-service" || c.NATSListen != "127.0.0.1:4222" ||
		c.RouteMode != "canary" || c.TrafficRouter != "service" || !c.RollbackDirectOnFail || c.MaxReplicas != 100 || c.DeleteEmptyNamespaces ||
		c.MaxChartBytes != 10<<20 || c.DebugAddr != "" || !c.FailFast {
		t.Errorf("unexpected defaults: %+v", c)
	}
	if c.NATSMode != "jetstream" || c.MaxParallelTasks != DefaultParallelTasks() || c.MaxParallelTasks < 4 {
		t.Errorf("mode %q, %d parallel tasks; want jetstream and %d", c.NATSMode, c.MaxParallelTasks, DefaultParallelTasks())
	}
	if c.LockBucket != "helm-service-locks" || c.LockTTL != 30*time.Second || c.ClusterRetryTimeout != 3*time.Minute || c.PendingRetryTimeout != 15*time.Minute {
		t.Errorf("lock bucket %q, lock TTL %s, cluster retry %s, pending retry %s", c.LockBucket, c.LockTTL, c.ClusterRetryTimeout, c.PendingRetryTimeout)
	}
	if c.PendingRetryTimeout <= c.PendingReleaseAge {
		t.Errorf("PENDING_RETRY_TIMEOUT %s is not above PENDING_RELEASE_AGE %s: a task would give up before the release can be recovered", c.PendingRetryTimeout, c.PendingReleaseAge)
	}
	if !strings.Contains(c.AllowedNamespaces, "!kube-*") || !strings.Contains(c.AllowedNamespaces, "!default") {
		t.Errorf("default ALLOWED_NAMESPACES = %q", c.AllowedNamespaces)
	}
}

func TestLoadFromEnvironment(t *testing.T) {
	t.Setenv("WAIT_TIMEOUT", "90s")
	t.Setenv("LOG_LEVEL", "debug")
	t.Setenv("CHART_DIR", "/charts")
	t.Setenv("ROUTE_MODE", "dark")
	t.Setenv("ROLLBACK_DIRECT_ON_FAIL", "false")
	t.Setenv("POD_NAMESPACE", "keptn")
	t.Setenv("MAX_REPLICAS", "20")
	t.Setenv("DELETE_EMPTY_NAMESPACES", "true")
	t.Setenv("MAX_CHART_BYTES", "2097152")
	t.Setenv("DEBUG_ADDR", "127.0.0.1:6060")
	t.Setenv("FAIL_FAST", "false")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.WaitTimeout != 90*time.Second || c.ChartDir != "/charts" || c.RouteMode != "dark" || c.RollbackDirectOnFail || c.MaxReplicas != 20 || !c.DeleteEmptyNamespaces ||
		c.MaxChartBytes != 2<<20 || c.DebugAddr != "127.0.0.1:6060" || c.FailFast {
		t.Errorf("environment not read: %+v", c)
	}
	if c.AllowedNamespaces != "*,!kube-*,!default,!keptn" {
		t.Errorf("ALLOWED_NAMESPACES = %q, want the own namespace excluded", c.AllowedNamespaces)
	}
	if l, _ := c.SlogLevel(); l != slog.LevelDebug {
		t.Errorf("level = %v, want debug", l)
	}
}

// Profiles show the process's memory: DEBUG_ADDR listens on loopback only.
func TestDebugAddrStaysOnLoopback(t *testing.T) {
	for _, addr := range []string{":6060", "0.0.0.0:6060", "10.1.2.3:6060", "[::]:6060", "example.com:6060"} {
		t.Setenv("DEBUG_ADDR", addr)
		if _, err := Load(); err == nil || !strings.Contains(err.Error(), "DEBUG_ADDR") || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("DEBUG_ADDR=%s: %v, want refused, saying loopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:6060", "localhost:6060", "[::1]:6060", "127.0.0.1:0"} {
		t.Setenv("DEBUG_ADDR", addr)
		if _, err := Load(); err != nil {
			t.Errorf("DEBUG_ADDR=%s: %v", addr, err)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	for env, value := range map[string]string{
		"KUBE_QPS":              "0",
		"MAX_PARALLEL_TASKS":    "-1",
		"NATS_MODE":             "push",
		"NATS_MAX_DELIVER":      "1",
		"ALLOWED_NAMESPACES":    "!kube-*",
		"MAX_EVENT_BYTES":       "10",
		"MAX_CHART_BYTES":       "100",
		"WAIT_TIMEOUT":          "-1s",
		"LOG_LEVEL":             "loud",
		"LOG_FORMAT":            "xml",
		"ROUTE_MODE":            "shadow",
		"TRAFFIC_ROUTER":        "nginx",
		"MAX_REPLICAS":          "-1",
		"LOCK_TTL":              "100ms",
		"CLUSTER_RETRY_TIMEOUT": "-1s",
		"PENDING_RETRY_TIMEOUT": "-1s",
		"DEBUG_ADDR":            ":8080", // the default HTTP_ADDR
		"NATS_REPLICAS":         "7",
		"CHART_REF_ALLOWED":     "oci://registry.example.com/*",
	} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, value)
			_, err := Load()
			if err == nil || !strings.Contains(err.Error(), env) {
				t.Errorf("Load() with %s=%s: error %v, want one naming %s", env, value, err, env)
			}
		})
	}
}
