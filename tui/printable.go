package tui

import (
	"reflect"

	"github.com/podsleuth/podsleuth/forensics"
)

// printableStrings makes every string reachable from v (a pointer to the decoded checkpoint,
// or its indicators) terminal-safe in place with forensics.Printable: process names, command
// lines, environment, paths, socket addresses and everything else the workbench shows come
// from the checkpointed workload, which may be hostile. The TUI decodes its own copy of the
// model, for display only (the CLI's JSON and the reports keep the exact strings).
func printableStrings(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			printableStrings(v.Elem())
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			if t.Field(i).IsExported() {
				printableStrings(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		switch v.Type().Elem().Kind() {
		case reflect.String, reflect.Struct, reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Array, reflect.Map:
			for i := 0; i < v.Len(); i++ {
				printableStrings(v.Index(i))
			}
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			printableStrings(e)
			nk := k
			if k.Kind() == reflect.String {
				if p := forensics.Printable(k.String()); p != k.String() {
					v.SetMapIndex(k, reflect.Value{})
					nk = reflect.ValueOf(p).Convert(k.Type())
				}
			}
			v.SetMapIndex(nk, e)
		}
	case reflect.String:
		if v.CanSet() {
			if p := forensics.Printable(v.String()); p != v.String() {
				v.SetString(p)
			}
		}
	}
}
