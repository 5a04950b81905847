// a rule with an error on line 4
rule Broken {
    strings: $a = "x"
    condition: $a and not_defined_anywhere
}
