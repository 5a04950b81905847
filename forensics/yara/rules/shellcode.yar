/*
 * Shellcode stubs: NOP sleds in anonymous executable memory and the x86-64 Linux syscall
 * sequences of shell and reverse-shell payloads (socket/connect, dup2 loop, execve("/bin/sh")),
 * as msfvenom, pwntools shellcraft and hand-written stubs encode them.
 */

rule shellcode_nop_sled_anon_exec
{
    meta:
        description = "NOP sled in anonymous executable memory: injected code"
        severity = "high"
        mitre_attack = "T1055"
        author = "podsleuth"
    strings:
        $sled = { 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 }
    condition:
        ps_kind == "memory" and ps_exec and (ps_region == "anon" or ps_region == "heap" or ps_region == "stack") and $sled
}

rule shellcode_x64_execve_binsh
{
    meta:
        description = "x86-64 execve(\"/bin/sh\") shellcode"
        severity = "critical"
        mitre_attack = "T1059.004"
        author = "podsleuth"
    strings:
        // syscall number 59 loaded, then "/bin//sh" or "/bin/sh\0" moved into rbx or rdi
        $a = { (6A 3B 58 | B0 3B | 48 C7 C0 3B 00 00 00 | B8 3B 00 00 00) [0-8] 48 (BB | BF) 2F 62 69 6E 2F (2F 73 68 | 73 68 00) }
        $b = { 48 (BB | BF) 2F 62 69 6E 2F (2F 73 68 | 73 68 00) [0-24] (6A 3B 58 | B0 3B | 48 C7 C0 3B 00 00 00 | B8 3B 00 00 00) [0-8] 0F 05 }
    condition:
        any of them
}

rule shellcode_x64_reverse_shell
{
    meta:
        description = "x86-64 reverse/bind shell stub: socket(), dup2() loop and execve() syscalls"
        severity = "critical"
        mitre_attack = "T1059.004"
        author = "podsleuth"
    strings:
        // socket(AF_INET, SOCK_STREAM, 0): rax = 41
        $socket = { (6A 29 58 | B0 29 | 48 C7 C0 29 00 00 00) [0-16] 0F 05 }
        // dup2(fd, n): rax = 33, usually in a loop
        $dup2 = { (6A 21 58 | B0 21 | 48 C7 C0 21 00 00 00) [0-4] 0F 05 }
        // execve: rax = 59
        $execve = { (6A 3B 58 | B0 3B | 48 C7 C0 3B 00 00 00) [0-32] 0F 05 }
    condition:
        $socket and $dup2 and $execve and
        @dup2[1] > @socket[1] and @dup2[1] - @socket[1] < 256 and
        @execve[1] > @dup2[1] and @execve[1] - @dup2[1] < 256
}
