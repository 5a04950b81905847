/*
 * Common webshells: PHP eval of decoded request data and command execution from request
 * parameters, JSP Runtime.exec of a request parameter, ASPX eval of Request (China Chopper).
 */

rule webshell_php_eval
{
    meta:
        description = "PHP webshell: eval/assert of decoded data or of request input"
        severity = "critical"
        mitre_attack = "T1505.003"
        author = "podsleuth"
    strings:
        $decode = /(eval|assert)\s*\(\s*(base64_decode|gzinflate|gzuncompress|str_rot13|hex2bin)\s*\(/ nocase
        $input = /(eval|assert|system|passthru|shell_exec|exec|popen|proc_open)\s*\(\s*(base64_decode\s*\(\s*)?\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $php = "<?php" nocase
        $req = /\$_(GET|POST|REQUEST|COOKIE)\s*\[/
    condition:
        $input or ($decode and ($php or $req))
}

rule webshell_jsp_runtime_exec
{
    meta:
        description = "JSP webshell: Runtime.exec of a request parameter"
        severity = "critical"
        mitre_attack = "T1505.003"
        author = "podsleuth"
    strings:
        $exec = /Runtime\.getRuntime\(\)\.exec\(\s*request\.getParameter\(/
        $exec2 = "Runtime.getRuntime().exec("
        $param = "request.getParameter("
        $jsp = "<%"
    condition:
        $exec or ($exec2 and $param and $jsp)
}

rule webshell_aspx_eval
{
    meta:
        description = "ASPX webshell: eval of Request data (China Chopper style)"
        severity = "critical"
        mitre_attack = "T1505.003"
        author = "podsleuth"
    strings:
        $a = /eval\s*\(\s*Request(\.Item)?\s*\[/ nocase
    condition:
        $a
}
