package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// StateFile is the name of a sandbox's state file inside its directory.
const StateFile = "sandbox.json"

// States is the directory that holds one sub-directory per sandbox.
type States struct{ Root string }

// Dir returns the state directory of sandbox id.
func (s States) Dir(id string) string { return filepath.Join(s.Root, id) }

// Save writes a sandbox's state atomically.
func (s States) Save(in *Info) error {
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	dir := s.Dir(in.ID)
	tmp := filepath.Join(dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save sandbox state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, StateFile))
}

// Load reads the state of sandbox id.
func (s States) Load(id string) (*Info, error) {
	if err := ValidID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(s.Dir(id), StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (not under %s)", ErrNotFound, id, s.Root)
	}
	if err != nil {
		return nil, err
	}
	var in Info
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("sandbox %s: state file %s: %w", id, filepath.Join(s.Dir(id), StateFile), err)
	}
	return &in, nil
}

// List returns every sandbox with a state file, oldest first; backend filters when not empty.
func (s States) List(backend string) ([]Info, error) {
	ents, err := os.ReadDir(s.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range ents {
		if !e.IsDir() || ValidID(e.Name()) != nil {
			continue
		}
		in, err := s.Load(e.Name())
		if err != nil {
			continue // half-written by a restore still running
		}
		if backend == "" || in.Backend == backend {
			out = append(out, *in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}
