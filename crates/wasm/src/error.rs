//! How a plugin call or load can fail.

use std::time::Duration;

use crate::bindings::types::{Error as WitError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The module is not a component of this world, or does not compile or link.
    #[error("cannot load the module: {0}")]
    Load(String),
    /// The plugin ran past its deadline and was stopped.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The plugin tried to grow its memory past its cap.
    #[error("ran out of memory (limit {0} MiB)")]
    OutOfMemory(usize),
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access...).
    #[error("trapped: {0}")]
    Trap(String),
    /// The plugin returned an error through the WIT `error` type.
    #[error("{}", plugin_message(.code, .message))]
    Returned { code: ErrorCode, message: String },
}

impl PluginError {
    /// A short machine-friendly reason, for metrics labels and status conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            PluginError::Load(_) => "LoadFailed",
            PluginError::Timeout(_) => "Timeout",
            PluginError::OutOfMemory(_) => "OutOfMemory",
            PluginError::Trap(_) => "Trap",
            PluginError::Returned { .. } => "PluginError",
        }
    }
}

impl From<WitError> for PluginError {
    fn from(e: WitError) -> Self {
        PluginError::Returned { code: e.code, message: e.message }
    }
}

fn plugin_message(code: &ErrorCode, message: &str) -> String {
    let code = match code {
        ErrorCode::InvalidInput => "invalid input",
        ErrorCode::NotFound => "not found",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::Unavailable => "unavailable",
        ErrorCode::Unsupported => "unsupported",
        ErrorCode::Internal => "internal error",
    };
    format!("{code}: {message}")
}
