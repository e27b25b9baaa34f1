package events

import "encoding/json"

// The remediation actions helm-service carries out; other actions belong
// to other services.
const (
	ActionScaling  = "scaling"
	ActionRollback = "rollback"
	ActionRestart  = "restart"
)

// ActionTriggered is the data of sh.keptn.event.action.triggered.
type ActionTriggered struct {
	Common
	Action  ActionInfo      `json:"action"`
	Problem json.RawMessage `json:"problem,omitempty"`
}

// ActionInfo is the remediation action asked for. Value is kept raw: its
// type depends on the action (for scaling, a replica increment given as a
// JSON number or a string).
type ActionInfo struct {
	Name        string          `json:"name,omitempty"`
	Action      string          `json:"action"`
	Description string          `json:"description,omitempty"`
	Value       json.RawMessage `json:"value,omitempty"`
}

// ActionFinished is the data of sh.keptn.event.action.finished.
type ActionFinished struct {
	Common
	Scaling  *Scaling      `json:"scaling,omitempty"`
	Rollback *ActionResult `json:"rollback,omitempty"`
	Restart  *ActionResult `json:"restart,omitempty"`
}

// ActionResult is helm-service's extension to action.finished for the
// rollback and restart actions: what the action did to the service, and
// to each of its workloads.
type ActionResult struct {
	Outcome
	// Workloads are the workloads the action acted on, with what it did.
	Workloads []WorkloadAction `json:"workloads"`
}

// WorkloadAction is what a rollback or restart did to one workload.
type WorkloadAction struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Release is the Helm release the workload belongs to.
	Release string `json:"release"`
	// Did is what was done: "rolled back to revision N", "serves all
	// traffic", "scaled to 0", "restarted".
	Did string `json:"did"`
	// RestartedAt is the kubectl.kubernetes.io/restartedAt annotation a
	// restart set on the pod template.
	RestartedAt string `json:"restartedAt,omitempty"`
}

// Scaling is helm-service's extension to action.finished: what a scaling
// action changed.
type Scaling struct {
	Namespace   string `json:"namespace"`
	ReleaseName string `json:"releaseName"`
	// Increment is the increment asked for.
	Increment int32 `json:"increment"`
	// Workloads are the workloads scaled, each from and to how many
	// replicas.
	Workloads []WorkloadScaling `json:"workloads"`
}

// WorkloadScaling is the change of one workload's replicas.
type WorkloadScaling struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	From int32  `json:"from"`
	To   int32  `json:"to"`
}

// ServiceDeleteFinished is the data of sh.keptn.event.service.delete.finished
// as helm-service sends it.
type ServiceDeleteFinished struct {
	Common
	Removed *Removed `json:"removed,omitempty"`
}

// Removed lists what helm-service removed for a deleted service.
type Removed struct {
	// Releases are namespace/name of the uninstalled Helm releases.
	Releases []string `json:"releases"`
	// RoutingObjects are kind namespace/name of the routing objects of
	// blue/green services.
	RoutingObjects []string `json:"routingObjects"`
	// VariableGroups are namespace/name of the Secrets of the service's
	// variable group, deleted in each namespace it was removed from.
	VariableGroups []string `json:"variableGroups"`
	// Namespaces are the namespaces deleted because they were left empty.
	Namespaces []string `json:"namespaces,omitempty"`
	// KeptNamespaces are the namespaces DELETE_EMPTY_NAMESPACES did not
	// delete, each with the reason.
	KeptNamespaces []KeptNamespace `json:"keptNamespaces,omitempty"`
	// NotAllowed are namespace/name of the service's releases left alone
	// because ALLOWED_NAMESPACES does not allow their namespace.
	NotAllowed []string `json:"notAllowed,omitempty"`
	// NotOwned are namespace/name of the service's releases left alone
	// because their namespace is not helm-service's for the project and
	// stage the records name.
	NotOwned []string `json:"notOwned,omitempty"`
}

// KeptNamespace is a namespace a removal left in place, and why.
type KeptNamespace struct {
	Namespace string `json:"namespace"`
	Reason    string `json:"reason"`
}
