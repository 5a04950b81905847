include "inc/bad.yar"

rule Uses_Bad_Include { condition: true }
