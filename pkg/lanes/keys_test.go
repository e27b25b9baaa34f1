package lanes

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestKeysSortByNamespaceThenName: the order every task takes its releases
// in is the order service removal takes namespaces in, which a plain string
// sort of "namespace/name" is not ('-' sorts before '/').
func TestKeysSortByNamespaceThenName(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{
			name: "namespace before name, repeats dropped",
			got:  SortedKeys([]string{"shop-prod/carts", "shop/orders", "shop/carts", "shop-prod/carts", "shop/carts-canary"}),
			want: []string{"shop/carts", "shop/carts-canary", "shop/orders", "shop-prod/carts"},
		},
		{
			name: "keys of one namespace",
			got:  Keys("shop", []string{"carts-primary", "carts-canary", "carts-primary"}),
			want: []string{"shop/carts-canary", "shop/carts-primary"},
		},
		{name: "none", got: SortedKeys(nil), want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDescribeNamesOneOrSeveralReleases(t *testing.T) {
	for _, tc := range []struct {
		keys []string
		want string
	}{
		{keys: []string{"ns/carts"}, want: "release ns/carts"},
		{keys: []string{"ns/carts-canary", "ns/carts-primary"}, want: "releases ns/carts-canary, ns/carts-primary"},
	} {
		if diff := cmp.Diff(tc.want, Describe(tc.keys)); diff != "" {
			t.Errorf("Describe(%v) (-want +got):\n%s", tc.keys, diff)
		}
	}
}
