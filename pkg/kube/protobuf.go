package kube

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
)

// Protobuf returns a copy of cfg for typed clients (client-go's clientset)
// that speaks Kubernetes' protobuf encoding, as the cluster's own
// controllers do: the API server encodes and decodes it for a fraction of
// JSON's cost, shares one encoding of a watched object with those
// controllers, and a Secret's bytes travel as they are instead of base64.
// Clients of unstructured objects (dynamic, Helm's resource builder) set
// JSON themselves and are not changed by it.
func Protobuf(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return cfg
}
