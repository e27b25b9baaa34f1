package handler

import (
	"fmt"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/kube"
)

// LabelBranch is the trigger label a namespace template reads as .Branch.
const LabelBranch = "branch"

// targetNamespace is the namespace a trigger's service lives in, from the
// namespace template (nil: kube.DefaultNamespaceTemplate). The dispatcher
// computes it once per trigger (see resolveTarget) for the allow-list, the
// lanes, the task's span and the task itself (Trigger.Target), so that a
// release, rollback or action finds what a deployment put there.
func targetNamespace(tmpl *kube.NamespaceTemplate, c events.Common) (string, error) {
	ns, err := tmpl.Namespace(kube.NamespaceFields{
		Project: c.Project, Stage: c.Stage, Service: c.Service,
		Branch: c.Labels[LabelBranch], Labels: c.Labels,
	})
	if err != nil {
		return "", fmt.Errorf("namespace: %w", err)
	}
	return ns, nil
}
