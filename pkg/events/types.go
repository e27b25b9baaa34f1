// Package events defines the Keptn event contract that helm-service speaks:
// event types, the data carried by each, and how replies to a trigger are built.
package events

import "strings"

// Prefix starts every Keptn event type; on NATS the subject is the type.
const Prefix = "sh.keptn.event."

// SpecVersion is the Keptn spec version put on every outgoing event.
const SpecVersion = "0.2.4"

// Tasks helm-service takes part in.
const (
	TaskDeployment    = "deployment"
	TaskRelease       = "release"
	TaskRollback      = "rollback"
	TaskAction        = "action"
	TaskServiceDelete = "service.delete"
)

// Phases of a task.
const (
	PhaseTriggered = "triggered"
	PhaseStarted   = "started"
	PhaseFinished  = "finished"
)

// Type returns the event type of a task in a phase, e.g.
// Type("deployment", "triggered") = "sh.keptn.event.deployment.triggered".
func Type(task, phase string) string {
	return Prefix + task + "." + phase
}

// SplitType splits an event type into its task and phase. ok is false for a
// type that is not a Keptn task event.
func SplitType(eventType string) (task, phase string, ok bool) {
	rest, found := strings.CutPrefix(eventType, Prefix)
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// CloudEvent extension attributes Keptn uses.
const (
	ExtContext     = "shkeptncontext"
	ExtTriggeredID = "triggeredid"
	ExtSpecVersion = "shkeptnspecversion"
	ExtGitCommitID = "gitcommitid"
)

// Status values of a finished task.
const (
	StatusSucceeded = "succeeded"
	StatusErrored   = "errored"
	StatusUnknown   = "unknown"
)

// Result values of a finished task.
const (
	ResultPass    = "pass"
	ResultWarning = "warning"
	ResultFail    = "fail"
)
