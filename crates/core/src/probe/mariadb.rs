//! MariaDB/MySQL replication, read by column name from the vertical (`-E`)
//! output of `SHOW ALL SLAVES STATUS` (MariaDB, every multi-source
//! connection) or `SHOW REPLICA STATUS` (MySQL 8). Credentials come from an
//! option file on the host, never from vigie.
use super::model::Replication;
use super::shell::quote;
use std::collections::HashMap;

/// The `replication` section. `defaults_file` is an option file on the host
/// (default: the client's usual ones, e.g. `~/.my.cnf`).
pub fn script(defaults_file: Option<&str>) -> String {
    let defaults = defaults_file
        .map(|f| format!(" --defaults-extra-file={}", quote(f)))
        .unwrap_or_default();
    format!(
        "echo '@@vigie replication'\n\
         if command -v mariadb >/dev/null 2>&1; then c=mariadb; else c=mysql; fi\n\
         if command -v \"$c\" >/dev/null 2>&1; then\n\
         vigie_err \"$c\"{defaults} -E -e 'SHOW ALL SLAVES STATUS' || vigie_err \"$c\"{defaults} -E -e 'SHOW REPLICA STATUS'\n\
         else echo 'error=no mariadb or mysql client'; fi\n"
    )
}

/// Parses the section: one `Replication` per row. An error line (client
/// missing, access denied) comes back as `Err`.
pub fn parse(section: &str) -> Result<Vec<Replication>, String> {
    let (data, stderr) = super::split_stderr(section);
    let text = data.trim();
    // SHOW ALL SLAVES STATUS failed (an older server) and the fallback
    // answered: only the last error counts, and only if nothing came.
    if text.is_empty() && !stderr.trim().is_empty() {
        let last = stderr.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("");
        return Err(crate::sanitize::one_line(last));
    }
    if let Some(error) = text.strip_prefix("error=") {
        return Err(error.to_string());
    }
    if text.starts_with("ERROR") || (!text.is_empty() && !text.contains("*** 1. row ***") && !text.contains(": ")) {
        return Err(crate::sanitize::one_line(text.lines().next().unwrap_or(text)));
    }
    let mut rows: Vec<HashMap<String, String>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("***") {
            rows.push(HashMap::new());
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if let Some(row) = rows.last_mut() {
            row.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    Ok(rows.iter().map(replication_of).collect())
}

/// Reads a row by column name; MySQL 8 renamed Master→Source, Slave→Replica.
fn replication_of(row: &HashMap<String, String>) -> Replication {
    let get = |names: &[&str]| -> Option<String> {
        names
            .iter()
            .find_map(|n| row.get(*n))
            .filter(|v| !v.is_empty() && *v != "NULL")
            .cloned()
    };
    let number = |names: &[&str]| -> Option<u64> { get(names).and_then(|v| v.parse().ok()) };
    let errno = |names: &[&str]| number(names).filter(|n| *n != 0).map(|n| n as u32);
    Replication {
        connection: get(&["Connection_name", "Channel_Name"]).unwrap_or_default(),
        master_host: get(&["Master_Host", "Source_Host"]),
        io_running: get(&["Slave_IO_Running", "Replica_IO_Running"]),
        sql_running: get(&["Slave_SQL_Running", "Replica_SQL_Running"]),
        last_io_errno: errno(&["Last_IO_Errno"]),
        last_io_error: get(&["Last_IO_Error"]),
        last_sql_errno: errno(&["Last_SQL_Errno"]),
        last_sql_error: get(&["Last_SQL_Error"]),
        seconds_behind: number(&["Seconds_Behind_Master", "Seconds_Behind_Source"]),
        relay_master_log_file: get(&["Relay_Master_Log_File", "Relay_Source_Log_File"]),
        exec_master_log_pos: number(&["Exec_Master_Log_Pos", "Exec_Source_Log_Pos"]),
        using_gtid: get(&["Using_Gtid"])
            .or_else(|| get(&["Auto_Position"]).map(|a| if a == "1" { "Auto_Position".into() } else { "No".into() })),
        gtid_io_pos: get(&["Gtid_IO_Pos", "Retrieved_Gtid_Set"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_relay_log_reads_as_errno_1594_with_file_and_position() {
        let rows = parse(include_str!(
            "../../../../tests/fixtures/probe/mariadb-10.11-relay-log-1594.txt"
        ))
        .unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.connection, "pessicart");
        assert_eq!(
            (r.io_running.as_deref(), r.sql_running.as_deref()),
            (Some("Yes"), Some("No"))
        );
        assert_eq!(r.last_sql_errno, Some(1594));
        assert!(r
            .last_sql_error
            .as_deref()
            .unwrap()
            .starts_with("Relay log read failure"));
        assert_eq!(r.relay_master_log_file.as_deref(), Some("mysql-bin.000001"));
        assert_eq!(r.exec_master_log_pos, Some(1188));
        assert_eq!(r.seconds_behind, None, "NULL while the SQL thread is stopped");
        assert_eq!(r.using_gtid.as_deref(), Some("No"));
        assert!(!r.is_running());
    }

    #[test]
    fn a_healthy_replica_and_a_server_that_is_not_one() {
        let rows = parse(include_str!(
            "../../../../tests/fixtures/probe/mariadb-10.11-healthy.txt"
        ))
        .unwrap();
        assert!(rows[0].is_running());
        assert_eq!(rows[0].last_sql_errno, None);
        assert_eq!(rows[0].seconds_behind, Some(0));
        assert_eq!(
            parse(include_str!(
                "../../../../tests/fixtures/probe/mariadb-10.11-not-a-replica.txt"
            ))
            .unwrap(),
            vec![]
        );
    }

    /// A `db_defaults_file` that does not exist: both statements fail on
    /// stderr, nothing on stdout. That is an error, not "no replication".
    #[test]
    fn credentials_that_cannot_be_read_are_an_error() {
        let section = "@@stderr mariadb: Could not open required defaults file: /etc/vigie/db.cnf\n\
                       @@stderr mariadb: Could not open required defaults file: /etc/vigie/db.cnf\n";
        let error = parse(section).unwrap_err();
        assert!(error.contains("Could not open required defaults file"), "{error}");
    }

    #[test]
    fn mysql_8_column_names() {
        let text = "*************************** 1. row ***************************\n\
                    Replica_IO_State: Waiting for source to send event\n\
                    Source_Host: 10.0.0.5\n\
                    Relay_Source_Log_File: binlog.000042\n\
                    Replica_IO_Running: Yes\n\
                    Replica_SQL_Running: Yes\n\
                    Exec_Source_Log_Pos: 157\n\
                    Seconds_Behind_Source: 12\n\
                    Auto_Position: 1\n\
                    Channel_Name: \n";
        let r = &parse(text).unwrap()[0];
        assert!(r.is_running());
        assert_eq!(r.seconds_behind, Some(12));
        assert_eq!(r.relay_master_log_file.as_deref(), Some("binlog.000042"));
        assert_eq!(r.using_gtid.as_deref(), Some("Auto_Position"));
    }

    #[test]
    fn client_errors_are_errors() {
        let err =
            parse("ERROR 1045 (28000): Access denied for user 'vigie'@'localhost' (using password: NO)\n").unwrap_err();
        assert!(err.starts_with("ERROR 1045"));
        assert_eq!(
            parse("error=no mariadb or mysql client\n").unwrap_err(),
            "no mariadb or mysql client"
        );
    }
}
