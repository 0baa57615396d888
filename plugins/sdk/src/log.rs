//! Logging into the host's logs through the `log` import; the host tags every record with the
//! plugin's name. Plugin stdout and stderr land there too, untagged by level.
//!
//! ```ignore
//! skiff_plugin_sdk::info!("checked {} containers", n);
//! skiff_plugin_sdk::log::write(Level::Warn, "slow lookup", &[("uid", &req.uid)]);
//! ```

pub use crate::admission::skiff::plugin::log::Level;

/// One record with structured fields. Never fails; the host may drop records of a plugin that
/// logs too much.
pub fn write(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    crate::admission::skiff::plugin::log::write(level, message, &fields);
}

/// Logs at `trace` level, with `format!` arguments.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Trace, &::std::format!($($arg)*), &[]) };
}

/// Logs at `debug` level, with `format!` arguments.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Debug, &::std::format!($($arg)*), &[]) };
}

/// Logs at `info` level, with `format!` arguments.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, &::std::format!($($arg)*), &[]) };
}

/// Logs at `warn` level, with `format!` arguments.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, &::std::format!($($arg)*), &[]) };
}

/// Logs at `error` level, with `format!` arguments.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, &::std::format!($($arg)*), &[]) };
}
