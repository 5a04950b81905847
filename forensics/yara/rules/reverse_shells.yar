/*
 * Reverse shells as command lines and scripts: bash /dev/tcp redirections, netcat -e, the
 * python/perl/socat/mkfifo one-liners of the usual cheat sheets.
 */

rule reverse_shell_dev_tcp
{
    meta:
        description = "Shell redirected to a /dev/tcp or /dev/udp connection (bash reverse shell)"
        severity = "critical"
        mitre_attack = "T1059.004"
        author = "podsleuth"
    strings:
        $dev = /\/dev\/(tcp|udp)\/[a-zA-Z0-9.\-:\[\]]{1,253}\/[0-9]{1,5}/
    condition:
        $dev
}

rule reverse_shell_netcat_exec
{
    meta:
        description = "netcat executing a shell (nc -e /bin/sh, ncat --exec)"
        severity = "critical"
        mitre_attack = "T1059.004"
        author = "podsleuth"
    strings:
        $e = /\b(nc|ncat|netcat)(\.traditional|\.openbsd)?\s[^\n\x00]{0,80}(-e|-c|--exec|--sh-exec)\s*['"]?(\/usr)?\/bin\/(ba|da|z|k|c|a)?sh/
    condition:
        $e
}

rule reverse_shell_oneliner
{
    meta:
        description = "Reverse-shell one-liner (python, perl, socat, mkfifo)"
        severity = "critical"
        mitre_attack = "T1059"
        author = "podsleuth"
    strings:
        $py = /os\.dup2\(\s*[a-zA-Z_][a-zA-Z0-9_.]{0,32}\.fileno\(\)\s*,\s*[012]\s*\)/
        $pty = /pty\.spawn\(\s*['"](\/usr)?\/bin\/(ba|da|z|k|c|a)?sh/
        $perl = /socket\(\s*[A-Z]\s*,\s*PF_INET\s*,\s*SOCK_STREAM/
        $fifo = /mkfifo\s+\/tmp\/[^;|\s]{1,32}\s*;\s*cat\s+\/tmp\/[^|\s]{1,32}\s*\|\s*(\/usr)?\/bin\/(ba|da|z|k|c|a)?sh\s+-i/
        $socat = /socat\s[^\n\x00]{0,128}exec:['"]?(\/usr)?(\/bin\/)?(ba|da|z|k|c|a)?sh/ nocase
    condition:
        any of them
}
