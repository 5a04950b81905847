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

// deepCopy returns a copy of v sharing no pointer, slice or map with it (exported fields are
// copied deeply; unexported ones as they are), so the displayed model can be made printable
// while the decoded one stays as the evidence said, for reports.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(deepCopy(v.Elem()))
		return c
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type()).Elem()
		c.Set(deepCopy(v.Elem()))
		return c
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			if t.Field(i).IsExported() {
				c.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			c.Index(i).Set(deepCopy(v.Index(i)))
		}
		return c
	case reflect.Array:
		c := reflect.New(v.Type()).Elem()
		for i := 0; i < v.Len(); i++ {
			c.Index(i).Set(deepCopy(v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			c.SetMapIndex(it.Key(), deepCopy(it.Value()))
		}
		return c
	}
	return v
}

// printableCopy is a deep copy of cp with every string made printable.
func printableCopy(cp *forensics.Checkpoint) *forensics.Checkpoint {
	c := deepCopy(reflect.ValueOf(cp)).Interface().(*forensics.Checkpoint)
	printableStrings(reflect.ValueOf(c))
	return c
}
