//! The Kubernetes stream protocol over WebSocket (what kubectl exec/attach/cp
//! speak): every message starts with a channel byte — 0 stdin, 1 stdout,
//! 2 stderr, 3 error (a `Status` from v4 on), 4 resize — and v5 adds 255,
//! "this stream is closed", whose payload is the closed channel.

use axum::extract::ws::Message;
use base64::Engine;
use serde_json::{json, Value};

use crate::streams::StreamError;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
pub const CLOSE: u8 = 255;

/// The subprotocols served, in the order of preference (the server picks the
/// first of these the client offers).
pub const SUPPORTED: [&str; 5] =
    ["v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io", "channel.k8s.io", "base64.channel.k8s.io"];

/// A negotiated subprotocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocol {
    /// 1 (plain-text errors), 4 (`Status` on the error channel) or 5 (and stream close).
    pub version: u8,
    /// Text messages: the channel as an ASCII digit, then the data in base64.
    pub base64: bool,
}

impl Protocol {
    /// The protocol for a negotiated name; none negotiated is the oldest,
    /// which is what client-go falls back to then.
    pub fn from_name(name: Option<&str>) -> Protocol {
        match name {
            Some("v5.channel.k8s.io") => Protocol { version: 5, base64: false },
            Some("v4.channel.k8s.io") => Protocol { version: 4, base64: false },
            Some("v4.base64.channel.k8s.io") => Protocol { version: 4, base64: true },
            Some("base64.channel.k8s.io") => Protocol { version: 1, base64: true },
            _ => Protocol { version: 1, base64: false },
        }
    }

    pub fn encode(&self, channel: u8, data: &[u8]) -> Message {
        if self.base64 {
            let mut text = String::with_capacity(1 + data.len().div_ceil(3) * 4);
            text.push(char::from(b'0' + channel));
            base64::engine::general_purpose::STANDARD.encode_string(data, &mut text);
            Message::Text(text.into())
        } else {
            let mut frame = Vec::with_capacity(1 + data.len());
            frame.push(channel);
            frame.extend_from_slice(data);
            Message::Binary(frame.into())
        }
    }

    /// The channel and payload of a data message; None for control
    /// messages, empty ones and ones this protocol does not use.
    pub fn decode(&self, message: &Message) -> Option<(u8, Vec<u8>)> {
        match message {
            Message::Binary(data) if !self.base64 => {
                let (&channel, rest) = data.split_first()?;
                Some((channel, rest.to_vec()))
            }
            Message::Text(text) if self.base64 => {
                let bytes = text.as_bytes();
                let (&digit, rest) = bytes.split_first()?;
                let channel = digit.checked_sub(b'0').filter(|c| *c <= RESIZE)?;
                let data = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
                Some((channel, data))
            }
            _ => None,
        }
    }

    /// What goes on the error channel when the process has ended; None: nothing (v1 on success).
    pub fn exit_message(&self, command: &[String], exit: &Result<i32, StreamError>) -> Option<Vec<u8>> {
        if self.version >= 4 {
            return Some(exit_status(command, exit).to_string().into_bytes());
        }
        match exit {
            Ok(0) => None,
            Ok(code) => Some(non_zero_message(command, *code).into_bytes()),
            Err(e) => Some(e.message.clone().into_bytes()),
        }
    }
}

/// The `Status` the kubelet writes on the error channel when an exec ends;
/// client-go turns a `NonZeroExitCode` one into kubectl's exit code.
pub fn exit_status(command: &[String], exit: &Result<i32, StreamError>) -> Value {
    match exit {
        Ok(0) => json!({"metadata": {}, "status": "Success"}),
        Ok(code) => {
            let code = shell_code(*code);
            json!({
                "metadata": {},
                "status": "Failure",
                "message": non_zero_message(command, code),
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            })
        }
        Err(e) => json!({
            "metadata": {},
            "status": "Failure",
            "message": e.message,
            "reason": super::reason(e.code),
            "code": e.code,
        }),
    }
}

/// client-go reads the exit code as a uint8: a signal's negative code
/// becomes the shell's 128+N, anything else out of range 255.
fn shell_code(code: i32) -> i32 {
    match code {
        1..=255 => code,
        -255..=-1 => (128 - code).min(255),
        _ => 255,
    }
}

fn non_zero_message(command: &[String], code: i32) -> String {
    format!(
        "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
        command.join(" ")
    )
}

/// A resize message's size as (columns, rows).
pub fn parse_resize(data: &[u8]) -> Option<(u16, u16)> {
    #[derive(serde::Deserialize)]
    struct Size {
        #[serde(rename = "Width")]
        width: u16,
        #[serde(rename = "Height")]
        height: u16,
    }
    let size: Size = serde_json::from_slice(data).ok()?;
    Some((size.width, size.height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_framing_puts_the_channel_first() {
        let v5 = Protocol::from_name(Some("v5.channel.k8s.io"));
        assert_eq!(v5, Protocol { version: 5, base64: false });
        let Message::Binary(frame) = v5.encode(STDOUT, b"hi") else { panic!("binary expected") };
        assert_eq!(&frame[..], b"\x01hi");
        assert_eq!(v5.decode(&Message::Binary(vec![STDIN, b'x'].into())), Some((STDIN, b"x".to_vec())));
        assert_eq!(v5.decode(&Message::Binary(vec![CLOSE, STDIN].into())), Some((CLOSE, vec![STDIN])));
        assert_eq!(v5.decode(&Message::Binary(Vec::new().into())), None);
        assert_eq!(v5.decode(&Message::Text("0eA==".into())), None);
    }

    #[test]
    fn base64_framing_uses_a_digit_and_base64() {
        let b64 = Protocol::from_name(Some("v4.base64.channel.k8s.io"));
        let Message::Text(text) = b64.encode(STDERR, b"hi") else { panic!("text expected") };
        assert_eq!(text.as_str(), "2aGk=");
        assert_eq!(b64.decode(&Message::Text("0aGk=".into())), Some((STDIN, b"hi".to_vec())));
        assert_eq!(b64.decode(&Message::Text("9aGk=".into())), None);
        assert_eq!(Protocol::from_name(None), Protocol { version: 1, base64: false });
    }

    #[test]
    fn exit_statuses_match_the_kubelet() {
        let cmd = vec!["sh".to_string(), "-c".to_string(), "exit 3".to_string()];
        assert_eq!(exit_status(&cmd, &Ok(0)), json!({"metadata": {}, "status": "Success"}));
        let failed = exit_status(&cmd, &Ok(3));
        assert_eq!(failed["status"], "Failure");
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(failed["details"]["causes"], json!([{"reason": "ExitCode", "message": "3"}]));
        assert_eq!(
            failed["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
        assert_eq!(exit_status(&cmd, &Ok(-9))["details"]["causes"][0]["message"], "137");
        assert_eq!(exit_status(&cmd, &Ok(1000))["details"]["causes"][0]["message"], "255");
        let err = exit_status(&cmd, &Err(StreamError::new(404, "container not found")));
        assert_eq!(err["reason"], "NotFound");
        assert_eq!(err["message"], "container not found");
        let v1 = Protocol::from_name(Some("channel.k8s.io"));
        assert_eq!(v1.exit_message(&cmd, &Ok(0)), None);
        assert!(v1.exit_message(&cmd, &Ok(3)).is_some());
    }

    #[test]
    fn resize_reads_width_and_height() {
        assert_eq!(parse_resize(br#"{"Width":100,"Height":40}"#), Some((100, 40)));
        assert_eq!(parse_resize(b"nonsense"), None);
    }
}
