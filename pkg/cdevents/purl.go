package cdevents

import (
	"fmt"
	"strings"

	"github.com/package-url/packageurl-go"
)

// ArtifactID is the Package URL of a container image, of type oci (the
// type for OCI images in any registry):
//
//	registry.example.com/shop/carts:1.2@sha256:ab12…
//	→ pkg:oci/carts@sha256%3Aab12…?repository_url=registry.example.com/shop/carts&tag=1.2
//
// The version is the digest when the reference has one. Docker Hub
// references are spelled out as Docker does (carts:2 →
// repository_url=docker.io/library/carts, tag=2); a reference without tag
// or digest has the tag latest.
func ArtifactID(image string) (string, error) {
	if image == "" {
		return "", fmt.Errorf("no container image: the release runs no Deployment or StatefulSet with one")
	}
	repo, digest, _ := strings.Cut(image, "@")
	tag := ""
	// A colon after the last slash starts the tag; one before it is a
	// registry's port.
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	if repo == "" || strings.ContainsAny(repo, " \t") {
		return "", fmt.Errorf("container image %q is not a valid image reference", image)
	}
	if tag == "" && digest == "" {
		tag = "latest"
	}
	first, _, hasPath := strings.Cut(repo, "/")
	if !hasPath || !strings.ContainsAny(first, ".:") && first != "localhost" {
		if !hasPath {
			repo = "library/" + repo
		}
		repo = "docker.io/" + repo
	}
	name := strings.ToLower(repo[strings.LastIndex(repo, "/")+1:])
	q := map[string]string{"repository_url": repo}
	if tag != "" {
		q["tag"] = tag
	}
	return packageurl.NewPackageURL(packageurl.TypeOCI, "", name, digest, packageurl.QualifiersFromMap(q), "").ToString(), nil
}
