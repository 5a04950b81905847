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
	walkStrings(reflect.ValueOf(cp).Elem(), "", out)
	if len(out) > 0 {
		cp.InvalidUTF8 = out
	}
}

func walkStrings(v reflect.Value, ptr string, out map[string]string) {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); !utf8.ValidString(s) {
			out[ptr] = base64.StdEncoding.EncodeToString([]byte(s))
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
			walkStrings(v.Field(i), ptr+"/"+escapePointer(name), out)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // []byte is base64 in JSON already
		}
		for i := range v.Len() {
			walkStrings(v.Index(i), ptr+"/"+strconv.Itoa(i), out)
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return
		}
		it := v.MapRange()
		for it.Next() {
			k := it.Key().String()
			// the key as the JSON shows it (invalid bytes as U+FFFD)
			p := ptr + "/" + escapePointer(strings.ToValidUTF8(k, "\uFFFD"))
			if !utf8.ValidString(k) {
				out[p+"#key"] = base64.StdEncoding.EncodeToString([]byte(k))
			}
			walkStrings(it.Value(), p, out)
		}
	}
}

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
