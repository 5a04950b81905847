// Shared conditions of this community-style set (included by index.yar, never compiled alone).
private rule in_writable_anon
{
    condition:
        ps_kind == "memory" and ps_perm matches /^rw/ and (ps_region == "heap" or ps_region == "anon")
}
