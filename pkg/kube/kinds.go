package kube

// The workload kinds helm-service knows. What each kind has is in
// workloadKinds: every list of kinds in helm-service asks it.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
	KindReplicaSet  = "ReplicaSet"
	KindJob         = "Job"
	KindPod         = "Pod"
)

// kindTraits is what helm-service relies on in a workload kind.
type kindTraits struct {
	// podTemplate: spec.template is a pod template and spec.selector a
	// label selector of its pods.
	podTemplate bool
	// longRunning: its pods run until they are replaced (unlike a Job's).
	longRunning bool
	// scaled: helm-service counts it among a release's workloads: it
	// scales it, reads its images and says why it is not ready.
	scaled bool
}

// workloadKinds are the kinds that run pods.
var workloadKinds = map[string]kindTraits{
	KindDeployment:  {podTemplate: true, longRunning: true, scaled: true},
	KindStatefulSet: {podTemplate: true, longRunning: true, scaled: true},
	KindDaemonSet:   {podTemplate: true, longRunning: true},
	KindReplicaSet:  {podTemplate: true},
	KindJob:         {podTemplate: true},
	KindPod:         {},
}

// RunsPods reports whether objects of kind run pods: their readiness can
// change at any time.
func RunsPods(kind string) bool {
	_, ok := workloadKinds[kind]
	return ok
}

// HasPodTemplate reports whether the spec.template of kind is a pod
// template (Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs).
func HasPodTemplate(kind string) bool { return workloadKinds[kind].podTemplate }

// LongRunning reports whether kind has a pod template whose pods run until
// they are replaced (Deployments, StatefulSets, DaemonSets).
func LongRunning(kind string) bool { return workloadKinds[kind].longRunning }

// Scaled reports whether kind is one helm-service counts among a release's
// workloads (Deployments and StatefulSets): it scales them, reads their
// images and says why they are not ready.
func Scaled(kind string) bool { return workloadKinds[kind].scaled }
