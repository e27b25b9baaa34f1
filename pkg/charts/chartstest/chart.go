package chartstest

import (
	"encoding/pem"
	"net/http/httptest"

	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/yaml"
)

// Chart returns a chart named name at version: one ConfigMap named after the
// release that carries the value "message" and the chart version, and a
// Deployment with "replicaCount" replicas, as deployable as the charts in
// test/testdata.
func Chart(name, version, message string) *chart.Chart {
	values := map[string]any{"message": message, "replicaCount": 1, "image": "example/" + name + ":" + version}
	raw, err := yaml.Marshal(values)
	if err != nil {
		panic(err) // plain strings and numbers always marshal
	}
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: version, AppVersion: version},
		Values:   values,
		// chartutil.Save writes values.yaml from the raw file.
		Raw: []*chart.File{{Name: "values.yaml", Data: raw}},
		Templates: []*chart.File{
			{Name: "templates/configmap.yaml", Data: []byte(configMap)},
			{Name: "templates/deployment.yaml", Data: []byte(deployment)},
		},
	}
}

const configMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  message: {{ .Values.message | quote }}
  chartVersion: {{ .Chart.Version | quote }}
`

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
        - name: app
          image: {{ .Values.image }}
`

func pemCertificate(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}
