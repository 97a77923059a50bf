//! Landlock: no writes, reads only in the system library directories, no TCP, scoped IPC; then,
//! after the load, no reads at all. What the running kernel enforces is reported, never assumed.

use crate::plugin::sandbox::{Enforcement, SandboxError};
use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus,
    RestrictSelfAttr, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use std::io;

/// The newest Landlock ABI this code was written and tested against. Rights it adds are
/// requested best effort: the running kernel enforces those it knows.
pub(in crate::plugin::sandbox) const LANDLOCK_ABI: ABI = ABI::V10;

/// Every Landlock ABI, oldest first, to tell which one introduced a right.
pub(in crate::plugin::sandbox) const ABIS: [ABI; 10] = [
    ABI::V1,
    ABI::V2,
    ABI::V3,
    ABI::V4,
    ABI::V5,
    ABI::V6,
    ABI::V7,
    ABI::V8,
    ABI::V9,
    ABI::V10,
];

/// The Landlock ABI that introduced `right`, for messages.
pub(in crate::plugin::sandbox) fn introduced_in<T: Access>(
    right: T,
    all: impl Fn(ABI) -> BitFlags<T>,
) -> String {
    ABIS.iter()
        .find(|abi| all(**abi).contains(right))
        .map_or_else(|| "a newer ABI".to_owned(), |abi| format!("ABI {abi}"))
}

/// What the kernel could not enforce of `requested`, as "Right (ABI n), ...".
pub(in crate::plugin::sandbox) fn missing<T: Access + std::fmt::Debug>(
    requested: BitFlags<T>,
    effective: ABI,
    all: impl Fn(ABI) -> BitFlags<T> + Copy,
) -> Vec<String> {
    (requested & !all(effective))
        .iter()
        .map(|right| format!("{right:?} (needs {})", introduced_in(right, all)))
        .collect()
}

/// Where the dynamic loader finds the libraries a plugin links: the only places the worker
/// may read before the library is loaded. Paths that do not exist are skipped.
pub(crate) const LIBRARY_DIRS: [&str; 11] = [
    "/lib",
    "/lib64",
    "/lib32",
    "/libx32",
    "/usr/lib",
    "/usr/lib64",
    "/usr/lib32",
    "/usr/libx32",
    "/usr/local/lib",
    "/usr/local/lib64",
    "/etc/ld.so.cache",
];

/// No writes, reads only in [`LIBRARY_DIRS`], no TCP, scoped IPC; returns (filesystem,
/// network) enforcement.
pub(in crate::plugin::sandbox) fn apply_landlock(
) -> Result<(Enforcement, Enforcement), SandboxError> {
    let fs_all = AccessFs::from_all(LANDLOCK_ABI);
    let fs_read = AccessFs::from_read(LANDLOCK_ABI);
    let tcp = AccessNet::BindTcp | AccessNet::ConnectTcp;
    let scopes = Scope::from_all(LANDLOCK_ABI);

    let status = landlock::Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(fs_all)
        .and_then(|r| r.handle_access(tcp))
        .and_then(|r| r.scope(scopes))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(landlock::path_beneath_rules(LIBRARY_DIRS, fs_read)))
        .and_then(|r| r.restrict_self())
        .map_err(SandboxError::Landlock)?;

    Ok(landlock_enforcement(
        status.landlock,
        status.ruleset != RulesetStatus::NotEnforced,
    ))
}

/// What the first Landlock layer enforces on a kernel with `landlock` (and whether the
/// kernel enforced any of the ruleset): (filesystem, network).
pub(in crate::plugin::sandbox) fn landlock_enforcement(
    landlock: LandlockStatus,
    enforced: bool,
) -> (Enforcement, Enforcement) {
    let fs_all = AccessFs::from_all(LANDLOCK_ABI);
    let tcp = AccessNet::BindTcp | AccessNet::ConnectTcp;
    let both = |why: String| {
        (
            Enforcement::NotEnforced(why.clone()),
            Enforcement::NotEnforced(why),
        )
    };
    let effective = match landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi,
        LandlockStatus::NotEnabled => {
            return both("Landlock is built into this kernel but not enabled (add `landlock` to the `lsm=` boot parameter)".to_owned());
        }
        LandlockStatus::NotImplemented => {
            return both("this kernel has no Landlock support (Linux 5.13 or later with CONFIG_SECURITY_LANDLOCK)".to_owned());
        }
    };
    if !enforced {
        return both(format!(
            "the kernel (Landlock ABI {effective}) enforced none of the ruleset"
        ));
    }

    // Connecting to pathname UNIX sockets (ResolveUnix, Landlock ABI 9) is closed by the
    // seccomp filter instead: the worker cannot create any socket.
    let fs_missing: Vec<String> = missing(fs_all, effective, AccessFs::from_all)
        .into_iter()
        .filter(|m| !m.starts_with("ResolveUnix"))
        .collect();
    let fs = if fs_missing.is_empty() {
        Enforcement::Full
    } else {
        Enforcement::Partial(format!(
            "the kernel offers Landlock ABI {effective}, so these are not restricted: {}",
            fs_missing.join(", ")
        ))
    };

    // The scopes (abstract UNIX sockets, signals: ABI 6) are closed by seccomp as well: no
    // new socket, and signals only to the worker itself.
    let net_missing = missing(tcp, effective, AccessNet::from_all);
    let net = if net_missing.is_empty() {
        Enforcement::Full
    } else {
        Enforcement::NotEnforced(format!(
            "the kernel offers Landlock ABI {effective}, so these are not restricted: {} (seccomp still refuses every new socket)",
            net_missing.join(", ")
        ))
    };
    (fs, net)
}

/// The Landlock status of the running kernel, without restricting anything.
pub(in crate::plugin::sandbox) fn current_landlock() -> LandlockStatus {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only
    // returns the ABI version (or an error); it creates nothing.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    };
    match i32::try_from(v) {
        Ok(v) if v > 0 => LandlockStatus::Available {
            effective_abi: ABI::from(v),
            kernel_abi: None,
        },
        _ if io::Error::last_os_error().raw_os_error() == Some(libc::EOPNOTSUPP) => {
            LandlockStatus::NotEnabled
        }
        _ => LandlockStatus::NotImplemented,
    }
}

/// The second Landlock layer: reading files and listing directories handled, no rule.
pub(in crate::plugin::sandbox) fn restrict_reads() -> Result<Enforcement, SandboxError> {
    let status = landlock::Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::Execute)
        .and_then(|r| r.create())
        // Every thread where the kernel can (Landlock ABI 8); the thread count covers the
        // rest.
        .and_then(|r| r.all_threads(true))
        .and_then(|r| r.restrict_self())
        .map_err(SandboxError::Landlock)?;
    // Reading is handled since Landlock ABI 1: anything short of full enforcement here is
    // the all-threads flag, which the thread count stands in for on kernels before ABI 8.
    Ok(match (status.landlock, status.ruleset) {
        (LandlockStatus::Available { .. }, RulesetStatus::NotEnforced) => {
            Enforcement::NotEnforced("Landlock enforced none of the ruleset".into())
        }
        (LandlockStatus::Available { .. }, _) => Enforcement::Full,
        (LandlockStatus::NotEnabled, _) => {
            Enforcement::NotEnforced("Landlock is not enabled on this kernel".into())
        }
        (LandlockStatus::NotImplemented, _) => {
            Enforcement::NotEnforced("this kernel has no Landlock".into())
        }
    })
}
