package criu

import _ "embed"

// Schema is the JSON Schema (draft 2020-12) of the decoded model as `podsleuth inspect -o json`
// writes it (schema_version podsleuth.checkpoint/v1). The tests validate every fixture's
// golden against it and check that it names every JSON field of the model.
//
//go:embed schema/checkpoint-v1.json
var Schema []byte
