package forensics

import "fmt"

// HumanBytes renders a byte count with binary units: "512 B", "1.5 KiB", "3.2 MiB". The CLI,
// the TUI and the reports all use it, so a size reads the same everywhere.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
