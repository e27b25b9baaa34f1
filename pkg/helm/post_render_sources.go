package helm

import (
	"bytes"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
)

// sourcesKept runs a post-renderer and puts back, above each object it
// returns, the "# Source:" comment Helm wrote above the same object (same
// apiVersion, kind, namespace and name) before it. helm-service's
// post-renderers write objects anew, which drops comments; the release's
// manifest tells by them which template rendered an object, the chart's own
// or a subchart's, as `helm get manifest` shows.
type sourcesKept struct {
	postrender.PostRenderer
}

// Run implements postrender.PostRenderer.
func (p sourcesKept) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	sources := map[objectKey]string{}
	for _, doc := range orderedDocs(rendered.String()) {
		key, ok := keyOf(doc)
		if _, seen := sources[key]; ok && !seen {
			sources[key] = manifestSource(doc)
		}
	}
	out, err := p.PostRenderer.Run(rendered)
	if err != nil {
		return nil, err
	}
	kept := new(bytes.Buffer)
	for _, doc := range orderedDocs(out.String()) {
		kept.WriteString("---\n")
		if key, ok := keyOf(doc); ok && sources[key] != "" && manifestSource(doc) == "" {
			kept.WriteString(sourcePrefix + sources[key] + "\n")
		}
		kept.WriteString(strings.TrimRight(doc, "\n") + "\n")
	}
	return kept, nil
}

// objectKey identifies an object of a manifest.
type objectKey struct {
	apiVersion, kind, namespace, name string
}

// keyOf reads the identity of the object in a manifest document; ok is
// false for a document without one (empty, or comments only).
func keyOf(doc string) (key objectKey, ok bool) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(doc), &head); err != nil || head.Kind == "" {
		return objectKey{}, false
	}
	return objectKey{head.APIVersion, head.Kind, head.Metadata.Namespace, head.Metadata.Name}, true
}

// orderedDocs splits a manifest into its documents, in order.
func orderedDocs(manifest string) []string {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, docs[k])
	}
	return out
}
