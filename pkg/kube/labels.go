package kube

// Labels helm-service puts on what it creates, so that it can find them again.
const (
	// LabelManagedBy marks namespaces helm-service created.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "helm-service"

	// LabelProject, LabelStage and LabelService name the Keptn service a
	// Helm release belongs to; they are set on the release records.
	LabelProject = "keptn.sh/project"
	LabelStage   = "keptn.sh/stage"
	LabelService = "keptn.sh/service"
)
