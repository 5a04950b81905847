package table

import (
	"fmt"
	"regexp"
	"strings"
)

// matcher is a parsed filter.
type matcher struct {
	re     *regexp.Regexp
	invert bool
	labels []labelReq
}

type labelReq struct {
	key, val string
	op       string // "=", "!=", "exists", "!exists"
}

// parseFilter parses "regex", "!regex" and "-l k=v,k2!=v2,k3,!k4". Regexes are
// case-insensitive unless they contain an upper-case letter (smart case).
func parseFilter(q string) (matcher, error) {
	var f matcher
	q = strings.TrimSpace(q)
	if q == "" {
		return f, nil
	}
	if rest, ok := strings.CutPrefix(q, "-l"); ok && (rest == "" || rest[0] == ' ') {
		sel := strings.TrimSpace(rest)
		if sel == "" {
			return f, fmt.Errorf("%w: -l needs a label selector such as app=web", ErrBadFilter)
		}
		for part := range strings.SplitSeq(sel, ",") {
			part = strings.TrimSpace(part)
			switch {
			case part == "":
				return f, fmt.Errorf("%w: empty term in label selector %q", ErrBadFilter, sel)
			case strings.Contains(part, "!="):
				k, v, _ := strings.Cut(part, "!=")
				f.labels = append(f.labels, labelReq{strings.TrimSpace(k), strings.TrimSpace(v), "!="})
			case strings.Contains(part, "=="):
				k, v, _ := strings.Cut(part, "==")
				f.labels = append(f.labels, labelReq{strings.TrimSpace(k), strings.TrimSpace(v), "="})
			case strings.Contains(part, "="):
				k, v, _ := strings.Cut(part, "=")
				f.labels = append(f.labels, labelReq{strings.TrimSpace(k), strings.TrimSpace(v), "="})
			case strings.HasPrefix(part, "!"):
				f.labels = append(f.labels, labelReq{key: part[1:], op: "!exists"})
			default:
				f.labels = append(f.labels, labelReq{key: part, op: "exists"})
			}
			if f.labels[len(f.labels)-1].key == "" {
				return f, fmt.Errorf("%w: label selector term %q has no key", ErrBadFilter, part)
			}
		}
		return f, nil
	}
	if rest, ok := strings.CutPrefix(q, "!"); ok {
		f.invert = true
		q = rest
		if q == "" {
			return f, nil
		}
	}
	expr := q
	if strings.ToLower(q) == q {
		expr = "(?i)" + q
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return f, fmt.Errorf("%w: %q is not a valid regular expression: %v", ErrBadFilter, q, err)
	}
	f.re = re
	return f, nil
}

func (f matcher) match(hay string, labels map[string]string) bool {
	if f.labels != nil {
		for _, l := range f.labels {
			v, ok := labels[l.key]
			switch l.op {
			case "=":
				if !ok || v != l.val {
					return false
				}
			case "!=":
				if ok && v == l.val {
					return false
				}
			case "exists":
				if !ok {
					return false
				}
			case "!exists":
				if ok {
					return false
				}
			}
		}
		return true
	}
	if f.re == nil {
		return true
	}
	return f.re.MatchString(hay) != f.invert
}
