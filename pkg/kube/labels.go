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

	// LabelStrategy is the deployment strategy a release was deployed with;
	// LabelDeployment is its part: direct, user_managed, primary or canary.
	// Both are set on release records; LabelDeployment also on the objects
	// and pods of blue/green releases.
	LabelStrategy   = "keptn.sh/strategy"
	LabelDeployment = "keptn.sh/deployment"
	// LabelContext is the Keptn context (shkeptncontext) of the sequence
	// that made a release revision, when it is a valid label value.
	LabelContext = "keptn.sh/context"
	// LabelVariableGroup marks the Secrets of variable groups (see
	// package vargroups); with LabelManagedBy it tells a namespace's
	// Secrets helm-service wrote from those it did not.
	LabelVariableGroup = "keptn.sh/variable-group"
)
