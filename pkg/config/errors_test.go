package config

import (
	"strings"
	"testing"
)

// A value that cannot be read is refused with a message that names the
// variable and says what to write instead, not with envconfig's account of
// its reflection.
func TestLoadExplainsUnreadableValues(t *testing.T) {
	for _, tc := range []struct {
		env, value string
		want       []string
	}{
		{"WAIT_TIMEOUT", "soon", []string{`WAIT_TIMEOUT="soon"`, "is not a duration: write it like 90s, 5m or 1h30m", "unset it for the default"}},
		{"NATS_ACK_WAIT", "30", []string{`NATS_ACK_WAIT="30"`, "is not a duration"}},
		{"FAIL_FAST", "maybe", []string{`FAIL_FAST="maybe"`, "is not true or false: write true or false"}},
		{"MAX_REPLICAS", "many", []string{`MAX_REPLICAS="many"`, "is not a whole number: write digits only"}},
		{"NATS_STREAM_MAX_BYTES", "1GiB", []string{`NATS_STREAM_MAX_BYTES="1GiB"`, "a whole number"}},
		{"KUBE_QPS", "fast", []string{`KUBE_QPS="fast"`, "is not a number: write it like 50"}},
		{"LOG_LEVEL", "loud", []string{`LOG_LEVEL must be debug, info, warn or error, got "loud"`}},
		{"NAMESPACE_LABELS", "team", []string{`NAMESPACE_LABELS entry "team" is not key=value`, "e.g. pod-security.kubernetes.io/enforce=baseline"}},
		{"NAMESPACE_TEMPLATE", "{{.Project", []string{"NAMESPACE_TEMPLATE", "e.g. {{.Project}}-{{.Stage}}"}},
		{"CHART_REF_ALLOWED", "oci://registry.example.com/*", []string{"CHART_REF_ALLOWED", "leave out the scheme"}},
		{"ALLOWED_NAMESPACES", "!team-*", []string{"ALLOWED_NAMESPACES", `give at least one pattern without "!"`}},
		{"ADOPT_NAMESPACES", "sock-[", []string{"ADOPT_NAMESPACES", `pattern "sock-["`, "e.g. sock-shop-*"}},
		{"ADOPT_RELEASES", "*/[", []string{"ADOPT_RELEASES", `pattern "*/["`}},
		{"ALLOWED_CLUSTER_KINDS", "clusterroles", []string{"ALLOWED_CLUSTER_KINDS", `"clusterroles"`, "e.g. CustomResourceDefinition.apiextensions.k8s.io"}},
		{"ALLOWED_CLUSTER_KINDS", "rbac.authorization.k8s.io/ClusterRole", []string{"ALLOWED_CLUSTER_KINDS", "write Kind.group"}},
		{"ROLLOUT_STRATEGY", "BlueGreen", []string{"ROLLOUT_STRATEGY", "use RollingUpdate or Recreate"}},
		{"ROLLOUT_MAX_SURGE", "lots", []string{"ROLLOUT_MAX_SURGE", "percentage like 25%"}},
		{"DEPLOYER_SERVICE_ACCOUNT", "Deployer!", []string{`DEPLOYER_SERVICE_ACCOUNT="Deployer!"`, "not a valid Kubernetes name", "like helm-service-deployer"}},
		{"DEPLOYER_ROLE", "", []string{`DEPLOYER_ROLE=""`, "not a valid Kubernetes name"}},
	} {
		t.Run(tc.env, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv(tc.env, tc.value)
			_, err := Load()
			if err == nil {
				t.Fatalf("Load() with %s=%s: no error", tc.env, tc.value)
			}
			if strings.Contains(err.Error(), "envconfig.Process") {
				t.Errorf("Load() with %s=%s: %v, want it in helm-service's words", tc.env, tc.value, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load() with %s=%s: %v, want it to say %q", tc.env, tc.value, err, w)
				}
			}
		})
	}
}
