package criu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
	spec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
)

// maxJSONMember bounds the container metadata files read into memory.
const maxJSONMember = 32 << 20

// readJSON decodes a container-level JSON member; (false, nil) when it is absent.
func readJSON(a *archive.Archive, name string, v any) (bool, error) {
	r, size, err := a.Member(name)
	if errors.Is(err, archive.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if size > maxJSONMember {
		return false, fmt.Errorf("%s: %w: %d bytes of JSON", name, archive.ErrTooLarge, size)
	}
	b, err := io.ReadAll(io.NewSectionReader(r, 0, size))
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: invalid JSON: %w", name, err)
	}
	return true, nil
}

// configDump is checkpointctl's reduced ContainerConfig plus the labels Podman also records.
type configDump struct {
	metadata.ContainerConfig
	Labels map[string]string `json:"labels,omitempty"`
}

// container reads the engine's metadata (config.dump, spec.dump, containerd's status) into
// Checkpoint.Container. Bare CRIU image directories have none and leave it nil. The engine is
// told the way checkpointctl tells it: spec annotation io.container.manager ("libpod" is
// Podman, "cri-o" is CRI-O); containerd writes no manager annotation but io.kubernetes.cri.*
// annotations or a "status" file; anything else is "unknown" (checkpointctl would say
// containerd).
func (d *decoder) container() {
	a := d.a
	if !a.Has(metadata.ConfigDumpFile) && !a.Has(metadata.SpecDumpFile) {
		return
	}
	c := &forensics.Container{Engine: "unknown"}
	var cfg configDump
	if ok, err := readJSON(a, metadata.ConfigDumpFile, &cfg); err != nil {
		d.warnf("%v", err)
	} else if ok {
		c.ID, c.Name, c.Runtime = cfg.ID, cfg.Name, cfg.OCIRuntime
		c.Image, c.ImageRef, c.ImageID = cfg.RootfsImageName, cfg.RootfsImageRef, cfg.RootfsImage
		c.Created, c.Checkpointed = utc(cfg.CreatedTime), utc(cfg.CheckpointedAt)
		c.Labels = cfg.Labels
	}
	var sp spec.Spec
	if ok, err := readJSON(a, metadata.SpecDumpFile, &sp); err != nil {
		d.warnf("%v", err)
	} else if ok {
		c.Annotations = sp.Annotations
		c.Hostname = sp.Hostname
		if sp.Process != nil {
			c.Args, c.Env = sp.Process.Args, sp.Process.Env
		}
	}
	ann := sp.Annotations
	switch ann["io.container.manager"] {
	case "libpod":
		c.Engine = "Podman"
	case "cri-o":
		c.Engine = "CRI-O"
		var md struct {
			Name string `json:"name"`
		}
		if s := ann["io.kubernetes.cri-o.Metadata"]; s != "" && json.Unmarshal([]byte(s), &md) == nil && md.Name != "" {
			c.Name = md.Name
		}
		if t, err := time.Parse(time.RFC3339Nano, ann["io.kubernetes.cri-o.Created"]); err == nil && c.Created.IsZero() {
			c.Created = t.UTC()
		}
		if c.ID == "" {
			c.ID = ann["io.kubernetes.cri-o.ContainerID"]
		}
		if c.Image == "" {
			c.Image = ann["io.kubernetes.cri-o.ImageName"]
		}
		c.Pod = podRef(ann, "io.kubernetes.pod.namespace", "io.kubernetes.pod.name", "io.kubernetes.pod.uid", "io.kubernetes.container.name")
	default:
		if hasPrefix(ann, "io.kubernetes.cri.") || a.Has(metadata.StatusFile) {
			c.Engine = "containerd"
			if n := ann["io.kubernetes.cri.container-name"]; n != "" {
				c.Name = n
			}
			if c.Image == "" {
				c.Image = ann["io.kubernetes.cri.image-name"]
			}
			c.Pod = podRef(ann, "io.kubernetes.cri.sandbox-namespace", "io.kubernetes.cri.sandbox-name", "io.kubernetes.cri.sandbox-uid", "io.kubernetes.cri.container-name")
			var st metadata.ContainerdStatus
			if ok, err := readJSON(a, metadata.StatusFile, &st); err != nil {
				d.warnf("%v", err)
			} else if ok && st.CreatedAt > 0 && c.Created.IsZero() {
				c.Created = time.Unix(0, st.CreatedAt).UTC()
			}
		}
	}
	if c.Pod == nil {
		// Any engine run under the kubelet carries the pod annotations.
		c.Pod = podRef(ann, "io.kubernetes.pod.namespace", "io.kubernetes.pod.name", "io.kubernetes.pod.uid", "io.kubernetes.container.name")
	}
	d.networks(c, ann)
	d.containerBounds(c)
	if n := a.MemberSize(metadata.RootFsDiffTar); n > 0 {
		c.RootfsDiffSz = n
	}
	d.cp.Container = c
}

func utc(t time.Time) time.Time {
	if t.IsZero() || t.Year() <= 1 {
		return time.Time{}
	}
	return t.UTC()
}

func hasPrefix(m map[string]string, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func podRef(ann map[string]string, ns, name, uid, container string) *forensics.PodRef {
	if ann[ns] == "" && ann[name] == "" {
		return nil
	}
	return &forensics.PodRef{Namespace: ann[ns], Name: ann[name], UID: ann[uid], ContainerName: ann[container]}
}

// networks reads Podman's network.status and CRI-O's IP annotations.
func (d *decoder) networks(c *forensics.Container, ann map[string]string) {
	var st metadata.PodmanNetworkStatus
	if ok, err := readJSON(d.a, metadata.NetworkStatusFile, &st); err != nil {
		d.warnf("%v", err)
	} else if ok {
		names := make([]string, 0, len(st))
		for n := range st {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ifaces := make([]string, 0, len(st[n].Interfaces))
			for i := range st[n].Interfaces {
				ifaces = append(ifaces, i)
			}
			sort.Strings(ifaces)
			for _, i := range ifaces {
				iface := st[n].Interfaces[i]
				cn := forensics.ContainerNetwork{Network: n, Interface: i, MAC: iface.MacAddress}
				for _, sub := range iface.Subnets {
					if sub.IPNet != "" {
						cn.Addresses = append(cn.Addresses, sub.IPNet)
					}
					if sub.Gateway != "" && cn.Gateway == "" {
						cn.Gateway = sub.Gateway
					}
				}
				c.Networks = append(c.Networks, cn)
			}
		}
	}
	if len(c.Networks) == 0 {
		var ips []string
		for i := 0; ; i++ {
			ip := ann[fmt.Sprintf("io.kubernetes.cri-o.IP.%d", i)]
			if ip == "" {
				break
			}
			ips = append(ips, ip)
		}
		if len(ips) > 0 {
			c.Networks = append(c.Networks, forensics.ContainerNetwork{Addresses: ips})
		}
	}
}
