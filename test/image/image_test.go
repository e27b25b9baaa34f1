package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

const root = "../.."

func readDockerfile(t *testing.T) []stage {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stages, err := parseDockerfile(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return stages
}

func TestParseDockerfile(t *testing.T) {
	stages, err := parseDockerfile(strings.NewReader(`# comment
ARG GO=1.26
FROM --platform=$BUILDPLATFORM golang:${GO} AS build
RUN echo a \
      # inside
      && echo b
FROM scratch
USER 1000
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 || stages[0].From != "golang:${GO}" || stages[0].Name != "build" || stages[1].From != "scratch" {
		t.Fatalf("stages = %+v", stages)
	}
	if run := stages[0].all("RUN"); len(run) != 1 || run[0].Args != "echo a && echo b" || run[0].Line != 4 {
		t.Errorf("RUN = %+v", run)
	}
	for _, bad := range []string{"RUN echo\nFROM x", "# syntax=docker/dockerfile:1\nFROM x", "FROM x\nRUN <<EOF\nEOF", "FROM x\nRUN a \\"} {
		if _, err := parseDockerfile(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed without error", bad)
		}
	}
}

func TestDockerfileBuildsAStaticNonRootImage(t *testing.T) {
	stages := readDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(stages))
	}
	final := stages[len(stages)-1]
	if final.From != "scratch" && !strings.HasPrefix(final.From, "gcr.io/distroless/") {
		t.Errorf("runtime stage FROM %s, want distroless or scratch", final.From)
	}
	users := final.all("USER")
	if len(users) == 0 {
		t.Error("runtime stage sets no USER: the image would run as root")
	} else if u, _, _ := strings.Cut(users[len(users)-1].Args, ":"); u == "root" || u == "0" || u == "" {
		t.Errorf("USER %s runs as root", users[len(users)-1].Args)
	}
	for _, s := range stages {
		if hc := s.all("HEALTHCHECK"); len(hc) > 0 {
			t.Errorf("line %d: HEALTHCHECK: Kubernetes probes /healthz and /readyz instead", hc[0].Line)
		}
	}
	if copies := final.all("COPY"); len(copies) == 0 || !strings.Contains(copies[0].Args, "--from=") {
		t.Errorf("runtime stage does not copy the binary from the build stage: %+v", copies)
	}

	build := buildRun(t, stages)
	if !strings.Contains(build.Args, "CGO_ENABLED=0") {
		t.Errorf("line %d: the binary is not built with CGO_ENABLED=0 (static): %s", build.Line, build.Args)
	}
}

// buildRun is the RUN that builds cmd/helm-service.
func buildRun(t *testing.T, stages []stage) instruction {
	t.Helper()
	for _, s := range stages[:len(stages)-1] {
		for _, in := range s.all("RUN") {
			if strings.Contains(in.Args, "go build") && strings.Contains(in.Args, "./cmd/helm-service") {
				return in
			}
		}
	}
	t.Fatal("no RUN builds ./cmd/helm-service in a build stage")
	return instruction{}
}

// TestDockerfileVersionArgsReachTheBinary builds the binary with the
// Dockerfile's -ldflags, VERSION and COMMIT filled in, and checks that
// `helm-service version` prints them.
func TestDockerfileVersionArgsReachTheBinary(t *testing.T) {
	stages := readDockerfile(t)
	build := buildRun(t, stages)
	var args []string
	for _, s := range stages {
		for _, in := range s.all("ARG") {
			name, _, _ := strings.Cut(in.Args, "=")
			args = append(args, name)
		}
	}
	for _, want := range []string{"VERSION", "COMMIT"} {
		if !slices.Contains(args, want) {
			t.Errorf("no ARG %s", want)
		}
	}
	m := regexp.MustCompile(`-ldflags\s+"([^"]*)"`).FindStringSubmatch(build.Args)
	if m == nil {
		t.Fatalf("line %d: no -ldflags \"…\" in %s", build.Line, build.Args)
	}
	ldflags := strings.NewReplacer("${VERSION}", "1.2.3-test", "$VERSION", "1.2.3-test", "${COMMIT}", "abc1234", "$COMMIT", "abc1234").Replace(m[1])
	if strings.Contains(ldflags, "$") {
		t.Fatalf("-ldflags use a variable other than VERSION and COMMIT: %s", m[1])
	}

	bin := filepath.Join(t.TempDir(), "helm-service")
	// Only the -ldflags matter here; the rest of the Dockerfile's build
	// flags (static, trimmed) would rebuild every package from scratch.
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "./cmd/helm-service")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build with the Dockerfile's -ldflags %q: %v\n%s", ldflags, err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("helm-service version: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "helm-service 1.2.3-test (commit abc1234,") {
		t.Errorf("helm-service version printed %q, want the VERSION and COMMIT build arguments", out)
	}
}

// TestDockerfileCopiesEveryPackageTheBinaryNeeds compares the directories
// the build stage copies with the module's packages cmd/helm-service
// imports, so that a new package does not break the image build.
func TestDockerfileCopiesEveryPackageTheBinaryNeeds(t *testing.T) {
	stages := readDockerfile(t)
	copied := map[string]bool{}
	for _, s := range stages[:len(stages)-1] {
		for _, in := range s.all("COPY") {
			f := strings.Fields(in.Args)
			for _, src := range f[:len(f)-1] {
				if !strings.HasPrefix(src, "--") {
					copied[strings.TrimSuffix(strings.TrimPrefix(src, "./"), "/")] = true
				}
			}
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./cmd/helm-service")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/helm-service/helm-service/"
	for _, pkg := range strings.Fields(string(out)) {
		dir, ok := strings.CutPrefix(pkg, module)
		if !ok {
			continue
		}
		top, _, _ := strings.Cut(dir, "/")
		if !copied[top] && !copied[dir] {
			t.Errorf("the build stage does not COPY %s, which cmd/helm-service imports (%s)", top, pkg)
		}
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if !copied[f] {
			t.Errorf("the build stage does not COPY %s", f)
		}
	}
}

// skaffoldConfig is the part of skaffold.yaml helm-service uses; decoding
// is strict, so a misspelt field fails.
type skaffoldConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Build struct {
		Artifacts []struct {
			Image  string `json:"image"`
			Docker struct {
				Dockerfile string `json:"dockerfile"`
			} `json:"docker"`
		} `json:"artifacts"`
	} `json:"build"`
	Deploy struct {
		Helm struct {
			Releases []struct {
				Name              string            `json:"name"`
				ChartPath         string            `json:"chartPath"`
				SetValueTemplates map[string]string `json:"setValueTemplates"`
			} `json:"releases"`
		} `json:"helm"`
	} `json:"deploy"`
}

func TestSkaffoldBuildsTheDockerfileAndDeploysTheChartWithThatImage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "skaffold.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c skaffoldConfig
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		t.Fatalf("skaffold.yaml: %v", err)
	}
	if !regexp.MustCompile(`^skaffold/v4beta\d+$`).MatchString(c.APIVersion) || c.Kind != "Config" {
		t.Errorf("apiVersion %q kind %q, want skaffold/v4beta* Config", c.APIVersion, c.Kind)
	}
	if len(c.Build.Artifacts) != 1 {
		t.Fatalf("%d build artifacts, want 1", len(c.Build.Artifacts))
	}
	artifact := c.Build.Artifacts[0]
	if artifact.Docker.Dockerfile != "Dockerfile" {
		t.Errorf("artifact %s builds %q, want the Dockerfile", artifact.Image, artifact.Docker.Dockerfile)
	}
	if len(c.Deploy.Helm.Releases) != 1 {
		t.Fatalf("%d Helm releases, want 1", len(c.Deploy.Helm.Releases))
	}
	rel := c.Deploy.Helm.Releases[0]
	if rel.ChartPath != "chart" {
		t.Errorf("chartPath %q, want chart", rel.ChartPath)
	}

	// Skaffold fills these templates with the image it built; render the
	// chart with what they become and check the Deployment runs it.
	key := strings.NewReplacer("-", "_", ".", "_", "/", "_").Replace(artifact.Image)
	values := map[string]any{}
	filled := strings.NewReplacer(
		"{{.IMAGE_REPO_"+key+"}}", "registry.example/helm-service",
		"{{.IMAGE_TAG_"+key+"}}", "sha-0123",
	)
	for path, tmpl := range rel.SetValueTemplates {
		v := filled.Replace(tmpl)
		if strings.Contains(v, "{{") {
			t.Errorf("setValueTemplates %s = %q uses a template other than IMAGE_REPO_%s/IMAGE_TAG_%s", path, tmpl, key, key)
		}
		setPath(values, path, v)
	}
	ch, err := loader.Load(filepath.Join(root, rel.ChartPath))
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.ReleaseName, install.Namespace = true, true, rel.Name, "helm-service"
	out, err := install.Run(ch, values)
	if err != nil {
		t.Fatalf("render chart with %v: %v", values, err)
	}
	images := 0
	for _, doc := range releaseutil.SplitManifests(out.Manifest) {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil || d.Kind != "Deployment" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			images++
			if c.Image != "registry.example/helm-service:sha-0123" {
				t.Errorf("Deployment %s runs %s, want the image skaffold built (registry.example/helm-service:sha-0123)", d.Name, c.Image)
			}
		}
	}
	if images == 0 {
		t.Error("the chart renders no Deployment container")
	}
}

// setPath sets a dotted path in nested maps, as helm --set does.
func setPath(values map[string]any, path, v string) {
	keys := strings.Split(path, ".")
	m := values
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}
