// Package image checks the container build of helm-service without a
// container engine: it reads the Dockerfile and skaffold.yaml and checks
// what the image and the dev loop rely on.
package image

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Line int    // where it starts, from 1
	Cmd  string // upper case: FROM, RUN, …
	Args string
}

// stage is the instructions from one FROM to the next.
type stage struct {
	From         string // the base image
	Name         string // the AS name, or empty
	Instructions []instruction
}

// parseDockerfile splits a Dockerfile into stages. It knows what this
// project's Dockerfile uses: comments, line continuations with a trailing
// backslash, and FROM image [AS name]. Parser directives and heredocs are
// refused rather than misread.
func parseDockerfile(r io.Reader) ([]stage, error) {
	var (
		stages  []stage
		pending strings.Builder
		start   int
	)
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if pending.Len() == 0 {
			if line == "" || strings.HasPrefix(line, "#") {
				if strings.HasPrefix(strings.ReplaceAll(line, " ", ""), "#syntax=") || strings.HasPrefix(strings.ReplaceAll(line, " ", ""), "#escape=") {
					return nil, fmt.Errorf("line %d: parser directives are not supported: %s", n, line)
				}
				continue
			}
			start = n
		} else if strings.HasPrefix(line, "#") {
			continue // a comment inside a continued instruction
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			pending.WriteString(strings.TrimSpace(body) + " ")
			continue
		}
		pending.WriteString(line)
		text := pending.String()
		pending.Reset()
		if strings.Contains(text, "<<") {
			return nil, fmt.Errorf("line %d: heredocs are not supported", start)
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{Line: start, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			s := stage{}
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:] // --platform=…
			}
			if len(f) == 0 {
				return nil, fmt.Errorf("line %d: FROM without an image", start)
			}
			s.From = f[0]
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.Name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.Cmd == "ARG" {
				continue // global build argument
			}
			return nil, fmt.Errorf("line %d: %s before the first FROM", start, in.Cmd)
		}
		stages[len(stages)-1].Instructions = append(stages[len(stages)-1].Instructions, in)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if pending.Len() > 0 {
		return nil, fmt.Errorf("line %d: the last instruction ends with a continuation", start)
	}
	return stages, nil
}

// all returns the stage's instructions of the given kind.
func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.Instructions {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}
