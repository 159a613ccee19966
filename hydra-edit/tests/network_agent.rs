//! `hydra-edit hydrate --network --only agent` on the real Debian 12 image (fixture `debian-boot`) made to look like a migrated VMware guest, whose `/etc/resolv.conf` names an unreachable DNS server: the agent comes from the guest's mirror through the helper's DNS, the guest's resolv.conf is never written, a second run commits nothing, rollback removes the package, nothing is left behind.
//!
//! Needs root and the fixture (`testdata/build debian-boot`), like every root
//! test, and the guest's mirror (`deb.debian.org`, as the image's
//! `/etc/apt/sources.list` says) reachable from the helper. Without the mirror
//! the test skips loudly; with `HYDRA_REQUIRE_NETWORK_TESTS=1` that skip is a
//! failure.

mod common;

use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use libhydra::assemble::tree::{assemble, AssembleOptions};
use libhydra::guest::{FileAttrs, GuestRoot};

/// What a migrated guest's resolv.conf says: the source site's DNS, which the
/// helper cannot reach (192.0.2.1 is TEST-NET-1, never routed).
const BOGUS_RESOLV: &[u8] = b"# the VMware site's DNS (unreachable from the helper)\nnameserver 192.0.2.1\noptions timeout:1 attempts:1\n";

const TEST: &str = "network_install_of_the_agent_uses_the_helpers_dns";

/// A loud skip, or a failure under `HYDRA_REQUIRE_NETWORK_TESTS=1`.
fn skip(why: &str) {
    let msg = format!("SKIPPED {TEST}: {why}");
    if std::env::var("HYDRA_REQUIRE_NETWORK_TESTS").as_deref() == Ok("1") {
        panic!("{msg} (HYDRA_REQUIRE_NETWORK_TESTS=1, so this is a failure)");
    }
    eprintln!("\n*** {msg} ***\n");
}

/// `host:port` of every `http://` mirror in apt sources (one-line and deb822).
fn mirrors(sources: &str) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for w in sources.split_whitespace() {
        let Some(rest) = w.strip_prefix("http://") else {
            continue;
        };
        let hostport = rest.split('/').next().unwrap_or("");
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().unwrap_or(80)),
            None => (hostport.to_string(), 80),
        };
        if !host.is_empty() && !out.contains(&(host.clone(), port)) {
            out.push((host, port));
        }
    }
    out
}

/// A TCP connection to `host:port` within a few seconds (the helper's DNS).
fn reachable(host: &str, port: u16) -> Result<(), String> {
    let name = format!("{host}:{port}");
    let (tx, rx) = std::sync::mpsc::channel();
    let n = name.clone();
    std::thread::spawn(move || {
        let _ = tx.send(n.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    });
    let addrs = match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(a)) if !a.is_empty() => a,
        Ok(Ok(_)) => return Err(format!("{name}: no address")),
        Ok(Err(e)) => return Err(format!("{name}: {e}")),
        Err(_) => return Err(format!("{name}: name lookup took over 10 s")),
    };
    let mut last = String::new();
    for a in addrs {
        match TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{name} ({a}): {e}"),
        }
    }
    Err(last)
}

/// The test's directory: removed at the end, unless something is still
/// mounted under it (a failed run): a recursive delete would then cross into
/// the chroot's binds of the helper's `/run`, `/proc`, `/sys`. It is kept instead.
struct Work(Option<tempfile::TempDir>);

impl Drop for Work {
    fn drop(&mut self) {
        let Some(d) = self.0.take() else { return };
        let left = leftovers(&std::fs::canonicalize(d.path()).unwrap_or(d.path().to_path_buf()));
        if !left.is_empty() {
            let kept = d.keep();
            eprintln!(
                "!!!!! {TEST}: still mounted or attached under {}: {left:?}; the directory is KEPT",
                kept.display()
            );
        }
    }
}

/// What the test reads of the guest.
#[derive(Debug)]
struct State {
    /// `/var/lib/dpkg/status`.
    dpkg: String,
    /// `/etc/resolv.conf`: bytes, inode, mtime and ctime (ns).
    resolv: (Vec<u8>, u64, i128, i128),
    waagent: bool,
    enabled: bool,
    /// `/var/cache/apt/archives/*.deb` with sizes.
    debs: Vec<(String, u64)>,
    /// Bytes under `/var/lib/apt/lists`.
    lists: u64,
}

/// Assemble the tree of `disks` in `work/name` (read-write when `rw`), run
/// `f` on it, tear down.
fn with_tree<T>(
    work: &Path,
    name: &str,
    disks: &[PathBuf],
    rw: bool,
    f: impl FnOnce(&GuestRoot) -> T,
) -> T {
    let layout = libhydra::probe::probe(disks).expect("probe");
    let opts = AssembleOptions {
        tree_root: work.join(name),
        runtime_dir: work.join("run"),
        read_write: rw,
        ..AssembleOptions::default()
    };
    let tree = assemble(&layout, &opts).expect("assemble");
    let g = tree.guest().expect("open the guest");
    let out = f(&g);
    drop(g);
    tree.close().expect("teardown");
    out
}

fn state(g: &GuestRoot) -> State {
    let m = g.symlink_metadata("/etc/resolv.conf").unwrap();
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    let mut debs = Vec::new();
    if let Ok(entries) = g.read_dir("/var/cache/apt/archives") {
        for e in entries {
            let n = e.name.to_string_lossy().into_owned();
            if n.ends_with(".deb") {
                let size = g
                    .symlink_metadata(format!("/var/cache/apt/archives/{n}"))
                    .map(|m| m.len())
                    .unwrap_or(0);
                debs.push((n, size));
            }
        }
    }
    let mut lists = 0;
    if let Ok(entries) = g.read_dir("/var/lib/apt/lists") {
        for e in entries {
            let p = Path::new("/var/lib/apt/lists").join(&e.name);
            if let Ok(m) = g.symlink_metadata(&p) {
                if m.is_file() {
                    lists += m.len();
                }
            }
        }
    }
    State {
        dpkg: g.read_to_string("/var/lib/dpkg/status").unwrap(),
        resolv: (
            g.read("/etc/resolv.conf").unwrap(),
            m.ino(),
            ns(m.mtime(), m.mtime_nsec()),
            ns(m.ctime(), m.ctime_nsec()),
        ),
        waagent: g.exists("/usr/sbin/waagent").unwrap(),
        enabled: g
            .symlink_metadata("/etc/systemd/system/multi-user.target.wants/walinuxagent.service")
            .is_ok_and(|m| m.file_type().is_symlink()),
        debs,
        lists,
    }
}

/// Packages dpkg lists as installed.
fn installed(dpkg: &str) -> Vec<String> {
    dpkg.split("\n\n")
        .filter_map(|stanza| {
            let pkg = stanza.lines().find_map(|l| l.strip_prefix("Package: "))?;
            let st = stanza.lines().find_map(|l| l.strip_prefix("Status: "))?;
            st.ends_with(" installed").then(|| pkg.to_string())
        })
        .collect()
}

/// Processes whose root is under `dir` (commands left running in the chroot).
fn processes_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path().join("root")).is_ok_and(|r| r.starts_with(dir)))
        .map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            format!(
                "{}: {}",
                e.file_name().to_string_lossy(),
                String::from_utf8_lossy(&cmd)
            )
        })
        .collect()
}

#[test]
fn network_install_of_the_agent_uses_the_helpers_dns() {
    if !root_tier(TEST) {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    // Built (or taken from the cache) like every root test's fixture.
    let fixture = fixture_dir("debian-boot");
    let work = Work(Some(tempfile::tempdir().unwrap()));
    let w = &std::fs::canonicalize(work.0.as_ref().unwrap().path()).unwrap();
    let disks = copy_raw_disks(&fixture, w);

    // Make it a migrated VMware guest: resolv.conf names the old site's DNS.
    // (The fixture has no agent installed: the package file beside it is for
    // --agent-package, not used here.)
    let (sources, before) = with_tree(w, "prep", &disks, true, |g| {
        let attrs = g
            .existing_attrs("/etc/resolv.conf")
            .unwrap()
            .unwrap_or(FileAttrs::root(0o644));
        g.write_atomic("/etc/resolv.conf", BOGUS_RESOLV, &attrs)
            .unwrap();
        let mut sources = g
            .read_to_string("/etc/apt/sources.list")
            .unwrap_or_default();
        for e in g.read_dir("/etc/apt/sources.list.d").unwrap_or_default() {
            let p = Path::new("/etc/apt/sources.list.d").join(&e.name);
            sources.push_str(&g.read_to_string(&p).unwrap_or_default());
        }
        (sources, state(g))
    });
    assert_eq!(before.resolv.0, BOGUS_RESOLV);
    assert!(!before.waagent, "the fixture has waagent installed already");
    assert!(
        !installed(&before.dpkg).iter().any(|p| p == "waagent"),
        "dpkg lists waagent in the fixture"
    );
    let mirrors = mirrors(&sources);
    assert!(
        !mirrors.is_empty(),
        "no http:// mirror in the guest's apt sources: {sources}"
    );
    for (host, port) in &mirrors {
        if let Err(why) = reachable(host, *port) {
            return skip(&format!(
                "the guest's mirror is not reachable from the helper ({why})"
            ));
        }
    }
    eprintln!(
        "{TEST}: mirrors {mirrors:?} reachable; the guest's resolv.conf says nameserver 192.0.2.1"
    );

    // Hydrate: the agent from the guest's repositories.
    let t = Instant::now();
    let out = hydra_edit_disks(
        w,
        &["hydrate", "--json", "--network", "--only", "agent"],
        &disks,
    );
    let hydrate_took = t.elapsed();
    let report = json(&ok(&out, "hydrate --network --only agent"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(report["committed"], true, "{report:#}");
    assert_eq!(report["verified"], true, "{report:#}");
    let agent = &report["steps"][0];
    assert_eq!(agent["step"], "agent");
    assert!(
        !agent["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("resolv.conf")),
        "the plan warned about DNS: {agent:#}"
    );
    let runs: Vec<&serde_json::Value> = agent["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "run")
        .collect();
    for r in &runs {
        let cmd = r["command"].as_str().unwrap();
        assert_eq!(r["network"], cmd.starts_with("apt-get"), "{r:#}");
    }
    let commands = report["applied"]["commands"].as_array().unwrap();
    let mut apt = Vec::new();
    for c in commands {
        let cmd = c["command"].as_str().unwrap();
        if cmd.starts_with("apt-get") {
            let dns = c["dns"].as_str().unwrap_or("");
            assert!(
                dns.contains("bound read-only over the guest's /etc/resolv.conf"),
                "{cmd}: {dns}"
            );
            apt.push(format!("{cmd}: {} ms", c["millis"]));
        }
    }
    assert_eq!(apt.len(), 2, "apt-get update and install: {commands:?}");
    assert!(
        !stderr.contains("uses what the guest has"),
        "a DNS warning at run time:\n{stderr}"
    );

    // The outcome, on the disk.
    let after = with_tree(w, "check", &disks, false, state);
    let new: Vec<String> = installed(&after.dpkg)
        .into_iter()
        .filter(|p| !installed(&before.dpkg).contains(p))
        .collect();
    assert!(
        after
            .dpkg
            .contains("Package: waagent\nStatus: install ok installed"),
        "waagent is not installed: new packages {new:?}"
    );
    assert!(after.waagent, "no /usr/sbin/waagent");
    assert!(after.enabled, "walinuxagent.service is not enabled");
    assert_eq!(
        after.resolv, before.resolv,
        "the guest's /etc/resolv.conf was written (bytes, inode, mtime, ctime)"
    );
    let new_debs: Vec<&(String, u64)> = after
        .debs
        .iter()
        .filter(|d| !before.debs.contains(d))
        .collect();
    let deb_bytes: u64 = new_debs.iter().map(|d| d.1).sum();
    eprintln!(
        "measured: {TEST}: hydrate --network took {:.1} s ({}); apt fetched package lists of {} KiB \
         and {} packages of {} KiB: {:?}; newly installed: {new:?}",
        hydrate_took.as_secs_f64(),
        apt.join(", "),
        after.lists.saturating_sub(before.lists) / 1024,
        new_debs.len(),
        deb_bytes / 1024,
        new_debs.iter().map(|d| d.0.as_str()).collect::<Vec<_>>()
    );
    assert_eq!(leftovers(w), Vec::<String>::new());

    // A second run commits nothing.
    let again = json(&ok(
        &hydra_edit_disks(
            w,
            &["hydrate", "--json", "--network", "--only", "agent"],
            &disks,
        ),
        "second hydrate",
    ));
    assert_eq!(
        again["committed"], false,
        "the second run changed: {again:#}"
    );

    // Rollback removes the package again; resolv.conf is still the guest's.
    let rb = ok(&hydra_edit_disks(w, &["rollback"], &disks), "rollback");
    eprintln!("{TEST}: rollback: {}", rb.trim());
    let rolled = with_tree(w, "check", &disks, false, state);
    assert!(
        !installed(&rolled.dpkg).iter().any(|p| p == "waagent"),
        "waagent is still installed after the rollback"
    );
    assert!(!rolled.waagent, "/usr/sbin/waagent is still there");
    assert!(!rolled.enabled, "walinuxagent.service is still enabled");
    assert_eq!(rolled.resolv, before.resolv);

    // Nothing left: no loop device, mount or process.
    assert_eq!(leftovers(w), Vec::<String>::new());
    assert_eq!(processes_in(w), Vec::<String>::new());
    eprintln!(
        "measured: {TEST} took {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}
