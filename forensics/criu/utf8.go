package criu

import (
	"encoding/base64"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/podsleuth/podsleuth/forensics"
)

// recordInvalidUTF8 fills cp.InvalidUTF8: the JSON pointer and exact bytes (base64) of every
// string of the model that is not valid UTF-8 (process names, paths, arguments, labels come
// from the workload and may hold any bytes).
func recordInvalidUTF8(cp *forensics.Checkpoint) {
	out := map[string]string{}
	walkStrings(reflect.ValueOf(cp).Elem(), make(pointer, 0, 16), out)
	if len(out) > 0 {
		cp.InvalidUTF8 = out
	}
}

// pointer is a JSON pointer as its tokens, joined only for an invalid string: building the
// text of every field's pointer made the walk of a 32,768-process model allocate a string per
// field.
type pointer []token

// token is a field or key name, or (name == "" and idx >= 0) an array index.
type token struct {
	name string
	idx  int
}

func (p pointer) String() string {
	var b strings.Builder
	for _, t := range p {
		b.WriteByte('/')
		if t.idx >= 0 {
			b.WriteString(strconv.Itoa(t.idx))
		} else {
			b.WriteString(escapePointer(t.name))
		}
	}
	return b.String()
}

func walkStrings(v reflect.Value, ptr pointer, out map[string]string) {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); !utf8.ValidString(s) {
			out[ptr.String()] = base64.StdEncoding.EncodeToString([]byte(s))
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), ptr, out)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Name == "InvalidUTF8" {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			walkStrings(v.Field(i), append(ptr, token{name: name, idx: -1}), out)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // []byte is base64 in JSON already
		}
		for i := range v.Len() {
			walkStrings(v.Index(i), append(ptr, token{idx: i}), out)
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		it := v.MapRange()
		for it.Next() {
			k := it.Key().String()
			// the key as the JSON shows it (invalid bytes as U+FFFD)
			p := append(ptr, token{name: strings.ToValidUTF8(k, "\uFFFD"), idx: -1})
			if !utf8.ValidString(k) {
				out[p.String()+"#key"] = base64.StdEncoding.EncodeToString([]byte(k))
			}
			walkStrings(it.Value(), p, out)
		}
	}
}

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
