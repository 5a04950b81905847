rule Bad_Included {
    strings: $a = "MZ"
    condition: $a and $undefined_string
}
