package ioc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWallets: published addresses (XMRig's donation address, BIP-173's bech32 example, the
// Bitcoin whitepaper-era P2PKH example, an EIP-55 test vector) are found; one changed character
// breaks each checksum.
func TestWallets(t *testing.T) {
	for _, tc := range []struct{ typ, addr string }{
		{TypeMonero, "48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD"},
		{TypeBitcoin, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"},
		{TypeBitcoin, "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"},
		{TypeEthereum, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"},
	} {
		ms := Scan("wallet=" + tc.addr + " x")
		found := false
		for _, m := range ms {
			if m.Type == tc.typ && m.Value == tc.addr {
				found = true
			}
		}
		require.True(t, found, "%s %s: %v", tc.typ, tc.addr, ms)
		bad := tc.addr[:len(tc.addr)-3] + string(tc.addr[len(tc.addr)-2]) + string(tc.addr[len(tc.addr)-3]) + tc.addr[len(tc.addr)-1:]
		if bad == tc.addr {
			continue
		}
		for _, m := range Scan("wallet=" + bad + " x") {
			require.NotEqual(t, tc.typ, m.Type, "corrupted %s %s", tc.typ, bad)
		}
	}
}
