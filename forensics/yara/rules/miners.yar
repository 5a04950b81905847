/*
 * Cryptocurrency miners: stratum pool URLs and protocol messages, and XMRig's configuration
 * keys (config.json, or the same JSON built in memory).
 */

rule miner_stratum_pool
{
    meta:
        description = "Mining pool connection: stratum URL or stratum protocol message"
        severity = "high"
        mitre_attack = "T1496"
        author = "podsleuth"
    strings:
        $url = /stratum\+(tcp|ssl|tls|udp):\/\/[a-zA-Z0-9.\-]{1,253}:[0-9]{1,5}/ nocase
        $subscribe = "\"mining.subscribe\""
        $authorize = "\"mining.authorize\""
        $submit = "\"mining.submit\""
        $login = /"method"\s*:\s*"login"\s*,\s*"params"\s*:\s*\{\s*"login"/
    condition:
        any of them
}

rule miner_xmrig_config
{
    meta:
        description = "XMRig miner configuration (config.json keys)"
        severity = "high"
        mitre_attack = "T1496"
        author = "podsleuth"
    strings:
        $donate = "\"donate-level\""
        $k1 = "\"max-threads-hint\""
        $k2 = "\"donate-over-proxy\""
        $k3 = "\"huge-pages\""
        $k4 = "\"randomx\""
        $k5 = "\"nicehash\""
        $k6 = "\"keepalive\""
        $k7 = "\"pools\""
        $algo = /"algo"\s*:\s*"(rx\/(0|wow|arq|graft|keva|sfx)|cn(-lite|-heavy|-pico)?\/[a-z0-9]{1,8}|argon2\/[a-z]{1,12}|kawpow|ghostrider)"/
    condition:
        $donate and (2 of ($k*) or $algo)
}
