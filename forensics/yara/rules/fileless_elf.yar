/*
 * Fileless ELF: an ELF image at the start of a memfd or of an anonymous mapping. Loaders that
 * run a program without a file on disk (memfd_create + fexecve, reflective ELF loaders, in-memory
 * droppers) leave one; a process reading an ELF file into malloc'd memory does not (the data
 * then starts after the allocator's chunk header, not at a mapping's first byte).
 * ps_base is the start of the scanned mapping (0 for objects), ps_kind/ps_region what it is.
 */

rule fileless_elf_memfd
{
    meta:
        description = "ELF image in a memfd: a program staged or run without a file on disk"
        severity = "critical"
        mitre_attack = "T1620"
        author = "podsleuth"
    strings:
        $elf = { 7F 45 4C 46 (01 | 02) (01 | 02) 01 }
    condition:
        $elf at ps_base and
        (ps_kind == "memfd" or ps_region matches /^memfd:/ or ps_region matches /^file:\/memfd:/)
}

rule fileless_elf_anonymous
{
    meta:
        description = "ELF image at the start of anonymous memory: an in-memory loaded program"
        severity = "high"
        mitre_attack = "T1620"
        author = "podsleuth"
    strings:
        $elf = { 7F 45 4C 46 (01 | 02) (01 | 02) 01 }
    condition:
        ps_kind == "memory" and (ps_region == "anon" or ps_region == "shmem") and $elf at ps_base
}
