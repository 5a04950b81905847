// Recomputes the deterministic identifier of every cyber-observable of a STIX 2.1 bundle with
// @security-alliance/stix (UUIDv5 under the STIX namespace of the RFC 8785 form of the ID
// contributing properties, section 2.9 of STIX 2.1) and prints "N checked, M mismatched".
// Run by TestSTIXObservableIDsIndependently from the directory test/setup/npm.sh installs to.
import { generateDeterministicId } from "@security-alliance/stix/2.1";
import fs from "fs";

// ID contributing properties of the types podsleuth writes (STIX 2.1 section 6).
const contributing = {
  "ipv4-addr": ["value"], "ipv6-addr": ["value"], "domain-name": ["value"], url: ["value"], "email-addr": ["value"],
  directory: ["path"], file: ["hashes", "name", "extensions", "parent_directory_ref"],
  "network-traffic": ["start", "end", "src_ref", "dst_ref", "src_port", "dst_port", "protocols", "extensions"],
};
const bundle = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
let checked = 0, bad = 0;
for (const o of bundle.objects) {
  const props = contributing[o.type];
  if (!props) continue;
  const p = {};
  for (const k of props) if (k in o) p[k] = o[k];
  const want = generateDeterministicId(o.type, p);
  checked++;
  if (want !== o.id) {
    bad++;
    console.log(`MISMATCH ${o.id} want ${want}`);
  }
}
console.log(`${checked} checked, ${bad} mismatched`);
process.exit(bad || !checked ? 1 : 0);
