// Rules using YARA's elf, math, hash and pe modules.
import "elf"
import "math"
import "hash"
import "pe"

rule Static_ELF_Executable_In_Memfd : fileless
{
    meta:
        severity = "high"
        mitre_attack = "T1620"
    condition:
        ps_kind == "memfd" and elf.type == elf.ET_EXEC and elf.machine == elf.EM_X86_64
}

rule Webshell_Known_Hash
{
    meta:
        severity = "critical"
        description = "A webshell known by its SHA-256"
    condition:
        hash.sha256(0, filesize) == "48a6da88adfc374d6a29539dd530b721bbf534e8c8adb566688fba30fbb10894"
}

rule Low_Entropy_RWX_Page
{
    meta:
        description = "Writable executable anonymous page, mostly empty: a staged stub"
    condition:
        ps_exec and ps_region == "anon" and ps_perm == "rwxp" and math.entropy(ps_base, 4096) < 1.0
}

rule PE_In_Memory
{
    condition:
        pe.is_pe
}
