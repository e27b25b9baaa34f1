package events

// Common is the data part shared by every Keptn task event.
type Common struct {
	Project string            `json:"project,omitempty"`
	Stage   string            `json:"stage,omitempty"`
	Service string            `json:"service,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Status  string            `json:"status,omitempty"`
	Result  string            `json:"result,omitempty"`
	Message string            `json:"message,omitempty"`
}

// ConfigurationChange carries the values a trigger asks to change.
type ConfigurationChange struct {
	Values map[string]any `json:"values,omitempty"`
}

// Deployment describes a deployment, both as asked for by a trigger and as
// reported by helm-service when it finishes.
type Deployment struct {
	DeploymentStrategy   string   `json:"deploymentstrategy,omitempty"`
	DeploymentURIsLocal  []string `json:"deploymentURIsLocal"`
	DeploymentURIsPublic []string `json:"deploymentURIsPublic"`
	DeploymentNames      []string `json:"deploymentNames,omitempty"`
	GitCommit            string   `json:"gitCommit,omitempty"`

	// Fields below are helm-service's extensions to the Keptn contract.

	// Namespace is the Kubernetes namespace the release lives in.
	Namespace string `json:"namespace,omitempty"`
	// ReleaseName is the Helm release that was installed or upgraded.
	ReleaseName string `json:"releaseName,omitempty"`
	// HelmRevision is the Helm revision the release is at after the task.
	HelmRevision int `json:"helmRevision,omitempty"`
}

// DeploymentTriggered is the data of sh.keptn.event.deployment.triggered.
type DeploymentTriggered struct {
	Common
	ConfigurationChange ConfigurationChange `json:"configurationChange"`
	Deployment          Deployment          `json:"deployment"`
}

// DeploymentFinished is the data of sh.keptn.event.deployment.finished.
type DeploymentFinished struct {
	Common
	Deployment *Deployment `json:"deployment,omitempty"`
}

// Finished is the data of a .finished event: a struct embedding Common.
type Finished interface {
	Base() *Common
}

// Base returns the common part of a task event's data.
func (c *Common) Base() *Common { return c }
