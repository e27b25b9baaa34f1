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
	if c.Charts.Dir != "./charts" || c.Deploy.WaitTimeout != 5*time.Minute || c.Bus.Source != "helm-service" || c.Bus.Listen != "127.0.0.1:4222" ||
		c.Traffic.RouteMode != "canary" || c.Traffic.Router != "service" || !c.Deploy.RollbackDirectOnFail || c.Deploy.MaxReplicas != 100 || c.Removal.DeleteEmptyNamespaces ||
		c.Charts.MaxBytes != 10<<20 || c.Server.DebugAddr != "" || !c.Deploy.FailFast {
		t.Errorf("unexpected defaults: %+v", c)
	}
	if c.Bus.Mode != "jetstream" || c.Delivery.MaxParallelTasks != DefaultParallelTasks() || c.Delivery.MaxParallelTasks < 25 {
		t.Errorf("mode %q, %d parallel tasks; want jetstream and %d", c.Bus.Mode, c.Delivery.MaxParallelTasks, DefaultParallelTasks())
	}
	if c.Delivery.LockBucket != "helm-service-locks" || c.Delivery.LockTTL != 30*time.Second || c.Retry.ClusterRetryTimeout != 3*time.Minute || c.Retry.PendingRetryTimeout != 15*time.Minute {
		t.Errorf("lock bucket %q, lock TTL %s, cluster retry %s, pending retry %s", c.Delivery.LockBucket, c.Delivery.LockTTL, c.Retry.ClusterRetryTimeout, c.Retry.PendingRetryTimeout)
	}
	if c.Retry.PendingRetryTimeout <= c.Retry.PendingReleaseAge {
		t.Errorf("PENDING_RETRY_TIMEOUT %s is not above PENDING_RELEASE_AGE %s: a task would give up before the release can be recovered", c.Retry.PendingRetryTimeout, c.Retry.PendingReleaseAge)
	}
	if !strings.Contains(c.Namespaces.Allowed.Text, "!kube-*") || !strings.Contains(c.Namespaces.Allowed.Text, "!default") {
		t.Errorf("default ALLOWED_NAMESPACES = %q", c.Namespaces.Allowed.Text)
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
	if c.Deploy.WaitTimeout != 90*time.Second || c.Charts.Dir != "/charts" || c.Traffic.RouteMode != "dark" || c.Deploy.RollbackDirectOnFail || c.Deploy.MaxReplicas != 20 || !c.Removal.DeleteEmptyNamespaces ||
		c.Charts.MaxBytes != 2<<20 || c.Server.DebugAddr != "127.0.0.1:6060" || c.Deploy.FailFast {
		t.Errorf("environment not read: %+v", c)
	}
	if c.Namespaces.Allowed.Text != "*,!kube-*,!default,!keptn" {
		t.Errorf("ALLOWED_NAMESPACES = %q, want the own namespace excluded", c.Namespaces.Allowed.Text)
	}
	if l := c.Observability.LogLevel.Level(); l != slog.LevelDebug {
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
		"MAX_HISTORY":           "-1",
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
