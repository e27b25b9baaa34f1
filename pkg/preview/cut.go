package preview

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/helm-service/helm-service/pkg/events"
)

// Cut returns p within limit bytes of JSON: diffs are kept in order while
// they fit, the first one that does not is cut at a line, and the later
// ones are left out; objects are dropped from the end only when even their
// names do not fit. Truncated then says how much was left out. A preview
// within limit is returned as it is.
func Cut(p events.Preview, limit int) events.Preview {
	if size(p) <= limit {
		return p
	}
	out := events.Preview{Unchanged: p.Unchanged, Objects: make([]events.PreviewObject, len(p.Objects))}
	copy(out.Objects, p.Objects)
	// Room for the note, whose numbers are not known yet.
	out.Truncated = strings.Repeat("x", len(note(len(p.Objects), len(p.Objects), 1<<40, len(p.Objects))))
	for i := range out.Objects {
		out.Objects[i].Diff = ""
	}
	droppedObjects := 0
	for size(out) > limit && len(out.Objects) > 0 {
		out.Objects = out.Objects[:len(out.Objects)-1]
		droppedObjects++
	}
	cutDiffs, cutBytes := 0, 0
	for i := range out.Objects {
		diff := p.Objects[i].Diff
		if diff == "" {
			continue
		}
		out.Objects[i].Diff = diff
		if size(out) <= limit {
			continue
		}
		out.Objects[i].Diff = fitLines(diff, func(d string) bool {
			out.Objects[i].Diff = d
			return size(out) <= limit
		})
		cutBytes += len(diff) - len(out.Objects[i].Diff)
		cutDiffs++
		for _, rest := range p.Objects[i+1 : len(out.Objects)] {
			if rest.Diff != "" {
				cutBytes += len(rest.Diff)
				cutDiffs++
			}
		}
		break
	}
	for _, o := range p.Objects[len(out.Objects):] {
		cutBytes += len(o.Diff)
	}
	out.Truncated = note(cutDiffs, droppedObjects, cutBytes, len(p.Objects))
	return out
}

// note is the Truncated text.
func note(cutDiffs, droppedObjects, cutBytes, objects int) string {
	return fmt.Sprintf("preview cut to fit the event size limit: %d diffs cut or left out (%d bytes of diff) and %d of %d objects left out", cutDiffs, cutBytes, droppedObjects, objects)
}

// fitLines returns the longest prefix of diff, cut after a line, that fits
// says fits, or "".
func fitLines(diff string, fits func(string) bool) string {
	lines := strings.SplitAfter(diff, "\n")
	lo, hi := 0, len(lines) // lines[:lo] fits; lines[:hi+1] does not
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(strings.Join(lines[:mid], "")) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return strings.Join(lines[:lo], "")
}

// size is the length of p as JSON.
func size(p events.Preview) int {
	b, err := json.Marshal(p)
	if err != nil {
		return 0
	}
	return len(b)
}
