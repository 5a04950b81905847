package findings

import "github.com/podsleuth/podsleuth/forensics"

// New rule identifiers (stable, like the ones in findings.go).
const (
	RuleFileless        = "fileless-executable"
	RuleAnonELF         = "anon-elf-image"
	RuleReverseShell    = "reverse-shell"
	RuleBindShell       = "bind-shell"
	RuleCommMismatch    = "comm-exe-mismatch"
	RuleKernelThreadTID = "fake-kernel-thread-name"
	RuleExecFromTemp    = "exec-from-temp"
	RuleSystemCopy      = "system-binary-copy"
	RuleMiningPool      = "mining-pool-connection"
	RuleMiningStratum   = "mining-stratum"
	RuleMiningWallet    = "mining-wallet"
	RuleAccountUID0     = "account-uid0"
	RuleAccountNoPass   = "account-no-password"
	RuleSudoers         = "sudoers-change"
	RuleCron            = "cron-change"
	RuleAuthorizedKeys  = "ssh-authorized-keys"
	RuleLDPreload       = "ld-preload"
	RuleShellRC         = "shell-rc-change"
	RuleRootfsDeleted   = "rootfs-deleted-file"
	// Findings derived from the indicators (WithIndicators).
	RuleSecretExposed     = "secret-exposed"
	RuleNetworkIndicators = "network-indicators"
)

// Rule describes one detection: what `findings --list-rules` and docs/rules.md print.
type Rule struct {
	ID string `json:"id"`
	// MinSeverity is the lowest severity the rule reports with (context can raise it).
	MinSeverity forensics.Severity `json:"min_severity"`
	// Technique is the MITRE ATT&CK technique id, TechniqueName its name; empty for context
	// rules.
	Technique     string `json:"technique,omitempty"`
	TechniqueName string `json:"technique_name,omitempty"`
	// Condition says when the rule fires.
	Condition string `json:"condition"`
}

// Rules lists every rule, in the order of docs/rules.md.
var Rules = []Rule{
	{RuleFileless, forensics.SeverityHigh, "T1620", "Reflective Code Loading", "A memfd, shared memory object, ghost (deleted) file, tmpfs or /dev/shm file, pipe buffer or socket queue starts with an ELF header or a #! line: code staged or run without a file on disk (critical for ELF in memfd, shmem, /dev/shm, pipes and sockets)."},
	{RuleAnonELF, forensics.SeverityCritical, "T1620", "Reflective Code Loading", "An anonymous or heap mapping starts with an ELF header: a binary loaded into memory by hand."},
	{RuleExecMemfd, forensics.SeverityCritical, "T1620", "Reflective Code Loading", "A memfd is mapped executable."},
	{RuleAnonRWX, forensics.SeverityLow, "T1055", "Process Injection", "Anonymous memory mapped writable and executable (critical; low in a known JIT runtime such as node, luajit or java unless it starts with an ELF/PE header or a NOP sled)."},
	{RuleAnonExec, forensics.SeverityLow, "T1055", "Process Injection", "Anonymous memory mapped executable (high; low in a known JIT runtime unless its content looks like a loaded binary or shellcode)."},
	{RuleExecDeleted, forensics.SeverityHigh, "T1070.004", "Indicator Removal: File Deletion", "A deleted file is mapped executable."},
	{RuleDeletedExe, forensics.SeverityHigh, "T1070.004", "Indicator Removal: File Deletion", "A process's executable was deleted after it started."},
	{RuleOpenDeleted, forensics.SeverityMedium, "T1070.004", "Indicator Removal: File Deletion", "A process holds a deleted regular file open (its content is a ghost file: see files ls)."},
	{RuleReverseShell, forensics.SeverityCritical, "T1059.004", "Command and Scripting Interpreter: Unix Shell", "A shell (sh, bash, dash, ash, zsh, ksh) or netcat/socat-like process has a socket as stdin or stdout connected outwards (directly, or through a socketpair to a process holding the connection)."},
	{RuleBindShell, forensics.SeverityCritical, "T1059.004", "Command and Scripting Interpreter: Unix Shell", "A shell has a socket as stdin or stdout that was accepted on a local listening port, or a shell or netcat/socat-like process told to run a shell (-e, EXEC:, SYSTEM:) holds a listening socket."},
	{RuleFakeKernelThr, forensics.SeverityHigh, "T1036.005", "Masquerading: Match Legitimate Name or Location", "A user process (it has an executable) calls itself like a kernel thread (kworker, ksoftirqd, migration/, ... in comm or argv[0])."},
	{RuleKernelThreadTID, forensics.SeverityHigh, "T1036.005", "Masquerading: Match Legitimate Name or Location", "A thread of a user process is named like a kernel thread."},
	{RuleCommMismatch, forensics.SeverityMedium, "T1036.005", "Masquerading: Match Legitimate Name or Location", "The process name (comm) is neither its executable's name nor its argv[0] nor a script it runs (multi-call binaries such as busybox excepted)."},
	{RuleArgv0Mismatch, forensics.SeverityMedium, "T1036.005", "Masquerading: Match Legitimate Name or Location", "argv[0] names another program than the executable (process titles such as 'nginx: worker process' start with the executable's name and do not fire)."},
	{RuleExecFromTemp, forensics.SeverityHigh, "T1105", "Ingress Tool Transfer", "A process runs an executable from /tmp, /var/tmp, /dev/shm, /run/user or a hidden directory (critical from a memfd)."},
	{RuleSystemCopy, forensics.SeverityHigh, "T1036.003", "Masquerading: Rename System Utilities", "An executable saved in the checkpoint (rootfs change, ghost file, memfd, tmpfs) is a known system tool (busybox, socat, netcat, curl, ...) under another name."},
	{RuleRootfsNewExec, forensics.SeverityHigh, "T1105", "Ingress Tool Transfer", "The rootfs changes hold a new or modified executable file (critical in a temporary or hidden location)."},
	{RuleMiningStratum, forensics.SeverityHigh, "T1496", "Resource Hijacking", "A stratum+tcp:// (or stratum+ssl://) mining pool URL in memory, a command line, the environment or a file, or stratum JSON-RPC (mining.subscribe, login, job) in a socket queue."},
	{RuleMiningPool, forensics.SeverityMedium, "T1496", "Resource Hijacking", "A TCP connection to a well-known mining pool port (3333, 4444, 5555, 7777, 14444, ...); high when stratum traffic is queued on it."},
	{RuleMiningWallet, forensics.SeverityMedium, "T1496", "Resource Hijacking", "A Monero, Bitcoin or Ethereum wallet address among the indicators."},
	{RuleAccountUID0, forensics.SeverityCritical, "T1136.001", "Create Account: Local Account", "/etc/passwd in the rootfs changes has an account other than root with uid 0."},
	{RuleAccountNoPass, forensics.SeverityHigh, "T1136.001", "Create Account: Local Account", "/etc/shadow (or /etc/passwd) in the rootfs changes has an account with an empty password."},
	{RuleSudoers, forensics.SeverityHigh, "T1548.003", "Abuse Elevation Control Mechanism: Sudo and Sudo Caching", "/etc/sudoers or a file in /etc/sudoers.d was added or changed."},
	{RuleCron, forensics.SeverityHigh, "T1053.003", "Scheduled Task/Job: Cron", "A crontab (/etc/crontab, /etc/cron.*/, /var/spool/cron/, busybox crond's /etc/crontabs/) was added or changed."},
	{RuleAuthorizedKeys, forensics.SeverityHigh, "T1098.004", "Account Manipulation: SSH Authorized Keys", "An authorized_keys file was added or changed."},
	{RuleLDPreload, forensics.SeverityCritical, "T1574.006", "Hijack Execution Flow: Dynamic Linker Hijacking", "/etc/ld.so.preload was added or changed."},
	{RuleShellRC, forensics.SeverityMedium, "T1546.004", "Event Triggered Execution: Unix Shell Configuration Modification", "A shell startup file (.bashrc, .profile, /etc/profile, /etc/profile.d/*, .zshrc, ...) was added or changed."},
	{RuleRootfsDeleted, forensics.SeverityLow, "T1070", "Indicator Removal", "A file of the image was deleted in the container (T1070.002 for logs: log wiping; defacement)."},
	{RuleSecretExposed, forensics.SeverityMedium, "T1552", "Unsecured Credentials", "A secret indicator (private key, cloud key, token, secret environment variable) is in the checkpoint: high when it sits in memory, a pipe, a socket or shared memory, medium when only in an environment (where orchestrators put secrets by design)."},
	{RuleNetworkIndicators, forensics.SeverityMedium, "", "", "Addresses and names of infrastructure outside the container (URLs, domains, public IPs, e-mail addresses) among the indicators: one summary per checkpoint."},
	{RuleListener, forensics.SeverityLow, "", "", "A TCP or UDP socket listens (medium when reachable from the network)."},
	{RuleOutbound, forensics.SeverityMedium, "T1071", "Application Layer Protocol", "A connection to a remote (non-loopback) address."},
	{RuleLoopbackConnect, forensics.SeverityInfo, "", "", "A connection between two loopback endpoints."},
	{RuleMemoryIndex, forensics.SeverityLow, "", "", "The memory images contradict each other (damaged or tampered checkpoint)."},
}

// RuleByID returns the rule with the given id.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// techniques maps rule ids to their technique (filled from Rules).
var techniques = func() map[string]string {
	m := map[string]string{}
	for _, r := range Rules {
		m[r.ID] = r.Technique
	}
	return m
}()
