{{- define "helm-service.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "helm-service.labels" -}}
app.kubernetes.io/name: helm-service
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "helm-service.selectorLabels" -}}
app.kubernetes.io/name: helm-service
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "helm-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "helm-service.name" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The ClusterRole the deployer accounts are bound to (DEPLOYER_ROLE). */}}
{{- define "helm-service.deployerRole" -}}
{{- printf "%s-deployer" (include "helm-service.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The rules of the deployer: the kinds charts deploy and what helm-service
     does for a release in its namespace (Helm's release records, waiting,
     diagnostics, scaling, routing, variable groups). Namespaced kinds only,
     no RBAC. */}}
{{- define "helm-service.deployerRules" -}}
# Helm release records and variable groups.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, update, patch, delete]
# What charts commonly contain, and what waiting and diagnostics read.
- apiGroups: [""]
  resources: [configmaps, services, serviceaccounts, persistentvolumeclaims]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [""]
  resources: [pods, endpoints, events]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [apps]
  resources: [replicasets, controllerrevisions]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments/scale, statefulsets/scale]
  verbs: [get, update, patch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [ingresses, networkpolicies]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
# Routes of the blue/green routers.
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [networking.istio.io]
  resources: [virtualservices, destinationrules]
  verbs: [get, list, watch, create, update, patch, delete]
{{- with .Values.rbac.extraRules }}
{{ toYaml . }}
{{- end }}
{{- end -}}
