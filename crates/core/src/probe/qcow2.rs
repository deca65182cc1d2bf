//! Directories of disk images (qcow2, raw...) on any Linux host:
//! `qemu-img info --output=json -U --backing-chain` for each image, and the
//! filesystem's size and free space from `df`.

use super::model::{Datastore, DiskImage};
use super::shell::quote;
use serde::Deserialize;
use std::collections::HashSet;

/// Image files considered; anything else in the directory is ignored.
const IMAGE_SUFFIXES: &str = "*.qcow2|*.img|*.raw|*.qed|*.vmdk|*.vdi";

/// Probe sections `datastore_dir/<n>`, one per directory.
pub fn script(dirs: &[String]) -> String {
    let mut script = String::new();
    for (index, dir) in dirs.iter().enumerate() {
        script.push_str(&format!(
            "echo '@@vigie datastore_dir/{index}'; d={dir}; printf 'path=%s\\n' \"$d\"\n\
             if [ -d \"$d\" ]; then df -P -k \"$d\" | tail -n 1\n\
             for f in \"$d\"/*; do case \"$f\" in {IMAGE_SUFFIXES}) printf '@@image %s\\n' \"${{f##*/}}\"; \
             vigie_err qemu-img info --output=json -U --backing-chain \"$f\";; esac; done\n\
             else echo 'error=not a directory'; fi\n",
            dir = quote(dir)
        ));
    }
    script
}

#[derive(Debug, Deserialize)]
struct ImageInfo {
    filename: String,
    #[serde(rename = "virtual-size")]
    virtual_size: u64,
    #[serde(rename = "actual-size", default)]
    actual_size: u64,
    #[serde(default)]
    snapshots: Vec<serde_json::Value>,
}

/// Parses one `datastore_dir/<n>` section.
pub fn parse_dir(section: &str) -> Datastore {
    let mut lines = section.lines();
    let path = lines
        .next()
        .and_then(|l| l.strip_prefix("path="))
        .unwrap_or("?")
        .to_string();
    let mut datastore = Datastore {
        name: path.clone(),
        kind: "qcow2-dir".into(),
        ..Datastore::default()
    };
    let rest: Vec<&str> = lines.collect();
    if let Some(error) = rest.first().and_then(|l| l.strip_prefix("error=")) {
        datastore.errors.push(format!("{path}: {error}"));
        return datastore;
    }
    if let Some(df_line) = rest.first() {
        if let Some(fs) = super::linux::parse_df(df_line).into_iter().next() {
            datastore.capacity_bytes = (fs.used_kib + fs.available_kib) * 1024;
            datastore.free_bytes = fs.available_kib * 1024;
        }
    }
    // Each image: a `@@image NAME` line then qemu-img's JSON (or its error).
    let body = rest.get(1..).map(|l| l.join("\n")).unwrap_or_default();
    let mut chains: Vec<Vec<ImageInfo>> = Vec::new();
    for chunk in body.split("@@image ").filter(|c| !c.trim().is_empty()) {
        let (name, text) = chunk.split_once('\n').unwrap_or((chunk, ""));
        let (json, stderr) = super::split_stderr(text);
        match serde_json::from_str::<Vec<ImageInfo>>(&json) {
            Ok(chain) if !chain.is_empty() => chains.push(chain),
            _ => datastore
                .errors
                .push(format!("{}: {}", name.trim(), super::why_unreadable(&json, &stderr))),
        }
    }
    summarize(&mut datastore, chains);
    datastore
}

/// Leaves (images no other image is backed by) are the disks VMs use;
/// their virtual sizes are what was promised.
fn summarize(datastore: &mut Datastore, chains: Vec<Vec<ImageInfo>>) {
    let backing: HashSet<String> = chains
        .iter()
        .flat_map(|c| c.iter().skip(1).map(|i| base_name(&i.filename)))
        .collect();
    let mut provisioned = 0u64;
    for chain in &chains {
        let top = &chain[0];
        let name = base_name(&top.filename);
        let image = DiskImage {
            name: name.clone(),
            virtual_bytes: top.virtual_size,
            actual_bytes: top.actual_size,
            backing_chain: chain.iter().skip(1).map(|i| base_name(&i.filename)).collect(),
            internal_snapshots: top.snapshots.len() as u32,
        };
        if !backing.contains(&name) {
            provisioned += image.virtual_bytes;
            let chain_actual: u64 = chain.iter().map(|i| i.actual_size).sum();
            let growth = image.virtual_bytes.saturating_sub(chain_actual);
            if datastore.largest_growth.as_ref().is_none_or(|(_, g)| growth > *g) {
                datastore.largest_growth = Some((name.clone(), growth));
            }
        }
        // An overlay (it has a backing file) is an external snapshot.
        if !image.backing_chain.is_empty()
            && datastore
                .largest_snapshot
                .as_ref()
                .is_none_or(|(_, s)| image.actual_bytes > *s)
        {
            datastore.largest_snapshot = Some((name.clone(), image.actual_bytes));
        }
        datastore.images.push(image);
    }
    datastore.provisioned_bytes = Some(provisioned);
}

fn base_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../../../tests/fixtures/probe/qcow2-dir-qemu10.txt");

    fn section() -> &'static str {
        FIXTURE.split_once('\n').unwrap().1
    }

    #[test]
    fn real_qemu_img_output_with_a_backing_chain_and_internal_snapshots() {
        let ds = parse_dir(section());
        assert_eq!(ds.name, "/tmp/q");
        assert!(ds.errors.is_empty(), "{:?}", ds.errors);
        assert_eq!(ds.images.len(), 3);
        let snap = ds.images.iter().find(|i| i.name == "snap1.qcow2").unwrap();
        assert_eq!(snap.backing_chain, vec!["base.qcow2".to_string()]);
        let big = ds.images.iter().find(|i| i.name == "big.qcow2").unwrap();
        assert_eq!(big.internal_snapshots, 1);
        // base.qcow2 backs snap1: only big + snap1 count as promised disks.
        assert_eq!(ds.provisioned_bytes, Some(2 * 1024u64.pow(4) + 10 * 1024u64.pow(3)));
        assert_eq!(ds.largest_growth.as_ref().unwrap().0, "big.qcow2");
        assert_eq!(ds.largest_snapshot.as_ref().unwrap().0, "snap1.qcow2");
        assert_eq!(ds.free_bytes, 77755812 * 1024);
    }

    #[test]
    fn missing_directory_and_broken_images_are_reported() {
        let ds = parse_dir("path=/gone\nerror=not a directory\n");
        assert_eq!(ds.errors, vec!["/gone: not a directory".to_string()]);
        let ds = parse_dir("path=/d\n/dev/sda1 100 50 50 50% /\n@@image x.qcow2\nqemu-img: Could not open 'x.qcow2': Permission denied\n");
        assert_eq!(ds.errors.len(), 1);
        assert!(ds.errors[0].starts_with("x.qcow2: qemu-img: Could not open"));
        assert_eq!(ds.capacity_bytes, 100 * 1024);
    }

    #[test]
    fn an_empty_directory_promises_nothing() {
        let ds = parse_dir("path=/d\n/dev/sda1 100 50 50 50% /\n");
        assert_eq!(ds.provisioned_bytes, Some(0));
        assert!(ds.images.is_empty());
    }
}
