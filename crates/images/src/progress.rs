//! Pull progress: the events a pull reports, and a renderer that turns them
//! into one line per layer the way `docker pull` shows them.

use std::collections::BTreeMap;

/// What a pull is doing; reported through the callback given to `pull`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Looking up the manifest.
    Resolving {
        reference: String,
    },
    /// The manifest is known: these are the layers (compressed digest, size).
    Resolved {
        reference: String,
        digest: String,
        layers: Vec<(String, u64)>,
    },
    /// The layer is unpacked already; nothing to fetch.
    LayerExists {
        digest: String,
    },
    Downloading {
        digest: String,
        downloaded: u64,
        total: u64,
    },
    Unpacking {
        digest: String,
    },
    LayerDone {
        digest: String,
    },
    /// The image is in the store; `id` is its config digest.
    Done {
        reference: String,
        id: String,
    },
}

/// Keeps the state of every layer so a terminal can redraw it.
#[derive(Debug, Default)]
pub struct ProgressView {
    order: Vec<String>,
    state: BTreeMap<String, String>,
    header: String,
}

impl ProgressView {
    /// Applies an event; returns the line that changed, for plain
    /// (non-terminal) output, when the event is worth a line of its own.
    pub fn apply(&mut self, event: &Progress) -> Option<String> {
        match event {
            Progress::Resolving { reference } => {
                self.header = format!("Pulling {reference}");
                Some(self.header.clone())
            }
            Progress::Resolved { digest, layers, .. } => {
                self.header = format!("{}: {}", self.header, short(digest));
                for (layer, _) in layers {
                    if !self.state.contains_key(layer) {
                        self.order.push(layer.clone());
                        self.state.insert(layer.clone(), "Waiting".into());
                    }
                }
                None
            }
            Progress::LayerExists { digest } => self.set(digest, "Already exists".into(), true),
            Progress::Downloading { digest, downloaded, total } => {
                let text = if *total > 0 {
                    format!("Downloading {}/{}", human(*downloaded), human(*total))
                } else {
                    format!("Downloading {}", human(*downloaded))
                };
                self.set(digest, text, false)
            }
            Progress::Unpacking { digest } => self.set(digest, "Extracting".into(), true),
            Progress::LayerDone { digest } => self.set(digest, "Pull complete".into(), true),
            Progress::Done { reference, id } => Some(format!("Pulled {reference} ({})", short(id))),
        }
    }

    fn set(&mut self, digest: &str, text: String, worth_a_line: bool) -> Option<String> {
        if !self.state.contains_key(digest) {
            self.order.push(digest.to_string());
        }
        self.state.insert(digest.to_string(), text);
        worth_a_line.then(|| self.line(digest))
    }

    fn line(&self, digest: &str) -> String {
        format!("{}: {}", short(digest), self.state.get(digest).map(String::as_str).unwrap_or(""))
    }

    /// The whole display: a header line and one line per layer.
    pub fn lines(&self) -> Vec<String> {
        std::iter::once(self.header.clone()).chain(self.order.iter().map(|d| self.line(d))).collect()
    }
}

/// `sha256:0123456789abcdef…` → `0123456789ab`, as Docker shortens IDs.
pub fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..12).unwrap_or(hex)
}

/// Sizes as Docker prints them (decimal units).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.3}{}", UNITS[unit]).replace(".000", "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_tracks_layers() {
        let mut view = ProgressView::default();
        let d1 = format!("sha256:{}", "a".repeat(64));
        let d2 = format!("sha256:{}", "b".repeat(64));
        view.apply(&Progress::Resolving { reference: "docker.io/library/busybox:latest".into() });
        view.apply(&Progress::Resolved {
            reference: "docker.io/library/busybox:latest".into(),
            digest: d1.clone(),
            layers: vec![(d1.clone(), 10), (d2.clone(), 2_500_000)],
        });
        assert_eq!(
            view.apply(&Progress::LayerExists { digest: d1.clone() }),
            Some("aaaaaaaaaaaa: Already exists".into())
        );
        assert_eq!(
            view.apply(&Progress::Downloading { digest: d2.clone(), downloaded: 1_000_000, total: 2_500_000 }),
            None
        );
        let lines = view.lines();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2], "bbbbbbbbbbbb: Downloading 1MB/2.500MB");
        assert_eq!(human(999), "999B");
    }
}
