package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podCheckChart is a chart whose pods can be made to fail in each way a
// fail-fast wait recognises: a kwok pod status label (see
// test/cluster/stages.yaml), a node selector no node matches, or a claim on
// a storage class that does not exist.
var podCheckChart = map[string]string{
	"Chart.yaml":  "apiVersion: v2\nname: podcheck\nversion: 0.1.0\n",
	"values.yaml": "podStatus: \"\"\nnodeSelector: {}\nstorageClass: \"\"\n",
	"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
        {{- with .Values.podStatus }}
        helm-service.test/pod-status: {{ . }}
        {{- end }}
    spec:
      {{- with .Values.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: podcheck
          image: example/podcheck:1
          {{- if .Values.storageClass }}
          volumeMounts:
            - name: data
              mountPath: /data
          {{- end }}
      {{- if .Values.storageClass }}
      volumes:
        - name: data
          persistentVolumeClaim:
            claimName: {{ .Release.Name }}-data
      {{- end }}
`,
	"templates/pvc.yaml": `{{- if .Values.storageClass }}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .Release.Name }}-data
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: {{ .Values.storageClass }}
  resources:
    requests:
      storage: 1Gi
{{- end }}
`,
}

func writeChart(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFailFast deploys pods that cannot become ready and expects each
// deployment to fail, naming the pod and the cause, in well under the wait
// timeout; a healthy pod of the same chart still deploys.
func TestFailFast(t *testing.T) {
	const waitTimeout = 2 * time.Minute
	charts := t.TempDir()
	writeChart(t, filepath.Join(charts, "podcheck"), podCheckChart)
	inst := startInstance(t, map[string]string{"CHART_DIR": charts, "WAIT_TIMEOUT": waitTimeout.String()})

	for _, c := range []struct {
		name   string
		values map[string]any
		wants  []string
	}{
		{"ImagePullBackOff", map[string]any{"podStatus": "ImagePullBackOff"},
			[]string{"wait cut short: pod podcheck-", "container podcheck: ImagePullBackOff: Back-off pulling image \"example/podcheck:1\""}},
		{"CrashLoopBackOff", map[string]any{"podStatus": "CrashLoopBackOff"},
			[]string{"wait cut short: pod podcheck-", "container podcheck: CrashLoopBackOff: "}},
		{"Unschedulable", map[string]any{"nodeSelector": map[string]any{"no-such-node": "true"}},
			[]string{"wait cut short: pod podcheck-", ": Unschedulable: ", "node(s) didn't match"}},
		{"PendingClaim", map[string]any{"storageClass": "no-such-class"},
			[]string{"wait cut short: pod podcheck-", "volume data: PersistentVolumeClaim podcheck-data is Pending after", `storage class "no-such-class"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			project := suite.project("ff" + map[string]string{"ImagePullBackOff": "pull", "CrashLoopBackOff": "crash", "Unschedulable": "sched", "PendingClaim": "claim"}[c.name])
			start := time.Now()
			id := suite.trigger(t, inst.nats, deploymentTrigger(project, "dev", "podcheck", "direct", c.values))
			_, data := inst.finished(t, id, waitTimeout+time.Minute)
			elapsed := time.Since(start)
			expectErrored(t, data, append([]string{"helm install of release " + project + "-dev/podcheck"}, c.wants...)...)
			if elapsed > waitTimeout/4 {
				t.Errorf("failed after %s, want under a quarter of WAIT_TIMEOUT %s", elapsed, waitTimeout)
			}
			t.Logf("failed after %s: %s", elapsed.Round(time.Millisecond), data.Message)
		})
	}

	// A Deployment mounting a ReadWriteOnce claim is given Recreate: two
	// pods of a rolling update could not both mount it.
	t.Run("ReadWriteOnceClaimForcesRecreate", func(t *testing.T) {
		project := suite.project("ffrwo")
		class := project + "-manual"
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: project + "-data"},
			Spec: corev1.PersistentVolumeSpec{
				StorageClassName:       class,
				AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + project}},
			},
		}
		ctx := context.Background()
		if _, err := suite.clientset.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = suite.clientset.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}) })
		data := deploymentTrigger(project, "dev", "podcheck", "direct", map[string]any{"storageClass": class})
		data["deployment"].(map[string]any)["rollout"] = map[string]any{"strategy": "RollingUpdate", "maxSurge": 1}
		id := suite.trigger(t, inst.nats, data)
		_, fin := inst.finished(t, id, waitTimeout+time.Minute)
		expectSucceeded(t, fin)
		if s := getDeployment(t, project+"-dev", "podcheck").Spec.Strategy; s.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("live strategy = %+v, want Recreate", s)
		}
		if fin.Deployment == nil || fin.Deployment.Rollout == nil || len(fin.Deployment.Rollout.ForcedRecreate) != 1 ||
			!strings.Contains(fin.Message, "ReadWriteOnce PersistentVolumeClaim podcheck-data") {
			t.Errorf(".finished does not say Recreate was forced: rollout %+v, message %q", fin.Deployment, fin.Message)
		}
	})

	t.Run("Healthy", func(t *testing.T) {
		project := suite.project("ffok")
		id := suite.trigger(t, inst.nats, deploymentTrigger(project, "dev", "podcheck", "direct", nil))
		_, data := inst.finished(t, id, waitTimeout+time.Minute)
		expectSucceeded(t, data)
	})
}
