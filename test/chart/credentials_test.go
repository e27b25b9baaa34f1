package chart

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// chartCredentials is what the Deployment says about the credentials of
// chart sources: their env, and the docker config's mount and volume.
type chartCredentials struct {
	Env    []corev1.EnvVar
	Mounts []corev1.VolumeMount
	Volume []corev1.Volume
}

func chartCredentialsOf(t *testing.T, values map[string]any) chartCredentials {
	t.Helper()
	docs := render(t, values)
	if len(docs["Deployment"]) != 1 {
		t.Fatalf("%d Deployments", len(docs["Deployment"]))
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(docs["Deployment"][0]), &d); err != nil {
		t.Fatal(err)
	}
	var got chartCredentials
	c := d.Spec.Template.Spec.Containers[0]
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "CHART_REGISTRY_") || strings.HasPrefix(e.Name, "CHART_GIT_") || e.Name == "DOCKER_CONFIG" {
			got.Env = append(got.Env, e)
		}
	}
	for _, m := range c.VolumeMounts {
		if m.Name == "registry-docker-config" {
			got.Mounts = append(got.Mounts, m)
		}
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "registry-docker-config" {
			got.Volume = append(got.Volume, v)
		}
	}
	return got
}

func fromSecret(env, secret, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: env, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key,
	}}}
}

func TestChartCredentialsComeFromExistingSecrets(t *testing.T) {
	dockerConfigMount := []corev1.VolumeMount{{Name: "registry-docker-config", MountPath: "/etc/helm-service/docker", ReadOnly: true}}
	dockerConfigVolume := func(secret, key string) []corev1.Volume {
		return []corev1.Volume{{Name: "registry-docker-config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secret, DefaultMode: ptr.To[int32](0o440), Items: []corev1.KeyToPath{{Key: key, Path: "config.json"}},
		}}}}
	}
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   chartCredentials
	}{
		{name: "none by default", values: nil, want: chartCredentials{}},
		{
			name:   "registry basic auth with the default keys",
			values: map[string]any{"charts": map[string]any{"registry": map[string]any{"existingSecret": "registry-auth"}}},
			want: chartCredentials{Env: []corev1.EnvVar{
				fromSecret("CHART_REGISTRY_PASSWORD", "registry-auth", "password"),
				fromSecret("CHART_REGISTRY_USERNAME", "registry-auth", "username"),
			}},
		},
		{
			name: "registry basic auth with keys of its own",
			values: map[string]any{"charts": map[string]any{"registry": map[string]any{
				"existingSecret": "registry-auth", "usernameKey": "user", "passwordKey": "pass",
			}}},
			want: chartCredentials{Env: []corev1.EnvVar{
				fromSecret("CHART_REGISTRY_PASSWORD", "registry-auth", "pass"),
				fromSecret("CHART_REGISTRY_USERNAME", "registry-auth", "user"),
			}},
		},
		{
			name: "registry docker config only",
			values: map[string]any{"charts": map[string]any{"registry": map[string]any{
				"existingSecret": "pull-secret", "usernameKey": "", "passwordKey": "", "dockerConfigKey": ".dockerconfigjson",
			}}},
			want: chartCredentials{
				Env:    []corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: "/etc/helm-service/docker"}},
				Mounts: dockerConfigMount,
				Volume: dockerConfigVolume("pull-secret", ".dockerconfigjson"),
			},
		},
		{
			name: "registry basic auth and docker config",
			values: map[string]any{"charts": map[string]any{"registry": map[string]any{
				"existingSecret": "registry-auth", "dockerConfigKey": "config.json",
			}}},
			want: chartCredentials{
				Env: []corev1.EnvVar{
					fromSecret("CHART_REGISTRY_PASSWORD", "registry-auth", "password"),
					fromSecret("CHART_REGISTRY_USERNAME", "registry-auth", "username"),
					{Name: "DOCKER_CONFIG", Value: "/etc/helm-service/docker"},
				},
				Mounts: dockerConfigMount,
				Volume: dockerConfigVolume("registry-auth", "config.json"),
			},
		},
		{
			name:   "keys without a Secret are not used",
			values: map[string]any{"charts": map[string]any{"registry": map[string]any{"dockerConfigKey": ".dockerconfigjson"}, "git": map[string]any{"tokenKey": "token", "passwordKey": ""}}},
			want:   chartCredentials{},
		},
		{
			name:   "git username and password with the default keys",
			values: map[string]any{"charts": map[string]any{"git": map[string]any{"existingSecret": "git-auth"}}},
			want: chartCredentials{Env: []corev1.EnvVar{
				fromSecret("CHART_GIT_PASSWORD", "git-auth", "password"),
				fromSecret("CHART_GIT_USERNAME", "git-auth", "username"),
			}},
		},
		{
			name: "git token without a username",
			values: map[string]any{"charts": map[string]any{"git": map[string]any{
				"existingSecret": "git-auth", "usernameKey": "", "passwordKey": "", "tokenKey": "token",
			}}},
			want: chartCredentials{Env: []corev1.EnvVar{fromSecret("CHART_GIT_TOKEN", "git-auth", "token")}},
		},
		{
			name: "the existing Secrets win over extraEnv",
			values: map[string]any{
				"charts": map[string]any{
					"registry": map[string]any{"existingSecret": "registry-auth", "usernameKey": "", "dockerConfigKey": ".dockerconfigjson"},
					"git":      map[string]any{"existingSecret": "git-auth", "passwordKey": "", "tokenKey": "token"},
				},
				"extraEnv": []any{
					map[string]any{"name": "CHART_REGISTRY_PASSWORD", "value": "inline"},
					map[string]any{"name": "CHART_REGISTRY_USERNAME", "value": "inline-user"},
					map[string]any{"name": "CHART_GIT_TOKEN", "value": "inline"},
					map[string]any{"name": "DOCKER_CONFIG", "value": "/elsewhere"},
				},
			},
			want: chartCredentials{
				Env: []corev1.EnvVar{
					fromSecret("CHART_REGISTRY_PASSWORD", "registry-auth", "password"),
					fromSecret("CHART_GIT_TOKEN", "git-auth", "token"),
					fromSecret("CHART_GIT_USERNAME", "git-auth", "username"),
					{Name: "DOCKER_CONFIG", Value: "/etc/helm-service/docker"},
					// Not provided by the Secret (its usernameKey is ""): kept.
					{Name: "CHART_REGISTRY_USERNAME", Value: "inline-user"},
				},
				Mounts: dockerConfigMount,
				Volume: dockerConfigVolume("registry-auth", ".dockerconfigjson"),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, chartCredentialsOf(t, tc.values)); diff != "" {
				t.Errorf("chart credentials (-want +got):\n%s", diff)
			}
		})
	}
}

// With existing Secrets, what the operator wrote inline as extraEnv for
// the same settings appears in no rendered object, and the chart renders
// no Secret or ConfigMap of its own.
func TestNoChartCredentialIsRenderedWithExistingSecrets(t *testing.T) {
	const inline = "inline-credential-6f1c"
	docs := render(t, map[string]any{
		"charts": map[string]any{
			"registry": map[string]any{"existingSecret": "registry-auth", "dockerConfigKey": ".dockerconfigjson"},
			"git":      map[string]any{"existingSecret": "git-auth"},
		},
		"extraEnv": []any{
			map[string]any{"name": "CHART_REGISTRY_USERNAME", "value": inline},
			map[string]any{"name": "CHART_REGISTRY_PASSWORD", "value": inline},
			map[string]any{"name": "CHART_GIT_USERNAME", "value": inline},
			map[string]any{"name": "CHART_GIT_PASSWORD", "value": inline},
			map[string]any{"name": "DOCKER_CONFIG", "value": inline},
		},
	})
	for kind, list := range docs {
		if kind == "Secret" || kind == "ConfigMap" {
			t.Errorf("the chart renders %d %s objects", len(list), kind)
		}
		for _, doc := range list {
			if strings.Contains(doc, inline) {
				t.Errorf("rendered %s holds the inline credential:\n%s", kind, doc)
			}
		}
	}
}

func TestGitPasswordAndTokenKeysTogetherAreRefused(t *testing.T) {
	ch, err := loader.Load(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.ReleaseName = true, true, "helm-service"
	_, err = install.Run(ch, map[string]any{"charts": map[string]any{"git": map[string]any{"existingSecret": "git-auth", "tokenKey": "token"}}})
	if err == nil || !strings.Contains(err.Error(), "charts.git.tokenKey") {
		t.Errorf("render error = %v, want one naming charts.git.tokenKey", err)
	}
}
