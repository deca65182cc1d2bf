# vigie Linux health probe: one round trip, sectioned output.
# Each section starts with a line "@@vigie <name>"; parsers read sections by name,
# so a missing file (old kernel without PSI) leaves its section empty, no more.
# The host may be struggling: the shell's own `read` reads the /proc files, and
# only df is a program of its own (a fork and an exec each poll, instead of a dozen).
export LC_ALL=C
vigie_cat() { while IFS= read -r vigie_line || [ -n "$vigie_line" ]; do printf '%s\n' "$vigie_line"; done < "$1"; } 2>/dev/null
# The CPUs online, "0-3,6,8-9" counted without a program.
vigie_cpus() {
    IFS= read -r vigie_online < /sys/devices/system/cpu/online || return 1
    vigie_count=0 vigie_ifs=$IFS IFS=,
    for vigie_range in $vigie_online; do
        case $vigie_range in
            *-*) vigie_count=$((vigie_count + ${vigie_range#*-} - ${vigie_range%-*} + 1)) ;;
            *) vigie_count=$((vigie_count + 1)) ;;
        esac
    done
    IFS=$vigie_ifs
    echo "$vigie_count"
} 2>/dev/null
echo '@@vigie uname'
if IFS= read -r vigie_host < /proc/sys/kernel/hostname && IFS= read -r vigie_release < /proc/sys/kernel/osrelease
then echo "$vigie_host $vigie_release"; else uname -n -r; fi 2>/dev/null
echo '@@vigie uptime'; vigie_cat /proc/uptime
echo '@@vigie loadavg'; vigie_cat /proc/loadavg
echo '@@vigie nproc'; vigie_cpus || nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null
echo '@@vigie meminfo'; vigie_cat /proc/meminfo
echo '@@vigie df'; df -P -k -x tmpfs -x devtmpfs -x squashfs -x efivarfs -x overlay 2>/dev/null
echo '@@vigie pressure_io'; vigie_cat /proc/pressure/io
echo '@@vigie diskstats'; vigie_cat /proc/diskstats
