package main

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// recordKeeper adds to the floor what Helm must do for a release beyond
// applying its objects, so the floor+records baseline is the least any
// Helm-based tool needs for the same work: before the apply it lists the
// release's record Secrets (to find the last revision), reads every object
// (an install's check that none exists yet, an upgrade's read of the live
// object for its three-way merge) and stores the new revision's record as
// pending; after the wait it marks the previous record superseded and the
// new one deployed. The records are copies of helm-service's, of the same
// size, so the cluster stores what Helm would.
type recordKeeper struct {
	c         *cluster
	namespace string
	records   map[string][]*corev1.Secret // per release, its record Secrets in helm-service's namespace, oldest first
}

// releaseRecords reads helm-service's release record Secrets in namespace:
// for every release, its revisions' records, oldest first.
func releaseRecords(ctx context.Context, c *cluster, namespace string) (map[string][]*corev1.Secret, error) {
	list, err := c.clients.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		return nil, fmt.Errorf("read the release records in %s: %w", namespace, err)
	}
	out := map[string][]*corev1.Secret{}
	for i := range list.Items {
		s := &list.Items[i]
		out[s.Labels["name"]] = append(out[s.Labels["name"]], s)
	}
	for _, recs := range out {
		sort.Slice(recs, func(i, j int) bool { return recordVersion(recs[i]) < recordVersion(recs[j]) })
	}
	return out, nil
}

func recordVersion(s *corev1.Secret) int {
	v, _ := strconv.Atoi(s.Labels["version"])
	return v
}

// before does Helm's part ahead of applying revision rev (0-based) of
// release name.
func (k *recordKeeper) before(ctx context.Context, name string, rev int, objs []*unstructured.Unstructured) error {
	if rev >= len(k.records[name]) {
		return fmt.Errorf("release %s has %d records in helm-service's namespace, floor+records needs revision %d", name, len(k.records[name]), rev+1)
	}
	secrets := k.c.clients.CoreV1().Secrets(k.namespace)
	sel := labels.SelectorFromSet(labels.Set{"owner": "helm", "name": name}).String()
	if _, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: sel}); err != nil {
		return fmt.Errorf("list the records of %s: %w", name, err)
	}
	for _, obj := range objs {
		if _, err := k.c.get(ctx, obj, k.namespace); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	status := "pending-install"
	if rev > 0 {
		status = "pending-upgrade"
	}
	if _, err := secrets.Create(ctx, k.record(name, rev, status), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("store the record of %s revision %d: %w", name, rev+1, err)
	}
	return nil
}

// after does Helm's part once revision rev of release name is ready.
func (k *recordKeeper) after(ctx context.Context, name string, rev int) error {
	secrets := k.c.clients.CoreV1().Secrets(k.namespace)
	if rev > 0 {
		if _, err := secrets.Update(ctx, k.record(name, rev-1, "superseded"), metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("mark %s revision %d superseded: %w", name, rev, err)
		}
	}
	if _, err := secrets.Update(ctx, k.record(name, rev, "deployed"), metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("mark %s revision %d deployed: %w", name, rev+1, err)
	}
	return nil
}

// record is a copy of helm-service's record of revision rev of release
// name, for the floor's namespace, in status: written, as Helm's storage
// writes it, without a resource version.
func (k *recordKeeper) record(name string, rev int, status string) *corev1.Secret {
	src := k.records[name][rev]
	l := maps.Clone(src.Labels)
	l["status"] = status
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: src.Name, Namespace: k.namespace, Labels: l},
		Type:       src.Type,
		Data:       src.Data,
	}
}
