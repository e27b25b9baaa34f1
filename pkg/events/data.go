package events

import "encoding/json"

// Common is the data part shared by every Keptn task event.
type Common struct {
	Project string            `json:"project,omitempty"`
	Stage   string            `json:"stage,omitempty"`
	Service string            `json:"service,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Status  string            `json:"status,omitempty"`
	Result  string            `json:"result,omitempty"`
	Message string            `json:"message,omitempty"`
	// Timings is where a task's time went, in milliseconds by phase
	// (pkg/timings); only in .finished, and only the phases the task had.
	Timings Timings `json:"timings,omitempty"`
}

// Timings is the time of each phase of a task, in milliseconds by phase
// name. helm-service only sends them: in a received event (a trigger
// embeds Common) a timings field of any shape is ignored, never an error
// in the trigger.
type Timings map[string]int64

// UnmarshalJSON implements json.Unmarshaler: timings that are not an
// object of whole numbers read as none.
func (t *Timings) UnmarshalJSON(data []byte) error {
	var m map[string]int64
	if err := json.Unmarshal(data, &m); err != nil {
		*t = nil
		return nil
	}
	*t = m
	return nil
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
	// Rollout asks (trigger) for an update strategy of the chart's
	// Deployments, and reports (finished) the one applied.
	Rollout *Rollout `json:"rollout,omitempty"`
	// Chart, in a trigger, names the chart to deploy instead of the one
	// CHART_SOURCE finds for the service, or pins its version.
	Chart *ChartRef `json:"chart,omitempty"`
	// Variables and GlobalVariables, in a trigger, set (a string) or
	// delete (null) variables of the service's and of the namespace's
	// variable group before the deployment.
	Variables       map[string]json.RawMessage `json:"variables,omitempty"`
	GlobalVariables map[string]json.RawMessage `json:"globalVariables,omitempty"`
	// ChangedVariables names, in .finished, the variables the trigger
	// changed, as global.NAME or service.NAME; never their values.
	ChangedVariables []string `json:"changedVariables,omitempty"`
	// DryRun, in a trigger, asks for a preview instead of a deployment:
	// nothing is deployed and .finished carries Preview.
	DryRun bool `json:"dryRun,omitempty"`
	// Preview is, in the .finished of a dry run, what the deployment
	// would change.
	Preview *Preview `json:"preview,omitempty"`
}

// Preview is what a deployment would change in the cluster, from a
// server-side dry run of each object it would apply.
type Preview struct {
	// Objects are the objects that would be created, changed or deleted,
	// in manifest order, deleted ones last.
	Objects []PreviewObject `json:"objects"`
	// Unchanged counts the objects a deployment would leave as they are.
	Unchanged int `json:"unchanged"`
	// Truncated, when set, says what was left out to keep the event
	// within its size limit.
	Truncated string `json:"truncated,omitempty"`
}

// PreviewObject is one object a deployment would change.
type PreviewObject struct {
	// Change is created, changed or deleted.
	Change    string `json:"change"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Diff is, for a changed object, a unified diff of the live object
	// against what would be applied, both normalized, Secret values
	// redacted.
	Diff string `json:"diff,omitempty"`
}

// Changes of a PreviewObject.
const (
	PreviewCreated = "created"
	PreviewChanged = "changed"
	PreviewDeleted = "deleted"
)

// Rollout is the update strategy of a service's Deployments, as a trigger
// asks for it and as .finished reports it.
type Rollout struct {
	// Strategy is RollingUpdate or Recreate.
	Strategy string `json:"strategy,omitempty"`
	// MaxSurge and MaxUnavailable are whole numbers of pods or
	// percentages ("25%").
	MaxSurge       any `json:"maxSurge,omitempty"`
	MaxUnavailable any `json:"maxUnavailable,omitempty"`
	// ForcedRecreate names, in .finished, the Deployments that got
	// Recreate because they mount a ReadWriteOnce volume claim.
	ForcedRecreate []string `json:"forcedRecreate,omitempty"`
}

// ChartRef names a chart: helm-service's extension deployment.chart.
type ChartRef struct {
	// Ref is an OCI repository, oci://host/path, optionally with :tag or
	// @digest. Empty keeps the service's own chart from CHART_SOURCE.
	Ref string `json:"ref,omitempty"`
	// Version is a tag or digest. With Ref empty it picks the version of
	// the service's chart in an OCI CHART_SOURCE (and other sources refuse
	// a chart of another version). Empty means the newest.
	Version string `json:"version,omitempty"`
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

// ReleaseTriggered is the data of sh.keptn.event.release.triggered. Result
// carries the result of the task before it: pass or warning promote, fail
// rolls back.
type ReleaseTriggered struct {
	Common
	Deployment *Deployment `json:"deployment,omitempty"`
}

// RollbackTriggered is the data of sh.keptn.event.rollback.triggered.
type RollbackTriggered struct {
	Common
}

// Outcome is helm-service's extension to release.finished and
// rollback.finished: what it did to the service.
type Outcome struct {
	// Action is promoted, rolled-back or none.
	Action string `json:"action"`
	// Strategy is the strategy the service was found deployed with.
	Strategy  string `json:"deploymentstrategy"`
	Namespace string `json:"namespace"`
	// ReleaseName and HelmRevision are the release that serves production
	// afterwards and its revision.
	ReleaseName  string `json:"releaseName,omitempty"`
	HelmRevision int    `json:"helmRevision,omitempty"`
	// Traffic is the split the router reports afterwards (blue/green only).
	Traffic *Traffic `json:"traffic,omitempty"`
	// DryRun and Preview, in the .finished of a dry run (the trigger's
	// deployment.dryRun), say what the release would change.
	DryRun  bool     `json:"dryRun,omitempty"`
	Preview *Preview `json:"preview,omitempty"`
}

// Traffic is the share of traffic, in percent, primary and canary get.
type Traffic struct {
	Primary int `json:"primary"`
	Canary  int `json:"canary"`
}

// Actions reported in Outcome.
const (
	ActionPromoted   = "promoted"
	ActionRolledBack = "rolled-back"
	ActionNone       = "none"
	// ActionRestarted answers the restart remediation action.
	ActionRestarted = "restarted"
)

// ReleaseFinished is the data of sh.keptn.event.release.finished.
type ReleaseFinished struct {
	Common
	Release *Outcome `json:"release,omitempty"`
}

// RollbackFinished is the data of sh.keptn.event.rollback.finished.
type RollbackFinished struct {
	Common
	Rollback *Outcome `json:"rollback,omitempty"`
}
