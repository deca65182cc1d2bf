# vigie Linux health probe: one round trip, sectioned output.
# Each section starts with a line "@@vigie <name>"; parsers read sections by name,
# so a missing file (old kernel without PSI) leaves its section empty, no more.
export LC_ALL=C
echo '@@vigie uname'; uname -n -r 2>/dev/null
echo '@@vigie uptime'; cat /proc/uptime 2>/dev/null
echo '@@vigie loadavg'; cat /proc/loadavg 2>/dev/null
echo '@@vigie nproc'; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null
echo '@@vigie meminfo'; cat /proc/meminfo 2>/dev/null
echo '@@vigie df'; df -P -k -x tmpfs -x devtmpfs -x squashfs -x efivarfs -x overlay 2>/dev/null
echo '@@vigie pressure_io'; cat /proc/pressure/io 2>/dev/null
echo '@@vigie diskstats'; cat /proc/diskstats 2>/dev/null
