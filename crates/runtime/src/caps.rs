//! Linux capabilities by the names Kubernetes uses, and the default set a
//! container gets (containerd's), narrowed or widened by securityContext.

use crate::Error;

const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// What a container may do as root unless it asks otherwise.
pub const DEFAULT: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// `NET_ADMIN` or `CAP_NET_ADMIN`, any case → its number.
pub fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    NAMES.iter().position(|n| *n == bare).map(|i| i as u32)
}

fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(NAMES.len() as u32 - 1)
}

/// The set a container gets: all when privileged, else the default with
/// `drop` removed (`ALL` drops all) and `add` added (`ALL` adds all).
pub fn effective_set(privileged: bool, add: &[String], drop: &[String]) -> Result<Vec<u32>, Error> {
    let last = last_cap();
    if privileged || add.iter().any(|a| a.eq_ignore_ascii_case("ALL")) {
        return Ok((0..=last).collect());
    }
    let parse = |names: &[String]| -> Result<Vec<u32>, Error> {
        names
            .iter()
            .filter(|n| !n.eq_ignore_ascii_case("ALL"))
            .map(|n| number(n).ok_or_else(|| Error::Spec(format!("unknown capability {n:?}"))))
            .collect()
    };
    let mut set: Vec<u32> = if drop.iter().any(|d| d.eq_ignore_ascii_case("ALL")) {
        Vec::new()
    } else {
        let dropped = parse(drop)?;
        DEFAULT.iter().filter_map(|n| number(n)).filter(|c| !dropped.contains(c)).collect()
    };
    for c in parse(add)? {
        if !set.contains(&c) && c <= last {
            set.push(c);
        }
    }
    set.sort_unstable();
    Ok(set)
}

/// Shrinks the bounding set to `keep` and clears the inheritable and ambient
/// sets, so after exec a root process holds exactly `keep` and any other user none.
pub fn restrict(keep: &[u32]) -> std::io::Result<()> {
    for cap in 0..=last_cap() {
        if !keep.contains(&cap) {
            // SAFETY: prctl with integer arguments only.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EINVAL) {
                    return Err(e);
                }
            }
        }
    }
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) };
    clear_inheritable()
}

fn clear_inheritable() -> std::io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header { version: VERSION_3, pid: 0 };
    let mut data = [Data::default(); 2];
    // SAFETY: the kernel fills two Data records for version 3, as declared.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut Header, data.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    for d in &mut data {
        d.inheritable = 0;
    }
    // SAFETY: as above; the records come from capget.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sets() {
        assert_eq!(number("NET_ADMIN"), Some(12));
        assert_eq!(number("cap_sys_admin"), Some(21));
        assert_eq!(number("NOPE"), None);
        let default = effective_set(false, &[], &[]).unwrap();
        assert_eq!(default.len(), DEFAULT.len());
        assert!(!default.contains(&12));
        let s = effective_set(false, &["NET_ADMIN".into()], &["KILL".into()]).unwrap();
        assert!(s.contains(&12) && !s.contains(&5));
        let none = effective_set(false, &["NET_BIND_SERVICE".into()], &["ALL".into()]).unwrap();
        assert_eq!(none, vec![10]);
        assert!(effective_set(true, &[], &["ALL".into()]).unwrap().len() > 37);
        assert!(effective_set(false, &["BOGUS".into()], &[]).is_err());
    }
}
