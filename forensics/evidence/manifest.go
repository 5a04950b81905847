package evidence

import (
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"
)

// ManifestSchemaVersion names the JSON encoding of Manifest.
const ManifestSchemaVersion = "podsleuth.manifest/v1"

// Manifest is the acquisition record written next to an archive: what was taken, from where,
// when, by whom and with which hashes. Times are UTC.
type Manifest struct {
	SchemaVersion string `json:"schema_version"`
	// ArchiveName is the file name of the archive in the store.
	ArchiveName string `json:"archive_name"`
	Size        int64  `json:"size"`
	// NodeSHA256 is the hash computed at the source (on the node), LocalSHA256 the one
	// computed while writing into the store. They must match.
	NodeSHA256  string `json:"node_sha256,omitempty"`
	LocalSHA256 string `json:"local_sha256"`

	Cluster     *ClusterInfo `json:"cluster,omitempty"`
	Node        string       `json:"node,omitempty"`
	NodePath    string       `json:"node_path,omitempty"` // the archive's path on the node
	Namespace   string       `json:"namespace,omitempty"`
	Pod         string       `json:"pod,omitempty"`
	PodUID      string       `json:"pod_uid,omitempty"`
	Container   string       `json:"container,omitempty"`
	ContainerID string       `json:"container_id,omitempty"`
	Image       string       `json:"image,omitempty"`
	ImageDigest string       `json:"image_digest,omitempty"`
	// PodSpecHash is the SHA-256 of the pod's spec as the API server returned it.
	PodSpecHash string `json:"pod_spec_hash,omitempty"`
	// KubeletResponse is the kubelet's reply to the checkpoint request, verbatim.
	KubeletResponse json.RawMessage `json:"kubelet_response,omitempty"`
	// KubeletVersion and Runtime describe the node at checkpoint time.
	KubeletVersion string `json:"kubelet_version,omitempty"`
	Runtime        string `json:"runtime,omitempty"`

	CheckpointRequested time.Time `json:"checkpoint_requested,omitzero"`
	CheckpointCompleted time.Time `json:"checkpoint_completed,omitzero"`
	PullStarted         time.Time `json:"pull_started,omitzero"`
	PullFinished        time.Time `json:"pull_finished,omitzero"`
	AcquiredAt          time.Time `json:"acquired_at"`

	// SourcePath is set for archives imported from a local file.
	SourcePath string `json:"source_path,omitempty"`
	// Collector names the collector pod that streamed the archive off the node.
	Collector string `json:"collector,omitempty"`

	ToolVersion string `json:"tool_version,omitempty"`
	CaseID      string `json:"case_id,omitempty"`
	Analyst     string `json:"analyst,omitempty"`
	// Acquirer is the local user and host that ran the acquisition.
	Acquirer string `json:"acquirer,omitempty"`
	Notes    string `json:"notes,omitempty"`

	// Artifacts are the files acquired with the archive from the same source (the pod's object,
	// its events, its container's logs), kept read-only under artifacts/ and hashed here.
	Artifacts []Artifact `json:"artifacts,omitempty"`
}

// Artifact is one file acquired with the archive.
type Artifact struct {
	// Name is the file name under the item's artifacts/ directory.
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Description says what it is ("logs of container app, current instance").
	Description string `json:"description,omitempty"`
	// Source is the request it was read from, e.g. "GET /api/v1/namespaces/NS/pods/P/log?...".
	Source      string    `json:"source,omitempty"`
	CollectedAt time.Time `json:"collected_at"`
}

// ArtifactData is an artifact with its contents, as a source hands it to the store.
type ArtifactData struct {
	Artifact
	Data []byte
}

// ClusterInfo identifies the cluster and the identity the API server saw.
type ClusterInfo struct {
	Server  string   `json:"server"`
	Context string   `json:"context,omitempty"`
	User    string   `json:"user,omitempty"` // username as the API server sees it (SelfSubjectReview)
	UID     string   `json:"uid,omitempty"`
	Groups  []string `json:"groups,omitempty"`
}

// SourceDescription says in a few words where the archive came from.
func (m Manifest) SourceDescription() string {
	switch {
	case m.Node != "" && m.Pod != "":
		s := fmt.Sprintf("node %s: %s/%s", m.Node, m.Namespace, m.Pod)
		if m.Container != "" {
			s += "/" + m.Container
		}
		return s
	case m.SourcePath != "":
		return "local file " + m.SourcePath
	default:
		return "stream"
	}
}

// CurrentActor names who is acting: the local user and host, e.g. "alice@laptop".
func CurrentActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return name + "@" + strings.TrimSpace(host)
}

func writeManifest(dir string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(dir, manifestName)
	if err := os.WriteFile(p, append(b, '\n'), archiveMode); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

func readManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := readNoFollow(filepath.Join(dir, manifestName), 64<<20)
	if err != nil {
		return m, fmt.Errorf("read manifest: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("read manifest: %w", err)
	}
	return m, nil
}
