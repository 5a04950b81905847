package criu

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("checkpoint-v1.json", doc))
	s, err := c.Compile("checkpoint-v1.json")
	require.NoError(t, err)
	return s
}

// TestGoldensMatchSchema: every decoded fixture is valid against the published schema.
func TestGoldensMatchSchema(t *testing.T) {
	s := compileSchema(t)
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			require.NoError(t, err)
			require.NoError(t, s.Validate(inst))
		})
	}
}

// TestSchemaRejectsDrift: an unknown field or a wrong type fails validation, so the schema
// catches model changes.
func TestSchemaRejectsDrift(t *testing.T) {
	s := compileSchema(t)
	for _, doc := range []string{
		`{"schema_version":"podsleuth.checkpoint/v1","source":{"path":"x","format":"tar","size":1},"criu":{"image_version":2},"processes":[],"surprise":1}`,
		`{"schema_version":"podsleuth.checkpoint/v2","source":{"path":"x","format":"tar","size":1},"criu":{"image_version":2},"processes":[]}`,
		`{"schema_version":"podsleuth.checkpoint/v1","source":{"path":"x","format":"rar","size":1},"criu":{"image_version":2},"processes":[]}`,
	} {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		require.NoError(t, err)
		require.Error(t, s.Validate(inst), doc)
	}
}

// TestSchemaNamesEveryField walks the model's types and checks the schema has a property for
// every JSON field name, so a field added to forensics.Checkpoint without a schema entry
// fails here.
func TestSchemaNamesEveryField(t *testing.T) {
	var raw map[string]any
	require.NoError(t, json.Unmarshal(Schema, &raw))
	known := map[string]bool{}
	var collect func(v any)
	collect = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if p, ok := x["properties"].(map[string]any); ok {
				for k := range p {
					known[k] = true
				}
			}
			for _, c := range x {
				collect(c)
			}
		case []any:
			for _, c := range x {
				collect(c)
			}
		}
	}
	collect(raw)
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, where string)
	walk = func(rt reflect.Type, where string) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Map {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || seen[rt] || rt.PkgPath() != reflect.TypeOf(forensics.Checkpoint{}).PkgPath() {
			return
		}
		seen[rt] = true
		for i := range rt.NumField() {
			f := rt.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			require.True(t, known[name], "%s.%s (json %q) is not in schema/checkpoint-v1.json", where, f.Name, name)
			walk(f.Type, rt.Name())
		}
	}
	walk(reflect.TypeOf(forensics.Checkpoint{}), "Checkpoint")
}
