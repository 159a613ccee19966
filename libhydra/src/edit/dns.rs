//! Name resolution for chroot commands that use the network: the guest's `/etc/resolv.conf` is classified inside the guest, and the helper's is bound read-only over it in that command's own mount namespace, never written.
//!
//! A migrated VMware guest's `/etc/resolv.conf` names the source site's DNS
//! servers, which the helper usually cannot reach: `apt-get update` in the
//! chroot would fail to resolve the mirror. (libguestfs replaces the guest's
//! file while such commands run; Hydra never writes it.) For a
//! [`RunSpec`](super::plan::RunSpec) with `network` set, [`for_command`]
//! resolves the guest's `/etc/resolv.conf` inside the guest
//! ([`GuestRoot::canonical`]: absolute link targets and `..` stay in the
//! guest root, magic links are refused) and [`decide`]s:
//!
//! - a regular file on the guest's own filesystems, directly or through guest
//!   symlinks: the helper's `/etc/resolv.conf` is bound read-only over it
//!   in the command's own mount namespace
//!   ([`Cmd::bind_private`](crate::exec::Cmd::bind_private): resolved again
//!   inside the tree with `RESOLVE_IN_ROOT`, private propagation). The bind
//!   ends with the command, whatever happens to Hydra: there is no mount in
//!   Hydra's namespace to undo, record or leak;
//! - an existing regular file under `/run`
//!   (`/etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf`; in the
//!   chroot `/run` is the helper's own, bound in): bound over the same way.
//!   The bind lives in the command's private namespace, so the helper's
//!   `/run` is never changed;
//! - under `/dev`, `/proc` or `/sys`, missing, or a dangling link (an Ubuntu
//!   guest's stub link on a helper without systemd-resolved): nothing is
//!   mounted or written (that would need a file created in the guest or in
//!   the helper's `/run`). The command runs with what the guest has, and a
//!   warning naming the path says so, in the plan too ([`plan_warning`]);
//! - the guest's file is the helper's own (`--root /` on the source VM):
//!   nothing to do;
//! - the helper has no `/etc/resolv.conf`: a warning, and the command runs.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::plan::norm;

use crate::guest::GuestRoot;

/// The guest's resolver configuration, and the helper's (the bind source).
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Guest directories that are not the guest's own filesystems in the chroot:
/// `/run` is the helper's, bound in; `/dev` is Hydra's tmpfs; `/proc` and
/// `/sys` are the helper's.
const NOT_THE_GUESTS: [&str; 4] = ["/run", "/dev", "/proc", "/sys"];

/// What the guest's `/etc/resolv.conf` is, resolved inside the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestResolv {
    /// A regular file on the guest's own filesystems, at this guest path
    /// (`/etc/resolv.conf`, or where its symlinks lead inside the guest).
    File(PathBuf),
    /// It resolves under `/run` (the helper's `/run` in the chroot), or under
    /// `/dev`, `/proc` or `/sys`: this guest path.
    Elsewhere(PathBuf),
    /// There is no `/etc/resolv.conf`.
    Missing,
    /// A symlink (this text) that leads to nothing in the guest; `to` is the
    /// guest path it names, taken lexically.
    Dangling {
        /// The link text.
        link: PathBuf,
        /// The guest path it names.
        to: PathBuf,
    },
    /// Something else: a directory, a device, a symlink loop, an escape
    /// through a magic link (what it is).
    Unusable(String),
}

/// What to do for a command that uses the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Bind the helper's `/etc/resolv.conf` read-only over this guest file.
    Bind(PathBuf),
    /// The guest's file is the helper's own (a tree at `/`): nothing to do.
    Same,
    /// Touch nothing; the command runs with what the guest has. Why.
    Leave(String),
}

/// Classify the guest's `/etc/resolv.conf` (see the module docs).
pub fn classify(guest: &GuestRoot) -> GuestResolv {
    let path = Path::new(RESOLV_CONF);
    let meta = match guest.symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.is_not_found() => return GuestResolv::Missing,
        Err(e) => return GuestResolv::Unusable(format!("cannot be read: {e}")),
    };
    let canon = match guest.canonical(path) {
        Ok(c) => c,
        Err(e) if e.is_not_found() && meta.file_type().is_symlink() => {
            let link = guest.read_link(path).unwrap_or_default();
            // Where it would be, taken lexically from the link's directory
            // (`..` stops at the guest root).
            let to = norm(&path.parent().unwrap_or(Path::new("/")).join(&link));
            return GuestResolv::Dangling { link, to };
        }
        Err(e) => return GuestResolv::Unusable(format!("does not resolve: {e}")),
    };
    if NOT_THE_GUESTS.iter().any(|d| canon.starts_with(d)) {
        return GuestResolv::Elsewhere(canon);
    }
    match guest.metadata(&canon) {
        Ok(m) if m.is_file() => GuestResolv::File(canon),
        Ok(m) => GuestResolv::Unusable(format!(
            "resolves to {}, which is {}, not a file",
            canon.display(),
            if m.is_dir() {
                "a directory"
            } else {
                "a special file"
            }
        )),
        Err(e) => GuestResolv::Unusable(format!("does not resolve: {e}")),
    }
}

/// How name resolution goes for a network command: the guest's
/// `/etc/resolv.conf` and the helper's file at `helper` (normally
/// [`RESOLV_CONF`]).
pub fn decide(guest: &GuestRoot, helper: &Path) -> Decision {
    let uses = "name resolution in the chroot uses what the guest has";
    let guest_file = match classify(guest) {
        GuestResolv::File(p) => p,
        // The bind is private to the command: safe over the helper's /run too.
        GuestResolv::Elsewhere(p)
            if p.starts_with("/run") && guest.metadata(&p).is_ok_and(|m| m.is_file()) =>
        {
            p
        }
        GuestResolv::Elsewhere(p) => {
            return Decision::Leave(format!(
                "the guest's {RESOLV_CONF} resolves to {}, which in the chroot is not on the \
                 guest's filesystems: nothing is mounted or written there, so {uses}",
                p.display()
            ))
        }
        GuestResolv::Missing => {
            return Decision::Leave(format!(
                "the guest has no {RESOLV_CONF}: nothing is mounted over it (that would need a \
                 file written into the guest), so {uses} (no resolver configuration)"
            ))
        }
        GuestResolv::Dangling { link, to } => {
            return Decision::Leave(format!(
                "the guest's {RESOLV_CONF} is a symlink to {} ({}), which does not exist{}: \
                 nothing is mounted or written for it, so {uses}",
                link.display(),
                to.display(),
                if to.starts_with("/run") {
                    " (in the chroot /run is the helper's own /run)"
                } else {
                    ""
                }
            ))
        }
        GuestResolv::Unusable(what) => {
            return Decision::Leave(format!(
                "the guest's {RESOLV_CONF} {what}: nothing is mounted over it, so {uses}"
            ))
        }
    };
    let helper_meta = match std::fs::metadata(helper) {
        Ok(m) if m.is_file() => m,
        Ok(_) => {
            return Decision::Leave(format!(
                "the helper's {} is not a regular file: {uses} ({})",
                helper.display(),
                guest_file.display()
            ))
        }
        Err(e) => {
            return Decision::Leave(format!(
                "the helper has no {} ({e}): {uses} ({})",
                helper.display(),
                guest_file.display()
            ))
        }
    };
    if let Ok(m) = guest.metadata(&guest_file) {
        if m.dev() == helper_meta.dev() && m.ino() == helper_meta.ino() {
            return Decision::Same;
        }
    }
    Decision::Bind(guest_file)
}

/// The plan's warning for a network install, when the helper's DNS will not
/// be used in the chroot (see [`decide`]); `None` when it will.
pub fn plan_warning(guest: &GuestRoot) -> Option<String> {
    match decide(guest, Path::new(RESOLV_CONF)) {
        Decision::Bind(_) | Decision::Same => None,
        Decision::Leave(why) => Some(format!(
            "the install needs the network, but the helper's DNS cannot be given to the chroot: {why}"
        )),
    }
}

/// The helper's DNS for one network command, per [`decide`]: the guest
/// file to bind the helper's `helper` (normally [`RESOLV_CONF`]) over, for
/// [`Cmd::bind_private`](crate::exec::Cmd::bind_private), and what is done,
/// for the report. Anything short of the bind is logged as a warning naming
/// the path, and the command runs anyway.
pub fn for_command(guest: &GuestRoot, helper: &Path, command: &str) -> (Option<PathBuf>, String) {
    match decide(guest, helper) {
        Decision::Bind(at) => {
            let what = format!(
                "the helper's {} bound read-only over the guest's {} (in the command's own mount namespace)",
                helper.display(),
                at.display()
            );
            tracing::info!("{command}: {what}");
            (Some(at), what)
        }
        Decision::Same => (
            None,
            format!("the guest's {RESOLV_CONF} is the helper's own"),
        ),
        Decision::Leave(why) => {
            tracing::warn!("{command}: {why}");
            (None, why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::testtree::{link, put, resolved_stub};

    /// A guest tree and a helper resolv.conf outside it.
    fn setup() -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("etc")).unwrap();
        let h = tempfile::tempdir().unwrap();
        let helper = h.path().join("resolv.conf");
        std::fs::write(&helper, "nameserver 10.0.0.2\n").unwrap();
        (t, h, helper)
    }

    fn guest(t: &tempfile::TempDir) -> GuestRoot {
        GuestRoot::open(t.path()).unwrap()
    }

    #[test]
    fn a_regular_file_is_bound_over() {
        let (t, _h, helper) = setup();
        put(t.path(), "/etc/resolv.conf", "nameserver 192.0.2.1\n");
        let g = guest(&t);
        assert_eq!(
            classify(&g),
            GuestResolv::File(PathBuf::from("/etc/resolv.conf"))
        );
        assert_eq!(
            decide(&g, &helper),
            Decision::Bind(PathBuf::from("/etc/resolv.conf"))
        );
        assert_eq!(plan_warning_with(&g, &helper), None);
    }

    fn plan_warning_with(g: &GuestRoot, helper: &Path) -> Option<String> {
        match decide(g, helper) {
            Decision::Leave(w) => Some(w),
            _ => None,
        }
    }

    #[test]
    fn a_symlink_to_a_guest_file_binds_over_the_target() {
        let (t, _h, helper) = setup();
        put(
            t.path(),
            "/etc/resolvconf/resolv.conf",
            "nameserver 192.0.2.1\n",
        );
        link(t.path(), "/etc/resolv.conf", "resolvconf/resolv.conf");
        let g = guest(&t);
        assert_eq!(
            decide(&g, &helper),
            Decision::Bind(PathBuf::from("/etc/resolvconf/resolv.conf"))
        );
        // An absolute link with `..` above the root stays in the guest.
        std::fs::remove_file(t.path().join("etc/resolv.conf")).unwrap();
        link(
            t.path(),
            "/etc/resolv.conf",
            "/../../../../etc/resolvconf/resolv.conf",
        );
        assert_eq!(
            decide(&g, &helper),
            Decision::Bind(PathBuf::from("/etc/resolvconf/resolv.conf"))
        );
    }

    #[test]
    fn a_symlink_to_a_file_in_run_is_bound_over() {
        let (t, _h, helper) = setup();
        resolved_stub(t.path());
        let g = guest(&t);
        let at = PathBuf::from("/run/systemd/resolve/stub-resolv.conf");
        assert_eq!(classify(&g), GuestResolv::Elsewhere(at.clone()));
        assert_eq!(decide(&g, &helper), Decision::Bind(at.clone()));
        assert_eq!(plan_warning_with(&g, &helper), None);
        // Through /var/run -> /run as well.
        std::fs::remove_file(t.path().join("etc/resolv.conf")).unwrap();
        link(t.path(), "/var/run", "/run");
        link(
            t.path(),
            "/etc/resolv.conf",
            "/var/run/systemd/resolve/stub-resolv.conf",
        );
        assert_eq!(classify(&g), GuestResolv::Elsewhere(at.clone()));
        assert_eq!(decide(&g, &helper), Decision::Bind(at));
        // A directory there is not bound over.
        std::fs::remove_file(t.path().join("run/systemd/resolve/stub-resolv.conf")).unwrap();
        std::fs::create_dir(t.path().join("run/systemd/resolve/stub-resolv.conf")).unwrap();
        assert!(matches!(decide(&g, &helper), Decision::Leave(_)));
    }

    #[test]
    fn dangling_and_missing_are_left_alone_with_a_warning() {
        let (t, _h, helper) = setup();
        let g = guest(&t);
        assert_eq!(classify(&g), GuestResolv::Missing);
        let Decision::Leave(w) = decide(&g, &helper) else {
            panic!()
        };
        assert!(w.contains("no /etc/resolv.conf"), "{w}");
        // A link into an empty /run (a dry run: the helper's /run is not bound).
        std::fs::create_dir_all(t.path().join("run")).unwrap();
        link(
            t.path(),
            "/etc/resolv.conf",
            "../run/systemd/resolve/stub-resolv.conf",
        );
        assert_eq!(
            classify(&g),
            GuestResolv::Dangling {
                link: PathBuf::from("../run/systemd/resolve/stub-resolv.conf"),
                to: PathBuf::from("/run/systemd/resolve/stub-resolv.conf"),
            }
        );
        let Decision::Leave(w) = decide(&g, &helper) else {
            panic!()
        };
        assert!(
            w.contains("does not exist")
                && w.contains("/run/systemd/resolve/stub-resolv.conf")
                && w.contains("uses what the guest has"),
            "{w}"
        );
    }

    #[test]
    fn an_absolute_link_to_a_host_path_resolves_inside_the_guest() {
        // /etc/resolv.conf -> /etc/shadow names the *guest's* shadow: absent
        // in the guest, it is dangling (never the helper's /etc/shadow) ...
        let (t, _h, helper) = setup();
        link(t.path(), "/etc/resolv.conf", "/etc/shadow");
        let g = guest(&t);
        assert!(std::path::Path::new("/etc/shadow").exists());
        assert_eq!(
            classify(&g),
            GuestResolv::Dangling {
                link: PathBuf::from("/etc/shadow"),
                to: PathBuf::from("/etc/shadow"),
            }
        );
        assert!(matches!(decide(&g, &helper), Decision::Leave(_)));
        // ... and present in the guest, it is the guest's file that is bound over.
        put(t.path(), "/etc/shadow", "root:*:19000:0:99999:7:::\n");
        assert_eq!(
            decide(&g, &helper),
            Decision::Bind(PathBuf::from("/etc/shadow"))
        );
        // A link climbing out with `..` stops at the guest root too.
        std::fs::remove_file(t.path().join("etc/resolv.conf")).unwrap();
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("hostfile"), "host\n").unwrap();
        let up = format!(
            "../../../../../../..{}",
            host.path().join("hostfile").display()
        );
        link(t.path(), "/etc/resolv.conf", &up);
        let GuestResolv::Dangling { to, .. } = classify(&g) else {
            panic!("{:?}", classify(&g))
        };
        assert_eq!(to, host.path().join("hostfile"), "a guest path");
        assert!(!t.path().join(to.strip_prefix("/").unwrap()).exists());
    }

    #[test]
    fn other_shapes_and_the_helper_side() {
        let (t, h, helper) = setup();
        std::fs::create_dir_all(t.path().join("etc/resolv.conf")).unwrap();
        let g = guest(&t);
        assert!(
            matches!(classify(&g), GuestResolv::Unusable(ref w) if w.contains("directory")),
            "{:?}",
            classify(&g)
        );
        std::fs::remove_dir(t.path().join("etc/resolv.conf")).unwrap();
        link(t.path(), "/etc/resolv.conf", "resolv.conf");
        assert!(
            matches!(classify(&g), GuestResolv::Unusable(_)),
            "a loop: {:?}",
            classify(&g)
        );
        std::fs::remove_file(t.path().join("etc/resolv.conf")).unwrap();
        put(t.path(), "/etc/resolv.conf", "nameserver 192.0.2.1\n");
        // The helper has none: left alone, with a warning.
        let none = h.path().join("absent");
        let Decision::Leave(w) = decide(&g, &none) else {
            panic!()
        };
        assert!(
            w.contains("the helper has no") && w.contains("absent"),
            "{w}"
        );
        // The guest's file is the helper's (a tree at /).
        assert_eq!(
            decide(&g, &t.path().join("etc/resolv.conf")),
            Decision::Same
        );
        assert_eq!(
            decide(&g, &helper),
            Decision::Bind(PathBuf::from("/etc/resolv.conf"))
        );
    }
}
