/* A community-style rule set written for the tests: an index that includes shared private rules,
   tags, THOR-style score meta, and podsleuth's externals. */
include "lib/common.yar"

rule Community_Miner_Wallet_In_Heap : miner crypto
{
    meta:
        author = "podsleuth tests"
        description = "Known miner wallet in writable anonymous memory"
        score = 75
        reference = "https://example.invalid/miner-wallets"
    strings:
        $w = "podsleuth-implant-wallet"
    condition:
        in_writable_anon and $w
}
