package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Owner is the Keptn project and stage a namespace belongs to: the
// trigger's that made helm-service create it (labels LabelProject and
// LabelStage, with LabelManagedBy).
type Owner struct {
	Project, Stage string
}

// Labels are the labels that say a namespace belongs to o.
func (o Owner) Labels() map[string]string {
	return map[string]string{LabelManagedBy: ManagedByValue, LabelProject: o.Project, LabelStage: o.Stage}
}

// ownerLabelKeys are the labels of ownership, in the order they are named.
var ownerLabelKeys = []string{LabelManagedBy, LabelProject, LabelStage}

// NamespaceNotOwnedError refuses a namespace that exists and was not
// created by helm-service for the trigger's project and stage.
type NamespaceNotOwnedError struct {
	Namespace string
	// Owner is the trigger's project and stage.
	Owner Owner
	// Found are the ownership labels the namespace has, those it lacks
	// left out.
	Found map[string]string
}

func (e *NamespaceNotOwnedError) Error() string {
	why := "was not created by helm-service"
	switch {
	case e.Found[LabelManagedBy] == ManagedByValue && e.Found[LabelProject] != "":
		why = fmt.Sprintf("belongs to project %s, stage %s", e.Found[LabelProject], e.Found[LabelStage])
	case e.Found[LabelManagedBy] == ManagedByValue:
		why = "is labelled as helm-service's but names no project and stage"
	}
	return fmt.Sprintf("namespace %s %s (%s), not to project %s, stage %s: helm-service deploys only into a namespace it created for the trigger's project and stage; to hand this namespace over to project %s, stage %s, add it to ADOPT_NAMESPACES (helm-service then labels it as theirs), else give the project or stage a name (or NAMESPACE_TEMPLATE) that maps to a namespace of its own",
		e.Namespace, why, DescribeLabels(e.Found, ownerLabelKeys), e.Owner.Project, e.Owner.Stage, e.Owner.Project, e.Owner.Stage)
}

// DescribeLabels names the value of each of keys in labels, or that it is
// missing: "keptn.sh/project=sock, no keptn.sh/stage".
func DescribeLabels(labels map[string]string, keys []string) string {
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if v, ok := labels[k]; ok {
			parts = append(parts, k+"="+v)
		} else {
			parts = append(parts, "no label "+k)
		}
	}
	return strings.Join(parts, ", ")
}

// Owns says whether a namespace with these labels belongs to o.
func (o Owner) Owns(labels map[string]string) bool {
	for k, v := range o.Labels() {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Claim checks that a trigger of owner may work in namespace: it does not
// exist yet (Ensure creates it for owner), or helm-service created it for
// owner. Any other namespace is refused with a *NamespaceNotOwnedError,
// unless adopt is set: the namespace is then labelled as owner's, once,
// and adopted reports it with the labels it had.
func (n Namespaces) Claim(ctx context.Context, name string, owner Owner, adopt bool) (adopted map[string]string, err error) {
	ns, err := getNamespace(ctx, n.Clientset, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get namespace %s: %w", name, err)
	}
	if owner.Owns(ns.Labels) {
		return nil, nil
	}
	found := map[string]string{}
	for _, k := range ownerLabelKeys {
		if v, ok := ns.Labels[k]; ok {
			found[k] = v
		}
	}
	if !adopt {
		return nil, &NamespaceNotOwnedError{Namespace: name, Owner: owner, Found: found}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": owner.Labels()}})
	if err != nil {
		return nil, fmt.Errorf("adopt namespace %s: %w", name, err)
	}
	namespaceWritten(ctx, name)
	if _, err := n.Clientset.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return nil, fmt.Errorf("adopt namespace %s (ADOPT_NAMESPACES): label it as project %s, stage %s: %w", name, owner.Project, owner.Stage, err)
	}
	return found, nil
}
