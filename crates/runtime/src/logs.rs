//! Container output written in the CRI log format the kubelet reads:
//! `<RFC 3339 nanosecond time> <stdout|stderr> <F|P> <text>`, one line per
//! line of output; `P` marks a piece of a line too long to hold.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The longest piece held before it is written as a partial line.
const MAX_LINE: usize = 16 * 1024;
/// The kubelet's defaults: a log is rotated at 10 MiB, and 5 files are kept.
const MAX_SIZE: u64 = 10 << 20;
const MAX_FILES: usize = 5;

pub struct LogWriter {
    file: File,
    path: PathBuf,
    size: u64,
    max_size: u64,
    pending: [Vec<u8>; 2],
}

#[derive(Clone, Copy)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl LogWriter {
    /// Appends to the log at `path`, rotating it as the kubelet does.
    pub fn open(path: &Path) -> std::io::Result<LogWriter> {
        LogWriter::with_limit(path, MAX_SIZE)
    }

    fn with_limit(path: &Path, max_size: u64) -> std::io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter { file, path: path.to_path_buf(), size, max_size, pending: [Vec::new(), Vec::new()] })
    }

    /// Moves the full log aside (`NAME.<time>`), keeps the newest few, starts afresh.
    fn rotate(&mut self) {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S%.9f");
        let mut rotated = self.path.clone().into_os_string();
        rotated.push(format!(".{stamp}"));
        if std::fs::rename(&self.path, &rotated).is_err() {
            return;
        }
        if let Ok(f) = OpenOptions::new().create(true).append(true).open(&self.path) {
            self.file = f;
            self.size = 0;
        }
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else { return };
        let prefix = format!("{}.", name.to_string_lossy());
        let mut old: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        old.sort();
        // The current file counts among those kept.
        while old.len() > MAX_FILES - 1 {
            let _ = std::fs::remove_file(old.remove(0));
        }
    }

    pub fn write(&mut self, stream: Stream, mut data: &[u8]) {
        while let Some(nl) = data.iter().position(|b| *b == b'\n') {
            let mut line = std::mem::take(&mut self.pending[stream as usize]);
            line.extend_from_slice(&data[..nl]);
            self.emit(stream, 'F', &line);
            data = &data[nl + 1..];
        }
        let pending = &mut self.pending[stream as usize];
        pending.extend_from_slice(data);
        if pending.len() >= MAX_LINE {
            let piece = std::mem::take(pending);
            self.emit(stream, 'P', &piece);
        }
    }

    /// Writes what is left of unfinished lines (at the end of the output).
    pub fn flush(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.pending[stream as usize]);
            if !rest.is_empty() {
                self.emit(stream, 'F', &rest);
            }
        }
    }

    fn emit(&mut self, stream: Stream, tag: char, text: &[u8]) {
        let mut line = Vec::with_capacity(text.len() + 48);
        line.extend_from_slice(crate::state::now().as_bytes());
        line.push(b' ');
        line.extend_from_slice(stream.name().as_bytes());
        line.push(b' ');
        line.push(tag as u8);
        line.push(b' ');
        line.extend_from_slice(text);
        line.push(b'\n');
        if self.size + line.len() as u64 > self.max_size && self.size > 0 {
            self.rotate();
        }
        // One write per line: a reader never sees half of one.
        if self.file.write_all(&line).is_ok() {
            self.size += line.len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_partials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut w = LogWriter::open(&path).unwrap();
        w.write(Stream::Stdout, b"hello\nwor");
        w.write(Stream::Stderr, b"oops\n");
        w.write(Stream::Stdout, b"ld\n");
        w.write(Stream::Stdout, &vec![b'x'; MAX_LINE + 10]);
        w.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<(&str, &str, &str)> = text
            .lines()
            .map(|l| {
                let mut p = l.splitn(4, ' ');
                let _ts = p.next().unwrap();
                (p.next().unwrap(), p.next().unwrap(), p.next().unwrap_or(""))
            })
            .collect();
        assert_eq!(lines[0], ("stdout", "F", "hello"));
        assert_eq!(lines[1], ("stderr", "F", "oops"));
        assert_eq!(lines[2], ("stdout", "F", "world"));
        assert_eq!(lines[3].1, "P");
        assert_eq!(lines[3].2.len(), MAX_LINE + 10);
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn rotates_and_keeps_a_few() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut w = LogWriter::with_limit(&path, 200).unwrap();
        for i in 0..100 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        assert_eq!(names.len(), MAX_FILES, "{names:?}");
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.len() <= 200 && current.trim_end().ends_with("line 99"), "{current}");
    }
}
