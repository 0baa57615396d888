//! Container output written in the CRI log format the kubelet reads:
//! `<RFC 3339 nanosecond time> <stdout|stderr> <F|P> <text>`, one line per
//! line of output; `P` marks a piece of a line too long to hold.

use std::fs::File;
use std::io::Write;

/// The longest piece held before it is written as a partial line.
const MAX_LINE: usize = 16 * 1024;

pub struct LogWriter {
    file: File,
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
    pub fn new(file: File) -> LogWriter {
        LogWriter { file, pending: [Vec::new(), Vec::new()] }
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
        // One write per line: a reader never sees half of one.
        let _ = self.file.write_all(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_partials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut w = LogWriter::new(File::create(&path).unwrap());
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
}
