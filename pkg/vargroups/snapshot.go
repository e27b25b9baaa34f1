package vargroups

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// A blue/green service's pods do not read the groups themselves: each
// deployment of its canary stores the groups as they are then in an
// immutable snapshot, which the canary's pods read and a promotion hands to
// the primary. Changing the groups then changes neither side's pods.
const (
	// GroupSnapshot is the LabelGroup of a snapshot's Secret.
	GroupSnapshot = "snapshot"
	// LabelSnapshot, on a release record, is the ID of the snapshot the
	// release's pods read.
	LabelSnapshot = "keptn.sh/variables-snapshot"
	// AnnotationSnapshot, on a pod template, is the ID of the snapshot its
	// pods read; Redeployer leaves such pod templates alone.
	AnnotationSnapshot = "keptn.sh/variables-snapshot"
)

// snapshotIDLength is how many hex digits of the data's SHA-256 name a
// snapshot.
const snapshotIDLength = 16

var snapshotID = regexp.MustCompile(`^[0-9a-f]{16}$`)

// Snapshot is an immutable copy of a service's two groups in one Secret:
// the global group's variables with the service group's on top, as the
// pods would see them reading both.
type Snapshot struct {
	// ID names the data: the first 16 hex digits of its SHA-256, so that
	// equal variables make one snapshot.
	ID string
	// Name is the Secret's name, SnapshotSecret(service, ID).
	Name string
	// Checksum is the SHA-256 of the data for the pod templates'
	// AnnotationChecksum, or "" when the snapshot holds no variable.
	Checksum string
	Data     map[string][]byte
}

// SnapshotSecret is the name of a service's snapshot with the given ID.
func SnapshotSecret(service, id string) string { return ServiceSecret(service) + "-" + id }

// CheckSnapshotID fails for what is not a snapshot ID.
func CheckSnapshotID(id string) error {
	if !snapshotID.MatchString(id) {
		return fmt.Errorf("%q is not a variable snapshot ID (%d lower-case hex digits)", id, snapshotIDLength)
	}
	return nil
}

// snapshotOf is the snapshot of service's groups g.
func snapshotOf(service string, g Groups) Snapshot {
	data := maps.Clone(g.Global)
	if data == nil {
		data = map[string][]byte{}
	}
	maps.Copy(data, g.Service)
	return snapshotOfData(service, data)
}

func snapshotOfData(service string, data map[string][]byte) Snapshot {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "%d:%s=%d:", len(k), k, len(data[k]))
		h.Write(data[k])
		h.Write([]byte{'\n'})
	}
	sum := hex.EncodeToString(h.Sum(nil))
	s := Snapshot{ID: sum[:snapshotIDLength], Data: data}
	s.Name = SnapshotSecret(service, s.ID)
	if len(data) > 0 {
		s.Checksum = sum
	}
	return s
}

func snapshotLabels(service string) map[string]string {
	return labelsOf(GroupSnapshot, service)
}

// Snapshot stores service's groups g as a snapshot, unless one with the
// same variables exists, and returns it. An existing Secret of that name
// that is not helm-service's immutable snapshot of these variables is an
// error, and left alone.
func (s Store) Snapshot(ctx context.Context, namespace, service string, g Groups) (Snapshot, error) {
	snap := snapshotOf(service, g)
	immutable := true
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: snap.Name, Namespace: namespace, Labels: snapshotLabels(service)},
		Type:       corev1.SecretTypeOpaque,
		Immutable:  &immutable,
		Data:       snap.Data,
	}
	_, err := s.Clientset.CoreV1().Secrets(namespace).Create(ctx, secret, metav1.CreateOptions{})
	switch {
	case err == nil:
		return snap, nil
	case !apierrors.IsAlreadyExists(err):
		return Snapshot{}, fmt.Errorf("store variable snapshot %s/%s: %w", namespace, snap.Name, err)
	}
	if _, err := s.ReadSnapshot(ctx, namespace, service, snap.ID); err != nil {
		return Snapshot{}, err
	}
	return snap, nil
}

// ReadSnapshot reads service's snapshot id and checks that it is what
// Snapshot stored: labelled as service's snapshot, immutable, and holding
// the variables its ID names.
func (s Store) ReadSnapshot(ctx context.Context, namespace, service, id string) (Snapshot, error) {
	if err := CheckSnapshotID(id); err != nil {
		return Snapshot{}, err
	}
	name := SnapshotSecret(service, id)
	sec, err := s.Clientset.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Snapshot{}, fmt.Errorf("variable snapshot %s/%s does not exist (deleted by hand?)", namespace, name)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("read variable snapshot %s/%s: %w", namespace, name, err)
	}
	for k, v := range snapshotLabels(service) {
		if sec.Labels[k] != v {
			//lint:ignore ST1005 the message starts with the Kubernetes kind, spelt as Kubernetes spells it
			return Snapshot{}, fmt.Errorf("Secret %s/%s is not a variable snapshot of service %s: its label %s is %q, want %q; delete or rename it", namespace, name, service, k, sec.Labels[k], v)
		}
	}
	if sec.Immutable == nil || !*sec.Immutable {
		return Snapshot{}, fmt.Errorf("variable snapshot %s/%s is not immutable, so its variables may have been changed; delete it", namespace, name)
	}
	snap := snapshotOfData(service, sec.Data)
	if snap.ID != id {
		return Snapshot{}, fmt.Errorf("variable snapshot %s/%s holds other variables than its name says (their ID is %s); delete it", namespace, name, snap.ID)
	}
	return snap, nil
}

// CollectSnapshots deletes the snapshots of service whose ID is not in
// keep and returns the names of those it deleted, sorted.
func (s Store) CollectSnapshots(ctx context.Context, namespace, service string, keep []string) ([]string, error) {
	secrets := s.Clientset.CoreV1().Secrets(namespace)
	list, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(snapshotLabels(service)).String()})
	if err != nil {
		return nil, fmt.Errorf("list the variable snapshots of service %s in %s: %w", service, namespace, err)
	}
	kept := make(map[string]bool, len(keep))
	for _, id := range keep {
		kept[SnapshotSecret(service, id)] = true
	}
	var deleted []string
	for _, sec := range list.Items {
		if kept[sec.Name] {
			continue
		}
		err := secrets.Delete(ctx, sec.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &sec.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return deleted, fmt.Errorf("delete variable snapshot %s/%s: %w", namespace, sec.Name, err)
		}
		deleted = append(deleted, sec.Name)
	}
	slices.Sort(deleted)
	return deleted, nil
}
