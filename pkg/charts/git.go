package charts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	neturl "net/url"
	"path"
	"strings"
	"text/template"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/helm-service/helm-service/pkg/repocache"
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
	// RepoDir keeps the fetched branches on disk, one directory each; a
	// private directory under the OS temp dir when empty. It is cleaned
	// when the source is made.
	RepoDir string
	// RepoMaxBytes bounds the fetched branches on disk, the least recently
	// used removed first; 512 MiB when zero.
	RepoMaxBytes int64
}

// Defaults of a git source.
const (
	defaultGitFetchTimeout = 2 * time.Minute
	defaultGitMaxChart     = 10 << 20
	defaultGitRepoMaxBytes = 512 << 20
	// gitObjectCache bounds the decoded objects a repository keeps in
	// memory while a chart is read, and larger objects are streamed.
	gitObjectCache = 1 << 20
	// deepenFactor multiplies the depth fetched while looking for a
	// pinned commit that is not the branch head: 1, 8, 64, 512, ...
	deepenFactor = 8
)

// Git loads charts from a git repository in Keptn's layout: the branch is the
// stage, the chart is <service>/helm/<service>.tgz or the unpacked chart
// directory <service>/helm/<service>/. With Ref.Commit (the trigger's
// gitcommitid) it reads that commit and nothing else, and only if it is on the
// stage's branch: a commit the branch does not have is an error, never the
// branch head, and a commit of another stage's branch is not deployed to this
// one. Without it, it reads the head of the stage's branch.
//
// Only the stage's branch is fetched, within FetchTimeout, onto disk under
// RepoDir (one directory per repository and branch, bounded by
// RepoMaxBytes): its head with depth 1, and for a pinned commit that is not
// the head, a history eight times deeper each time until the commit or the
// branch's first commit is reached, as far as RepoMaxBytes and the timeout
// allow. A chart cached for a pinned commit is loaded without contacting the
// server, and so is a pinned commit fetched before.
type Git struct {
	url          *template.Template
	auth         transport.AuthMethod
	cache        *Cache
	fetchTimeout time.Duration
	maxBytes     int64
	repos        *repocache.Cache
}

// NewGit returns a git source.
func NewGit(opts GitOptions) (*Git, error) {
	if opts.URL == "" {
		return nil, errors.New("a git chart source needs a repository URL (CHART_GIT_URL)")
	}
	tpl, err := template.New("url").Option("missingkey=error").Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("parse the git URL template %q (CHART_GIT_URL): %w", redactURL(opts.URL), err)
	}
	if opts.Token != "" && opts.Password != "" {
		return nil, errors.New("give the git server a password or a token, not both")
	}
	g := &Git{url: tpl, cache: opts.Cache, fetchTimeout: opts.FetchTimeout, maxBytes: opts.MaxChartBytes}
	if g.fetchTimeout <= 0 {
		g.fetchTimeout = defaultGitFetchTimeout
	}
	if g.maxBytes <= 0 {
		g.maxBytes = defaultGitMaxChart
	}
	repoMax := opts.RepoMaxBytes
	if repoMax <= 0 {
		repoMax = defaultGitRepoMaxBytes
	}
	if g.repos, err = repocache.Open(opts.RepoDir, repoMax, "CHART_GIT_CACHE_DIR"); err != nil {
		return nil, err
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
		return nil, "", fmt.Errorf("render the git URL template (CHART_GIT_URL): %w", err)
	}
	remote := newGitRemote(b.String(), ref.Stage)
	if ref.Commit != "" && !plumbing.IsHash(ref.Commit) {
		return nil, "", fmt.Errorf("gitcommitid %q is not a full commit id (40 hexadecimal digits)", ref.Commit)
	}
	if err := plumbing.NewBranchReferenceName(ref.Stage).Validate(); err != nil {
		return nil, "", fmt.Errorf("stage %q is not a valid git branch name: %w", ref.Stage, err)
	}
	key := func(commit string) string { return "git:" + remote.id + "@" + commit + ":" + ref.Service }
	if ref.Commit != "" {
		if ch, ok, err := g.cache.Load(key(ref.Commit)); ok {
			return ch, ref.Commit, err
		}
	}

	entry, err := g.repos.Acquire(ctx, remote.url+"\x00"+remote.branch)
	if err != nil {
		return nil, "", fmt.Errorf("branch %s of %s: %w", remote.branch, remote.shown, err)
	}
	discard := false
	defer func() {
		if err := entry.Release(discard); err != nil {
			slog.WarnContext(ctx, "git cache directory", "repository", remote.shown, "branch", remote.branch, "error", err)
		}
	}()
	repo, err := openRepo(entry.Path(), remote)
	if err != nil {
		discard = true
		return nil, "", err
	}
	defer repo.close()

	fetchCtx, cancel := context.WithTimeout(ctx, g.fetchTimeout)
	defer cancel()
	commit, err := g.commit(fetchCtx, repo, entry, remote, ref.Commit)
	if err != nil && fetchCtx.Err() != nil && ctx.Err() == nil {
		return nil, "", fmt.Errorf("fetch branch %s of %s: not done within %s (CHART_FETCH_TIMEOUT): %w", remote.branch, remote.shown, g.fetchTimeout, context.DeadlineExceeded)
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
		return nil, "", fmt.Errorf("commit %s of %s (stage %s): %w", id, remote.shown, ref.Stage, err)
	}
	ch, err := g.cache.loadFiles(key(id), fmt.Sprintf("%s at commit %s of %s", from, id, remote.shown), files)
	return ch, id, err
}

// gitRemote is the branch of a repository charts are read from; shown is
// its URL as errors name it, without credentials, and id tells it from
// other repositories in cache keys, also without them.
type gitRemote struct {
	url, shown, id, branch string
}

func newGitRemote(url, branch string) gitRemote {
	r := gitRemote{url: url, shown: redactURL(url), branch: branch}
	r.id = r.shown
	if r.shown != url {
		sum := sha256.Sum256([]byte(url))
		r.id = hex.EncodeToString(sum[:])
	}
	return r
}

// gitRepo is a repository on disk with the objects fetched so far.
type gitRepo struct {
	*git.Repository
	storage *filesystem.Storage
}

func (r gitRepo) close() { _ = r.storage.Close() }

// openRepo opens the repository in dir, or makes an empty one with remote
// as its origin.
func openRepo(dir string, remote gitRemote) (gitRepo, error) {
	st := filesystem.NewStorageWithOptions(osfs.New(dir, osfs.WithBoundOS()), cache.NewObjectLRU(gitObjectCache),
		filesystem.Options{ExclusiveAccess: true, LargeObjectThreshold: gitObjectCache})
	repo, err := git.Open(st, nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.Init(st, nil)
		if err == nil {
			// On disk without credentials: each fetch passes the URL.
			_, err = repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{remote.shown}})
		}
	}
	if err != nil {
		return gitRepo{}, fmt.Errorf("open the local copy of branch %s of %s in CHART_GIT_CACHE_DIR %s: %w", remote.branch, remote.shown, dir, err)
	}
	return gitRepo{Repository: repo, storage: st}, nil
}

// commit returns the pinned commit, or the head of the branch, fetching
// from the server when the pinned commit is not known to be on the branch
// yet or always for the branch head.
func (g *Git) commit(ctx context.Context, repo gitRepo, entry *repocache.Entry, remote gitRemote, pinned string) (*object.Commit, error) {
	if pinned == "" {
		if err := g.fetch(ctx, repo, remote, 1); err != nil {
			return nil, err
		}
		return head(repo, remote)
	}
	hash := plumbing.NewHash(pinned)
	if h, err := head(repo, remote); err == nil {
		if found, _, _, err := reach(ctx, repo, h.Hash, hash); err == nil && found {
			return repo.CommitObject(hash)
		}
	}
	walked := 0
	for depth := 1; ; depth *= deepenFactor {
		if err := g.fetch(ctx, repo, remote, depth); err != nil {
			return nil, err
		}
		h, err := head(repo, remote)
		if err != nil {
			return nil, err
		}
		found, complete, n, err := reach(ctx, repo, h.Hash, hash)
		if err != nil {
			return nil, fmt.Errorf("walk the history of branch %s of %s: %w", remote.branch, remote.shown, err)
		}
		if found {
			return repo.CommitObject(hash)
		}
		if !complete && depth > 1 && n <= walked {
			return nil, fmt.Errorf("commit %s (the trigger's gitcommitid) is not among the %d commits of branch %s of %s the git server sent, and it sent no more when asked for %d", pinned, n, remote.branch, remote.shown, depth)
		}
		walked = n
		if complete {
			if _, err := repo.CommitObject(hash); err == nil {
				return nil, fmt.Errorf("commit %s (the trigger's gitcommitid) is not on branch %s of %s for stage %s (its head is %s): not deploying a commit of another branch", pinned, remote.branch, remote.shown, remote.branch, h.Hash)
			}
			return nil, fmt.Errorf("%w: commit %s (the trigger's gitcommitid) is not on branch %s of %s (its head is %s); not deploying another commit instead", ErrNotFound, pinned, remote.branch, remote.shown, h.Hash)
		}
		size, err := entry.Size()
		if err != nil {
			return nil, fmt.Errorf("measure the local copy of branch %s of %s: %w", remote.branch, remote.shown, err)
		}
		if size > g.repos.MaxBytes() {
			return nil, fmt.Errorf("commit %s (the trigger's gitcommitid) is not among the last %d commits of branch %s of %s, and its history beyond them does not fit into CHART_GIT_CACHE_MAX_BYTES (%d bytes): pin a more recent commit or raise CHART_GIT_CACHE_MAX_BYTES", pinned, depth, remote.branch, remote.shown, g.repos.MaxBytes())
		}
	}
}

// head is the fetched head of the branch.
func head(repo gitRepo, remote gitRemote) (*object.Commit, error) {
	branch, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", remote.branch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, fmt.Errorf("%w: %s has no branch %q for stage %s", ErrNotFound, remote.shown, remote.branch, remote.branch)
	}
	if err != nil {
		return nil, fmt.Errorf("branch %s of %s: %w", remote.branch, remote.shown, err)
	}
	c, err := repo.CommitObject(branch.Hash())
	if err != nil {
		return nil, fmt.Errorf("head %s of branch %s of %s: %w", branch.Hash(), remote.branch, remote.shown, err)
	}
	return c, nil
}

// reach walks the branch's history from its head as far as it was fetched,
// looking for target. complete says whether the walk went all the way to
// the branch's first commits, with nothing more to fetch; walked is how many
// commits it read.
func reach(ctx context.Context, repo gitRepo, head, target plumbing.Hash) (found, complete bool, walked int, err error) {
	// A commit is found when it is there: the parents of the oldest
	// commits fetched are named but not fetched.
	seen := map[plumbing.Hash]bool{head: true}
	queue := []plumbing.Hash{head}
	complete = true
	for len(queue) > 0 {
		if walked%1024 == 1023 && ctx.Err() != nil {
			return false, false, walked, ctx.Err()
		}
		h := queue[0]
		queue = queue[1:]
		c, err := repo.CommitObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			complete = false // beyond the depth fetched so far
			continue
		}
		if err != nil {
			return false, false, walked, err
		}
		walked++
		if h == target {
			return true, false, walked, nil
		}
		for _, p := range c.ParentHashes {
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return false, complete, walked, nil
}

// fetch brings the branch up to date to depth commits; other branches are
// never fetched. Its errors say what failed for which repository and never
// carry the server's own text.
func (g *Git) fetch(ctx context.Context, repo gitRepo, remote gitRemote, depth int) error {
	spec := gitconfig.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/remotes/origin/%s", remote.branch, remote.branch))
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RemoteURL:  remote.url,
		RefSpecs:   []gitconfig.RefSpec{spec},
		Auth:       g.auth,
		Tags:       git.NoTags,
		Depth:      depth,
	})
	return fetchError(ctx, err, remote)
}

// fetchError says what went wrong in a fetch of remote. The error wraps the
// one go-git returned, for errors.Is and errors.As, without its text: that
// may echo the server's answer.
func fetchError(ctx context.Context, err error, remote gitRemote) error {
	what := fmt.Sprintf("fetch branch %s of %s", remote.branch, remote.shown)
	var netErr net.Error
	var pathErr *fs.PathError
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, git.NoMatchingRefSpecError{}):
		return fmt.Errorf("%w: %s has no branch %q for stage %s", ErrNotFound, remote.shown, remote.branch, remote.branch)
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", what, ctx.Err())
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return &quietError{what + ": the git server refused the credentials (check CHART_GIT_USERNAME, CHART_GIT_PASSWORD or CHART_GIT_TOKEN)", err}
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return &quietError{what + ": the git server has no such repository (check CHART_GIT_URL and the project's name)", err}
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return &quietError{fmt.Sprintf("%s: the repository is empty, it has no branch %q for stage %s", what, remote.branch, remote.branch), err}
	case errors.As(err, &pathErr):
		return fmt.Errorf("%s: write the local copy in CHART_GIT_CACHE_DIR: %w", what, pathErr)
	case errors.As(err, &netErr):
		return &quietError{what + ": could not talk to the git server (check CHART_GIT_URL and that the server is reachable)", err}
	default:
		return &quietError{what + ": the git server's answer could not be used (not shown: it is the server's text)", err}
	}
}

// quietError is an error whose text is msg alone: the error it wraps may
// carry a remote's raw answer.
type quietError struct {
	msg string
	err error
}

func (e *quietError) Error() string { return e.msg }
func (e *quietError) Unwrap() error { return e.err }

// redactURL is raw without user info, query and fragment, which may hold
// credentials; a URL that does not parse is not shown.
func redactURL(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil || u.Host == "" {
		return "the repository CHART_GIT_URL names"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
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
	size := chartSize{limit: limit}
	err = sub.Files().ForEach(func(f *object.File) error {
		err := size.addFile(f.Name, f.Size, f.Reader, 0)
		if err != nil && !errors.Is(err, errOverLimit) {
			return fmt.Errorf("read %s/: %w", dir, err)
		}
		if size.total > limit {
			return &TooLargeError{Path: dir + "/", Size: size.total, Limit: limit, What: MeasureFiles}
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
