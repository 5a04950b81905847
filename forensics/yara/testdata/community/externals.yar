// Rules on the externals podsleuth sets for each scanned block: filename, extension, filetype
// (as THOR and other scanners name them) and ps_kind.
rule Webshell_By_Extension
{
    meta:
        severity = "medium"
    condition:
        extension == "php" and filetype == "ghost" and filesize < 100KB
}

rule Memfd_Named_Like_Kernel_Thread
{
    condition:
        ps_kind == "memfd" and filename matches /^memfd:k(worker|thread|softirqd)/
}
