rule Good_Dev_Tcp
{
    strings:
        $a = "/dev/tcp/"
    condition:
        $a
}
