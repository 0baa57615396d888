//! Constructors for the contract's `error` record, one per `error-code`, and the conversions
//! plugins need to use `?` on decoding.
//!
//! The host maps the code to its answer (a failed `init` keeps the previous plugin version and
//! shows the message in the plugin's status; a failed admission call goes to `failurePolicy`),
//! so the message is written for a person and says what to do where it can.

pub use crate::admission::skiff::plugin::types::{Error, ErrorCode};

impl Error {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into() }
    }

    /// The input (request, object, configuration) is not acceptable.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    /// Something looked up does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// The plugin's identity may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// A dependency is not there right now; trying again may work.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// The plugin does not do that (e.g. `mutate` in a validating-only plugin).
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unsupported, message)
    }

    /// A bug or an unexpected state.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The same error with `context: ` put before its message.
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        Error { code: self.code, message: format!("{context}: {}", self.message) }
    }
}

/// JSON that does not decode comes from outside the plugin (a request, a looked-up object, the
/// configuration), so it is `invalid-input`.
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::invalid(e.to_string())
    }
}

impl ErrorCode {
    /// The code as the contract spells it (`invalid-input`, `not-found`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid-input",
            ErrorCode::NotFound => "not-found",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Internal => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_map_to_their_codes() {
        let cases = [
            (Error::invalid("m"), ErrorCode::InvalidInput, "invalid-input"),
            (Error::not_found("m"), ErrorCode::NotFound, "not-found"),
            (Error::forbidden("m"), ErrorCode::Forbidden, "forbidden"),
            (Error::unavailable("m"), ErrorCode::Unavailable, "unavailable"),
            (Error::unsupported("m"), ErrorCode::Unsupported, "unsupported"),
            (Error::internal("m"), ErrorCode::Internal, "internal"),
        ];
        for (err, code, name) in cases {
            assert_eq!(err.code, code);
            assert_eq!(err.code.as_str(), name);
            assert_eq!(err.message, "m");
        }
    }

    #[test]
    fn json_errors_are_invalid_input() {
        let err: Error = serde_json::from_str::<u8>("x").unwrap_err().into();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains("expected value"), "{}", err.message);
    }

    #[test]
    fn context_prefixes_the_message_and_keeps_the_code() {
        let err = Error::not_found("no such key").context("configmap default/x");
        assert_eq!(err.code, ErrorCode::NotFound);
        assert_eq!(err.message, "configmap default/x: no such key");
    }
}
