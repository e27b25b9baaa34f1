package charts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// GitOptions configure a git source.
type GitOptions struct {
	// URL is the repository, a template of .Project, .Stage and .Service
	// (Keptn kept one repository per project).
	URL string
	// Username and Password, or Token, authenticate over HTTPS. A token
	// is sent as the password of basic auth, as git hosts expect.
	Username string
	Password string
	Token    string
	// FetchTimeout bounds one fetch from the server; two minutes when
	// zero.
	FetchTimeout time.Duration
	// MaxChartBytes refuses a chart whose files (or .tgz, and what it
	// unpacks to) add up to more, before they are read; 10 MiB when zero.
	MaxChartBytes int64
	// Cache keeps charts by repository, commit and service; nil reads the
	// repository every time.
	Cache *Cache
}

// Git loads charts from a git repository in Keptn's layout: the branch is the
// stage, the chart is <service>/helm/<service>.tgz or the unpacked chart
// directory <service>/helm/<service>/. With Ref.Commit (the trigger's
// gitcommitid) it reads that commit and nothing else, and only if it is on the
// stage's branch: a commit the branch does not have is an error, never the
// branch head, and a commit of another stage's branch is not deployed to this
// one. Without it, it reads the head of the stage's branch.
//
// Only the stage's branch is fetched, within FetchTimeout, into memory once
// and then incrementally; a chart cached for a pinned commit is loaded
// without contacting the server.
type Git struct {
	url          *template.Template
	auth         transport.AuthMethod
	cache        *Cache
	fetchTimeout time.Duration
	maxBytes     int64

	mu    sync.Mutex
	repos map[string]*gitRepo
}

// gitRepo is one remote repository's objects, fetched so far.
type gitRepo struct {
	mu   sync.Mutex
	repo *git.Repository
}

// NewGit returns a git source.
func NewGit(opts GitOptions) (*Git, error) {
	if opts.URL == "" {
		return nil, errors.New("a git chart source needs a repository URL (CHART_GIT_URL)")
	}
	tpl, err := template.New("url").Option("missingkey=error").Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("parse the git URL template %q: %w", opts.URL, err)
	}
	if opts.Token != "" && opts.Password != "" {
		return nil, errors.New("give the git server a password or a token, not both")
	}
	g := &Git{url: tpl, cache: opts.Cache, repos: map[string]*gitRepo{}, fetchTimeout: opts.FetchTimeout, maxBytes: opts.MaxChartBytes}
	if g.fetchTimeout <= 0 {
		g.fetchTimeout = 2 * time.Minute
	}
	if g.maxBytes <= 0 {
		g.maxBytes = 10 << 20
	}
	switch {
	case opts.Token != "":
		user := opts.Username
		if user == "" {
			user = "helm-service"
		}
		g.auth = &githttp.BasicAuth{Username: user, Password: opts.Token}
	case opts.Username != "" || opts.Password != "":
		g.auth = &githttp.BasicAuth{Username: opts.Username, Password: opts.Password}
	}
	return g, nil
}

// Load implements Source.
func (g *Git) Load(ctx context.Context, ref Ref) (*chart.Chart, error) {
	ch, _, err := g.LoadCommit(ctx, ref)
	return ch, err
}

// LoadCommit implements CommitSource: the commit is Ref.Commit when the ref
// pins one, else the head of the stage's branch that was read.
func (g *Git) LoadCommit(ctx context.Context, ref Ref) (*chart.Chart, string, error) {
	var b strings.Builder
	if err := g.url.Execute(&b, map[string]string{"Project": ref.Project, "Stage": ref.Stage, "Service": ref.Service}); err != nil {
		return nil, "", fmt.Errorf("render the git URL template: %w", err)
	}
	url := b.String()
	if ref.Commit != "" && !plumbing.IsHash(ref.Commit) {
		return nil, "", fmt.Errorf("gitcommitid %q is not a full commit id (40 hexadecimal digits)", ref.Commit)
	}
	key := func(commit string) string { return "git:" + url + "@" + commit + ":" + ref.Service }
	if ref.Commit != "" {
		if ch, ok, err := g.cache.Load(key(ref.Commit)); ok {
			return ch, ref.Commit, err
		}
	}

	r := g.repo(url)
	r.mu.Lock()
	defer r.mu.Unlock()
	fetchCtx, cancel := context.WithTimeout(ctx, g.fetchTimeout)
	defer cancel()
	commit, err := r.commit(fetchCtx, url, ref, g.auth)
	if err != nil && fetchCtx.Err() != nil && ctx.Err() == nil {
		return nil, "", fmt.Errorf("fetch branch %s of %s: not done within %s (CHART_FETCH_TIMEOUT): %w", ref.Stage, url, g.fetchTimeout, context.DeadlineExceeded)
	}
	if err != nil {
		return nil, "", err
	}
	id := commit.Hash.String()
	if ch, ok, err := g.cache.Load(key(id)); ok {
		return ch, id, err
	}
	files, from, err := chartFiles(commit, ref.Service, g.maxBytes)
	if err != nil {
		return nil, "", fmt.Errorf("commit %s of %s (stage %s): %w", id, url, ref.Stage, err)
	}
	ch, err := g.cache.loadFiles(key(id), fmt.Sprintf("%s at commit %s of %s", from, id, url), files)
	return ch, id, err
}

func (g *Git) repo(url string) *gitRepo {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.repos[url]
	if !ok {
		r = &gitRepo{}
		g.repos[url] = r
	}
	return r
}

// commit returns the commit ref pins, or the head of the stage's branch,
// fetching from the server when it is not known yet (a pinned commit) or
// always (a branch head).
func (r *gitRepo) commit(ctx context.Context, url string, ref Ref, auth transport.AuthMethod) (*object.Commit, error) {
	if r.repo == nil {
		repo, err := git.Init(memory.NewStorage(), nil)
		if err != nil {
			return nil, fmt.Errorf("git repository for %s: %w", url, err)
		}
		if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{url}}); err != nil {
			return nil, fmt.Errorf("git remote %s: %w", url, err)
		}
		r.repo = repo
	}
	if ref.Commit != "" {
		hash := plumbing.NewHash(ref.Commit)
		c, err := r.repo.CommitObject(hash)
		if err == nil {
			if head, err := r.head(url, ref.Stage); err == nil && onBranch(c, head) {
				return c, nil
			}
		}
		if err := r.fetch(ctx, url, ref.Stage, auth); err != nil {
			return nil, err
		}
		head, err := r.head(url, ref.Stage)
		if err != nil {
			return nil, err
		}
		c, err = r.repo.CommitObject(hash)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, fmt.Errorf("%w: commit %s (the trigger's gitcommitid) is not on branch %s of %s (its head is %s); not deploying another commit instead", ErrNotFound, ref.Commit, ref.Stage, url, head.Hash)
		}
		if err != nil {
			return nil, fmt.Errorf("commit %s of %s: %w", ref.Commit, url, err)
		}
		if !onBranch(c, head) {
			return nil, fmt.Errorf("commit %s (the trigger's gitcommitid) is not on branch %s of %s for stage %s (its head is %s): not deploying a commit of another branch", ref.Commit, ref.Stage, url, ref.Stage, head.Hash)
		}
		return c, nil
	}
	if err := r.fetch(ctx, url, ref.Stage, auth); err != nil {
		return nil, err
	}
	return r.head(url, ref.Stage)
}

// head is the fetched head of the stage's branch.
func (r *gitRepo) head(url, stage string) (*object.Commit, error) {
	branch, err := r.repo.Reference(plumbing.NewRemoteReferenceName("origin", stage), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, fmt.Errorf("%w: %s has no branch %q for stage %s", ErrNotFound, url, stage, stage)
	}
	if err != nil {
		return nil, fmt.Errorf("branch %s of %s: %w", stage, url, err)
	}
	c, err := r.repo.CommitObject(branch.Hash())
	if err != nil {
		return nil, fmt.Errorf("head %s of branch %s of %s: %w", branch.Hash(), stage, url, err)
	}
	return c, nil
}

// onBranch reports whether c is the branch's head or one of its ancestors.
func onBranch(c, head *object.Commit) bool {
	if c.Hash == head.Hash {
		return true
	}
	ok, err := c.IsAncestor(head)
	return err == nil && ok
}

// fetch brings the stage's branch up to date; other branches are never
// fetched.
func (r *gitRepo) fetch(ctx context.Context, url, stage string, auth transport.AuthMethod) error {
	if err := plumbing.NewBranchReferenceName(stage).Validate(); err != nil {
		return fmt.Errorf("stage %q is not a valid git branch name: %w", stage, err)
	}
	spec := gitconfig.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/remotes/origin/%s", stage, stage))
	err := r.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []gitconfig.RefSpec{spec},
		Auth:       auth,
		Tags:       git.NoTags,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, git.NoMatchingRefSpecError{}):
		return fmt.Errorf("%w: %s has no branch %q for stage %s", ErrNotFound, url, stage, stage)
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("fetch %s: the git server refused the credentials (check CHART_GIT_USERNAME, CHART_GIT_PASSWORD or CHART_GIT_TOKEN): %w", url, err)
	default:
		return fmt.Errorf("fetch %s: %w", url, err)
	}
}

// chartFiles reads the service's chart from a commit in Keptn's layout and
// says where it was found.
func chartFiles(c *object.Commit, service string, limit int64) ([]*loader.BufferedFile, string, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, "", fmt.Errorf("read tree: %w", err)
	}
	dir := path.Join(service, "helm", service)
	archive := dir + ".tgz"
	if f, err := tree.File(archive); err == nil {
		if f.Size > limit {
			return nil, "", &TooLargeError{Path: archive, Size: f.Size, Limit: limit, What: MeasurePackaged}
		}
		if err := checkBlobUnpacked(f, archive, limit); err != nil {
			return nil, "", err
		}
		rc, err := f.Reader()
		if err != nil {
			return nil, "", fmt.Errorf("read %s: %w", archive, err)
		}
		defer rc.Close()
		files, err := loader.LoadArchiveFiles(rc)
		if err != nil {
			return nil, "", fmt.Errorf("unpack %s: %w", archive, err)
		}
		return files, archive, nil
	} else if !errors.Is(err, object.ErrFileNotFound) {
		return nil, "", fmt.Errorf("read %s: %w", archive, err)
	}
	sub, err := tree.Tree(dir)
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, "", fmt.Errorf("%w for service %q: neither %s nor %s/ exists", ErrNotFound, service, archive, dir)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read %s/: %w", dir, err)
	}
	var total int64
	err = sub.Files().ForEach(func(f *object.File) error {
		if total += f.Size; total > limit {
			return &TooLargeError{Path: dir + "/", Size: total, Limit: limit, What: MeasureFiles}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	var files []*loader.BufferedFile
	err = sub.Files().ForEach(func(f *object.File) error {
		rc, err := f.Reader()
		if err != nil {
			return err
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: f.Name, Data: data})
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("read %s/: %w", dir, err)
	}
	return files, dir + "/", nil
}

// checkBlobUnpacked refuses a packaged chart in git that unpacks to more
// than limit, reading it as a stream.
func checkBlobUnpacked(f *object.File, name string, limit int64) error {
	rc, err := f.Reader()
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	defer rc.Close()
	return checkUnpackedSize(name, rc, f.Size, limit)
}
