package vargroups

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/pkg/kube"
)

// DeleteService deletes what helm-service keeps of the variables of a
// service removed from namespace: its service group and its blue/green
// snapshots. It returns their namespace/name, the group first. A Secret
// of the group's name that does not carry the group's labels was not
// written by helm-service and is left alone. The global group belongs to
// the namespace and stays.
func (s Store) DeleteService(ctx context.Context, namespace, service string) ([]string, error) {
	var deleted []string
	group, err := s.deleteServiceGroup(ctx, namespace, service)
	if err != nil {
		return nil, err
	}
	if group != "" {
		deleted = append(deleted, namespace+"/"+group)
	}
	snapshots, err := s.CollectSnapshots(ctx, namespace, service, nil)
	for _, name := range snapshots {
		deleted = append(deleted, namespace+"/"+name)
	}
	return deleted, err
}

// deleteServiceGroup deletes the service group and returns its name, or ""
// when there was none of helm-service's.
func (s Store) deleteServiceGroup(ctx context.Context, namespace, service string) (string, error) {
	name := ServiceSecret(service)
	secrets := s.Clientset.CoreV1().Secrets(namespace)
	sec, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read variable group %s/%s: %w", namespace, name, err)
	}
	l := sec.Labels
	if l[kube.LabelManagedBy] != kube.ManagedByValue || l[LabelGroup] != GroupService || l[kube.LabelService] != service {
		return "", nil
	}
	err = secrets.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &sec.UID}})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("delete variable group %s/%s: %w", namespace, name, err)
	}
	return name, nil
}
