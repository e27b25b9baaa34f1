package config

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kelseyhightower/envconfig"
)

// variables are the environment variables Load reads, each with the
// default its tag gives, as envconfig itself names them (a group's prefix
// would show here).
func variables(t *testing.T) map[string]string {
	t.Helper()
	var c Config
	vars := map[string]string{}
	for _, s := range c.sources(&rolloutEnv{}) {
		var out strings.Builder
		if err := envconfig.Usagef("", s, &out, "{{range .}}{{usage_key .}}\t{{usage_default .}}\n{{end}}"); err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(out.String()) {
			key, def, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
			if _, twice := vars[key]; twice {
				t.Errorf("%s is read by two settings", key)
			}
			vars[key] = def
		}
	}
	return vars
}

// cleanEnv unsets every variable Load reads for the test, so that the
// environment the tests run in does not leak into them.
func cleanEnv(t *testing.T) {
	t.Helper()
	for key := range variables(t) {
		t.Setenv(key, "")
		if err := os.Unsetenv(key); err != nil {
			t.Fatal(err)
		}
	}
}

// documentedVariable is one row of the Configuration table.
type documentedVariable struct {
	file, dflt string
}

// documentedVariables reads the Configuration table of README.md (or of
// the docs/ page it moved to): every variable its rows name, with the
// default they give.
func documentedVariables(t *testing.T) map[string]documentedVariable {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"../../README.md"}, files...)
	heading := regexp.MustCompile(`^(#+) Configuration\s*$`)
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")
	out := map[string]documentedVariable{}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		level := ""
		for sc := bufio.NewScanner(f); sc.Scan(); {
			line := sc.Text()
			if m := heading.FindStringSubmatch(line); m != nil {
				level = m[1]
				continue
			}
			if level == "" {
				continue
			}
			if strings.HasPrefix(line, "#") && len(line)-len(strings.TrimLeft(line, "#")) <= len(level) {
				level = ""
				continue
			}
			cells := strings.Split(line, "|")
			if !strings.HasPrefix(line, "|") || len(cells) < 4 {
				continue
			}
			for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
				out[m[1]] = documentedVariable{file: file, dflt: strings.TrimSpace(cells[2])}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no Configuration table with variables in %v", files)
	}
	return out
}

// readElsewhere are documented variables that pkg/config does not read.
var readElsewhere = []string{
	"KUBECONFIG", // client-go's, through kube.LoadConfig
}

// TestEveryDocumentedVariableIsRead checks that the variables README's
// Configuration table lists are exactly those Load reads, under the same
// names and with the defaults it gives.
func TestEveryDocumentedVariableIsRead(t *testing.T) {
	read := variables(t)
	documented := documentedVariables(t)
	var names, undocumented []string
	for key := range documented {
		if !slices.Contains(readElsewhere, key) {
			names = append(names, key)
		}
	}
	for key := range read {
		if _, ok := documented[key]; !ok {
			undocumented = append(undocumented, key)
		}
	}
	slices.Sort(names)
	slices.Sort(undocumented)
	readNames := make([]string, 0, len(read))
	for key := range read {
		readNames = append(readNames, key)
	}
	slices.Sort(readNames)
	if diff := cmp.Diff(names, readNames); diff != "" {
		t.Errorf("documented variables (-) differ from those Load reads (+):\n%s", diff)
	}
	if len(undocumented) > 0 {
		t.Errorf("read but not in the Configuration table: %v", undocumented)
	}

	// A default the table gives as a value (`...`, or "(empty...") is the
	// one Load applies; prose defaults are resolved by Load or by the
	// component (see TestLoadDefaultsPerGroup).
	resolvedLater := []string{"NATS_DATA_DIR", "ALLOWED_NAMESPACES"}
	value := regexp.MustCompile("^`([^`]*)`")
	for key, doc := range documented {
		def, ok := read[key]
		if !ok || slices.Contains(resolvedLater, key) {
			continue
		}
		var want string
		switch m := value.FindStringSubmatch(doc.dflt); {
		case m != nil:
			want = m[1]
		case strings.HasPrefix(doc.dflt, "(empty"):
			want = ""
		default:
			continue
		}
		if def != want {
			t.Errorf("%s: %s documents the default %q, Load applies %q", key, doc.file, want, def)
		}
	}
}

// TestEveryGroupIsRead checks that Load fills every group of Config: a
// group left out of sources would keep its zero values silently.
func TestEveryGroupIsRead(t *testing.T) {
	var c Config
	read := map[any]bool{}
	for _, s := range c.sources(&rolloutEnv{}) {
		read[s] = true
	}
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		if !read[v.Field(i).Addr().Interface()] {
			t.Errorf("Config.%s is not among the sources Load reads", v.Type().Field(i).Name)
		}
	}
}
