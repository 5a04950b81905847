package diff

import (
	"cmp"
	"fmt"

	"github.com/podsleuth/podsleuth/forensics"
)

// identityWarnings says when the two checkpoints are not of the same container: a diff of two
// containers lists unrelated processes as added and removed, which reads like an intrusion.
func identityWarnings(a, b *forensics.Checkpoint) []string {
	ca, cb := a.Container, b.Container
	switch {
	case ca == nil && cb == nil:
		ra, rb := rootExe(a), rootExe(b)
		if ra != "" && rb != "" && ra != rb {
			return []string{fmt.Sprintf("the two checkpoints' first processes run different programs (a: %s, b: %s): they may not be of the same workload", forensics.Printable(ra), forensics.Printable(rb))}
		}
		return nil
	case ca == nil || cb == nil:
		return []string{"only one of the two is a container checkpoint (the other is a bare CRIU image directory): they may not be of the same container"}
	}
	var out []string
	if ca.ID != "" && cb.ID != "" && ca.ID != cb.ID {
		out = append(out, fmt.Sprintf("different containers: a is %s, b is %s; the changes below compare two containers, not one container over time", who(ca), who(cb)))
	} else if pa, pb := podKey(ca), podKey(cb); pa != "" && pb != "" && pa != pb {
		out = append(out, fmt.Sprintf("different pods or containers: a is %s, b is %s", forensics.Printable(pa), forensics.Printable(pb)))
	}
	ia, ib := cmp.Or(ca.ImageRef, ca.ImageID, ca.Image), cmp.Or(cb.ImageRef, cb.ImageID, cb.Image)
	if ia != "" && ib != "" && ia != ib {
		out = append(out, fmt.Sprintf("different images: a runs %s, b runs %s", forensics.Printable(ia), forensics.Printable(ib)))
	}
	return out
}

func who(c *forensics.Container) string {
	id := c.ID
	if len(id) > 12 {
		id = id[:12]
	}
	if c.Name != "" {
		return forensics.Printable(fmt.Sprintf("%s (%s)", c.Name, id))
	}
	return forensics.Printable(id)
}

func podKey(c *forensics.Container) string {
	if c.Pod == nil {
		return ""
	}
	return c.Pod.Namespace + "/" + c.Pod.Name + "/" + c.Pod.ContainerName
}

// rootExe is the executable of the tree's first process (the lowest PID).
func rootExe(c *forensics.Checkpoint) string {
	if len(c.Processes) == 0 {
		return ""
	}
	return c.Processes[0].Exe
}
