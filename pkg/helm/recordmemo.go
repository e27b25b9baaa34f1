package helm

import (
	"context"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// A task reads one release's records many times: the ownership check and
// the status read before it acts, then Helm itself (an upgrade lists the
// records three times, and once more to prune the history), each read a
// list of the release's Secrets. In a context from WithRecordMemo the
// release storage lists a release's records from the cluster once, on the
// first read, and answers the later ones from that list, which its own
// writes keep current. It is for one attempt of one task: the task holds
// its releases while it runs (package lanes), so nobody else writes them
// meanwhile, and an attempt that fails runs again in a context of its own.

type recordMemoKey struct{}

// WithRecordMemo returns a context in which the release storage of every
// action reads each release's records from the cluster once (see above):
// ctx itself when it is one already.
func WithRecordMemo(ctx context.Context) context.Context {
	if recordMemoFrom(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, recordMemoKey{}, &recordMemo{releases: map[string]map[string]*corev1.Secret{}})
}

func recordMemoFrom(ctx context.Context) *recordMemo {
	m, _ := ctx.Value(recordMemoKey{}).(*recordMemo)
	return m
}

// recordMemo holds the record Secrets of the releases read so far, by
// namespace/release, then by Secret name.
type recordMemo struct {
	mu       sync.Mutex
	releases map[string]map[string]*corev1.Secret
}

// Helm's labels on a release record Secret, and the prefix of its name.
const (
	recordLabelName  = "name"
	recordLabelOwner = "owner"
	recordOwner      = "helm"
	recordPrefix     = "sh.helm.release.v1."
)

// secrets returns the Secrets of namespace as the release storage sees
// them in this memo: inner, with the reads of whole releases memoised.
func (m *recordMemo) secrets(namespace string, inner corev1client.SecretInterface) corev1client.SecretInterface {
	return &memoSecrets{SecretInterface: inner, namespace: namespace, memo: m}
}

// memoSecrets is the Secrets client Helm's release storage reads and
// writes release records through.
type memoSecrets struct {
	corev1client.SecretInterface
	namespace string
	memo      *recordMemo
}

func (s *memoSecrets) key(release string) string { return s.namespace + "/" + release }

// releaseOf returns the release a list of Helm's release storage selects
// the records of: the selector requires name=<release> and owner=helm,
// and perhaps more labels, which the memo matches itself.
func releaseOf(opts metav1.ListOptions) (string, labels.Selector, bool) {
	if opts.FieldSelector != "" || opts.ResourceVersion != "" || opts.Limit != 0 || opts.Continue != "" {
		return "", nil, false
	}
	sel, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return "", nil, false
	}
	reqs, _ := sel.Requirements()
	var name string
	owned := false
	for _, r := range reqs {
		if r.Operator() != selection.Equals && r.Operator() != selection.DoubleEquals {
			continue
		}
		v := r.Values().UnsortedList()
		if len(v) != 1 {
			continue
		}
		switch r.Key() {
		case recordLabelName:
			name = v[0]
		case recordLabelOwner:
			owned = v[0] == recordOwner
		}
	}
	return name, sel, name != "" && owned
}

// releaseOfSecret returns the release a record Secret's name belongs to:
// sh.helm.release.v1.<release>.v<revision>.
func releaseOfSecret(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, recordPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, ".v")
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// List implements corev1client.SecretInterface.
func (s *memoSecrets) List(ctx context.Context, opts metav1.ListOptions) (*corev1.SecretList, error) {
	release, sel, ok := releaseOf(opts)
	if !ok {
		return s.SecretInterface.List(ctx, opts)
	}
	key := s.key(release)
	s.memo.mu.Lock()
	records, read := s.memo.releases[key]
	s.memo.mu.Unlock()
	if !read {
		all := labels.SelectorFromSet(labels.Set{recordLabelName: release, recordLabelOwner: recordOwner})
		list, err := s.SecretInterface.List(ctx, metav1.ListOptions{LabelSelector: all.String()})
		if err != nil {
			return nil, err
		}
		records = make(map[string]*corev1.Secret, len(list.Items))
		for i := range list.Items {
			records[list.Items[i].Name] = &list.Items[i]
		}
		s.memo.mu.Lock()
		s.memo.releases[key] = records
		s.memo.mu.Unlock()
	}
	out := &corev1.SecretList{}
	s.memo.mu.Lock()
	defer s.memo.mu.Unlock()
	for _, sec := range records {
		if sel.Matches(labels.Set(sec.Labels)) {
			out.Items = append(out.Items, *sec.DeepCopy())
		}
	}
	return out, nil
}

// Get implements corev1client.SecretInterface.
func (s *memoSecrets) Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Secret, error) {
	if release, ok := releaseOfSecret(name); ok && opts.ResourceVersion == "" {
		s.memo.mu.Lock()
		records, read := s.memo.releases[s.key(release)]
		sec := records[name]
		s.memo.mu.Unlock()
		if sec != nil {
			return sec.DeepCopy(), nil
		}
		if read {
			return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
		}
	}
	return s.SecretInterface.Get(ctx, name, opts)
}

// Create implements corev1client.SecretInterface.
func (s *memoSecrets) Create(ctx context.Context, secret *corev1.Secret, opts metav1.CreateOptions) (*corev1.Secret, error) {
	got, err := s.SecretInterface.Create(ctx, secret, opts)
	s.wrote(secret.Name, got, err)
	return got, err
}

// Update implements corev1client.SecretInterface.
func (s *memoSecrets) Update(ctx context.Context, secret *corev1.Secret, opts metav1.UpdateOptions) (*corev1.Secret, error) {
	got, err := s.SecretInterface.Update(ctx, secret, opts)
	s.wrote(secret.Name, got, err)
	return got, err
}

// Delete implements corev1client.SecretInterface.
func (s *memoSecrets) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	err := s.SecretInterface.Delete(ctx, name, opts)
	if err == nil || apierrors.IsNotFound(err) {
		s.wrote(name, nil, nil)
	} else {
		s.wrote(name, nil, err)
	}
	return err
}

// Patch implements corev1client.SecretInterface. Helm's storage does not
// patch records; a patch forgets the release it touches.
func (s *memoSecrets) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*corev1.Secret, error) {
	s.forget(name)
	return s.SecretInterface.Patch(ctx, name, pt, data, opts, subresources...)
}

// DeleteCollection implements corev1client.SecretInterface: it forgets
// every release of the namespace.
func (s *memoSecrets) DeleteCollection(ctx context.Context, opts metav1.DeleteOptions, listOpts metav1.ListOptions) error {
	s.memo.mu.Lock()
	for key := range s.memo.releases {
		if strings.HasPrefix(key, s.namespace+"/") {
			delete(s.memo.releases, key)
		}
	}
	s.memo.mu.Unlock()
	return s.SecretInterface.DeleteCollection(ctx, opts, listOpts)
}

// wrote brings the memo up to date with a write of Secret name that
// returned got (nil: deleted) and err. A write that failed leaves the
// record as the cluster has it unknown: the release is forgotten and read
// again.
func (s *memoSecrets) wrote(name string, got *corev1.Secret, err error) {
	release, ok := releaseOfSecret(name)
	if !ok {
		return
	}
	key := s.key(release)
	s.memo.mu.Lock()
	defer s.memo.mu.Unlock()
	records, read := s.memo.releases[key]
	switch {
	case !read:
	case err != nil:
		delete(s.memo.releases, key)
	case got == nil:
		delete(records, name)
	default:
		records[name] = got.DeepCopy()
	}
}

func (s *memoSecrets) forget(name string) {
	if release, ok := releaseOfSecret(name); ok {
		s.memo.mu.Lock()
		delete(s.memo.releases, s.key(release))
		s.memo.mu.Unlock()
	}
}
