//! `kubectl logs` on the node: reads a container's CRI log file and renders
//! what the kubelet answers on `/containerLogs` — the text, optionally after
//! each line's RFC 3339 time, cut by tailLines, sinceSeconds/sinceTime and
//! limitBytes, and followed while the container writes.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Timelike, Utc};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{mpsc, watch};

use crate::streams::{ContainerRef, LogFile, StreamError, Streams};

/// How often a follower looks for new output and asks whether the container still runs.
pub const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// A line longer than this without a newline is handed on as it is, so a
/// damaged file cannot make the reader hold unbounded memory.
const MAX_PENDING: usize = 1024 * 1024;

/// What a `/containerLogs` request asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<u64>,
    pub since: Option<DateTime<Utc>>,
    pub limit_bytes: Option<u64>,
}

impl LogOptions {
    /// Reads the kubelet's query parameters; `now` anchors sinceSeconds.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: DateTime<Utc>,
    ) -> Result<LogOptions, StreamError> {
        let mut opts = LogOptions::default();
        let mut since_seconds = None;
        let mut since_time = None;
        for (key, value) in pairs {
            match key {
                "follow" => opts.follow = flag(key, value)?,
                "previous" => opts.previous = flag(key, value)?,
                "timestamps" => opts.timestamps = flag(key, value)?,
                "tailLines" => {
                    let n = int(key, value)?;
                    // Kubernetes reads a negative tailLines as "all lines".
                    opts.tail_lines = u64::try_from(n).ok();
                }
                "limitBytes" => {
                    let n = int(key, value)?;
                    if n < 1 {
                        return Err(StreamError::new(400, "limitBytes must be greater than 0"));
                    }
                    opts.limit_bytes = u64::try_from(n).ok();
                }
                "sinceSeconds" => {
                    let n = int(key, value)?;
                    if n < 1 {
                        return Err(StreamError::new(400, "sinceSeconds must be greater than 0"));
                    }
                    since_seconds = Some(n);
                }
                "sinceTime" => {
                    let t = DateTime::parse_from_rfc3339(value).map_err(|e| {
                        StreamError::new(400, format!("sinceTime {value:?} is not an RFC 3339 time: {e}"))
                    })?;
                    since_time = Some(t.with_timezone(&Utc));
                }
                _ => {}
            }
        }
        opts.since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                return Err(StreamError::new(400, "at most one of sinceTime or sinceSeconds may be specified"))
            }
            (Some(secs), None) => Some(now - chrono::Duration::seconds(secs)),
            (None, t) => t,
        };
        Ok(opts)
    }
}

fn flag(key: &str, value: &str) -> Result<bool, StreamError> {
    match value {
        "" | "1" | "true" | "True" => Ok(true),
        "0" | "false" | "False" => Ok(false),
        other => Err(StreamError::new(400, format!("{key}={other:?} is not a boolean"))),
    }
}

fn int(key: &str, value: &str) -> Result<i64, StreamError> {
    value.parse().map_err(|_| StreamError::new(400, format!("{key}={value:?} is not an integer")))
}

/// Which of a container's outputs a log line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Stdout = 0,
    Stderr = 1,
}

/// One line of a CRI log file.
#[derive(Debug, PartialEq)]
pub struct CriLine<'a> {
    pub time: DateTime<FixedOffset>,
    pub output: Output,
    /// `P`: a piece of a longer line, continued by the next line of the same output.
    pub partial: bool,
    pub text: &'a [u8],
}

/// Parses one line (without its newline); None for a line that is not CRI.
pub fn parse_line(line: &[u8]) -> Option<CriLine<'_>> {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(fields.next()?).ok()?;
    let time = DateTime::parse_from_rfc3339(time).ok()?;
    let output = match fields.next()? {
        b"stdout" => Output::Stdout,
        b"stderr" => Output::Stderr,
        _ => return None,
    };
    // The tag may carry more after a ':' (reserved by the CRI); only its first part counts.
    let tag = fields.next()?;
    let partial = match tag.split(|b| *b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return None,
    };
    Some(CriLine { time, output, partial, text: fields.next().unwrap_or(b"") })
}

/// Go's RFC3339Nano, the kubelet's format: trailing zeros of the fraction
/// dropped, `Z` for UTC.
pub fn format_time(t: &DateTime<FixedOffset>) -> String {
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    if t.offset().local_minus_utc() == 0 {
        out.push('Z');
    } else {
        out.push_str(&t.format("%:z").to_string());
    }
    out
}

/// Whether a renderer can take more lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    More,
    /// limitBytes is reached: nothing more may be sent.
    Done,
}

/// Turns CRI lines into the bytes `kubectl logs` prints.
#[derive(Debug)]
pub struct Renderer {
    timestamps: bool,
    since: Option<DateTime<Utc>>,
    remaining: Option<u64>,
    /// Per output: the last line written was partial, so the next one continues it.
    mid_line: [bool; 2],
    /// Per output: the line being read began before `since`; its other pieces go too.
    skipping: [bool; 2],
}

impl Renderer {
    pub fn new(opts: &LogOptions) -> Renderer {
        Renderer {
            timestamps: opts.timestamps,
            since: opts.since,
            remaining: opts.limit_bytes,
            mid_line: [false; 2],
            skipping: [false; 2],
        }
    }

    /// Renders one file line (without its newline) onto `out`.
    pub fn push(&mut self, line: &[u8], out: &mut Vec<u8>) -> Flow {
        if self.remaining == Some(0) {
            return Flow::Done;
        }
        let Some(line) = parse_line(line) else { return Flow::More };
        let stream = line.output as usize;
        if self.skipping[stream] {
            self.skipping[stream] = line.partial;
            return Flow::More;
        }
        if !self.mid_line[stream] && self.since.is_some_and(|since| line.time < since) {
            self.skipping[stream] = line.partial;
            return Flow::More;
        }
        let before = out.len();
        if self.timestamps && !self.mid_line[stream] {
            out.extend_from_slice(format_time(&line.time).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(line.text);
        if !line.partial {
            out.push(b'\n');
        }
        self.mid_line[stream] = line.partial;
        if let Some(remaining) = self.remaining.as_mut() {
            let added = (out.len() - before) as u64;
            if added >= *remaining {
                out.truncate(before + *remaining as usize);
                *remaining = 0;
                return Flow::Done;
            }
            *remaining -= added;
        }
        Flow::More
    }
}

/// Where the last `lines` lines of a CRI log begin. Pieces of a long line
/// (`P`) count with the line they belong to, and an unfinished line at the
/// end counts as one. The file is scanned from the start: the runtime
/// rotates its logs at a few MiB, which reads in milliseconds.
pub fn tail_start<R: Read + Seek>(reader: &mut R, lines: u64) -> std::io::Result<u64> {
    reader.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(reader);
    let keep = usize::try_from(lines).unwrap_or(usize::MAX).saturating_add(1);
    // Ends (offsets after the newline) of the last `lines + 1` full lines.
    let mut full_ends: VecDeque<u64> = VecDeque::new();
    let mut trailing_partial = false;
    let mut offset = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            // An unterminated last line is still being written: it is read when finished.
            break;
        }
        offset += n as u64;
        let partial = parse_line(&line[..line.len() - 1]).is_some_and(|l| l.partial);
        if partial {
            trailing_partial = true;
        } else {
            trailing_partial = false;
            full_ends.push_back(offset);
            if full_ends.len() > keep {
                full_ends.pop_front();
            }
        }
    }
    if lines == 0 {
        return Ok(offset);
    }
    // The unfinished line at the end takes one of the places.
    let wanted_full = if trailing_partial { lines - 1 } else { lines };
    let skip = full_ends.len() as u64;
    if skip <= wanted_full {
        return Ok(0);
    }
    let index = (skip - wanted_full - 1) as usize;
    Ok(full_ends.get(index).copied().unwrap_or(0))
}

/// Streams the log of `target` as `opts` asks, starting from `first` (the
/// answer `Streams::log` already gave). Chunks go to the returned receiver;
/// the reader stops when the receiver is dropped, at the end of the file (at
/// once, or once the container stopped when following), at limitBytes, or
/// when `shutdown` turns true.
pub fn stream(
    streams: Arc<dyn Streams>,
    target: ContainerRef,
    first: LogFile,
    opts: LogOptions,
    poll: Duration,
    shutdown: watch::Receiver<bool>,
) -> mpsc::Receiver<std::io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        if let Err(e) = pump(&*streams, &target, first, &opts, poll, shutdown, &tx).await {
            // The status line is already sent: all the client can still learn is the broken stream.
            tracing::warn!(error = %e, container = ?target, "reading a container log failed");
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

async fn pump(
    streams: &dyn Streams,
    target: &ContainerRef,
    first: LogFile,
    opts: &LogOptions,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
    tx: &mpsc::Sender<std::io::Result<Bytes>>,
) -> std::io::Result<()> {
    let path = first.path.clone();
    let mut live = first.live;
    let mut renderer = Renderer::new(opts);
    let mut file = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if file.is_none() {
            file = open_at_start(&path, opts.tail_lines).await?;
        }
        let n = match file.as_mut() {
            Some(f) => f.read(&mut chunk).await?,
            None => 0,
        };
        if n > 0 {
            pending.extend_from_slice(&chunk[..n]);
            let mut out = Vec::new();
            let mut consumed = 0;
            let mut flow = Flow::More;
            while let Some(nl) = pending[consumed..].iter().position(|b| *b == b'\n') {
                flow = renderer.push(&pending[consumed..consumed + nl], &mut out);
                consumed += nl + 1;
                if flow == Flow::Done {
                    break;
                }
            }
            pending.drain(..consumed);
            if flow == Flow::More && pending.len() > MAX_PENDING {
                flow = renderer.push(&std::mem::take(&mut pending), &mut out);
            }
            if !out.is_empty() && tx.send(Ok(Bytes::from(out))).await.is_err() {
                return Ok(());
            }
            if flow == Flow::Done {
                return Ok(());
            }
            continue;
        }
        // At the end of what is written so far.
        if !opts.follow || !live {
            if !pending.is_empty() {
                let mut out = Vec::new();
                renderer.push(&pending, &mut out);
                if !out.is_empty() {
                    let _ = tx.send(Ok(Bytes::from(out))).await;
                }
            }
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = tx.closed() => return Ok(()),
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
        // One more read after `live` turns false picks up the container's last words.
        live = match streams.log(target, opts.previous) {
            Ok(now) => now.live && now.path == path,
            Err(_) => false,
        };
    }
}

/// Opens the log positioned where output starts; None while the file does
/// not exist yet (a container that has not written anything).
async fn open_at_start(path: &std::path::Path, tail_lines: Option<u64>) -> std::io::Result<Option<tokio::fs::File>> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Some(lines) = tail_lines {
        let std_file = file.into_std().await;
        let (std_file, start) = tokio::task::spawn_blocking(move || {
            let mut f = std_file;
            let start = tail_start(&mut f, lines);
            (f, start)
        })
        .await
        .map_err(std::io::Error::other)?;
        file = tokio::fs::File::from_std(std_file);
        file.seek(SeekFrom::Start(start?)).await?;
    }
    Ok(Some(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use std::pin::Pin;
    use std::sync::Mutex;

    use futures::Future;

    use crate::streams::{Session, SessionRequest};

    fn render(opts: &LogOptions, file: &str) -> String {
        let mut r = Renderer::new(opts);
        let mut out = Vec::new();
        for line in file.lines() {
            if r.push(line.as_bytes(), &mut out) == Flow::Done {
                break;
            }
        }
        String::from_utf8(out).unwrap()
    }

    const FILE: &str = "2024-01-02T03:04:05.123456789Z stdout F one\n\
                        2024-01-02T03:04:06Z stderr F two\n\
                        2024-01-02T03:04:07.5Z stdout P thr\n\
                        2024-01-02T03:04:08.120000000Z stdout F ee\n\
                        2024-01-02T03:04:09Z stdout F \n";

    #[test]
    fn parses_cri_lines() {
        let line = parse_line(b"2024-01-02T03:04:05.123456789Z stderr P:x some text").unwrap();
        assert_eq!(line.output, Output::Stderr);
        assert!(line.partial);
        assert_eq!(line.text, b"some text");
        assert_eq!(parse_line(b"2024-01-02T03:04:05Z stdout F").unwrap().text, b"");
        assert!(parse_line(b"garbage").is_none());
        assert!(parse_line(b"2024-01-02T03:04:05Z stdin F x").is_none());
    }

    #[test]
    fn formats_time_like_go() {
        let t = |s| format_time(&DateTime::parse_from_rfc3339(s).unwrap());
        assert_eq!(t("2024-01-02T03:04:05.123456789Z"), "2024-01-02T03:04:05.123456789Z");
        assert_eq!(t("2024-01-02T03:04:05.120000000Z"), "2024-01-02T03:04:05.12Z");
        assert_eq!(t("2024-01-02T03:04:05Z"), "2024-01-02T03:04:05Z");
        assert_eq!(t("2024-01-02T03:04:05.5+02:00"), "2024-01-02T03:04:05.5+02:00");
    }

    #[test]
    fn renders_text_and_joins_partial_lines() {
        assert_eq!(render(&LogOptions::default(), FILE), "one\ntwo\nthree\n\n");
    }

    #[test]
    fn renders_timestamps_once_per_line() {
        let opts = LogOptions { timestamps: true, ..Default::default() };
        assert_eq!(
            render(&opts, FILE),
            "2024-01-02T03:04:05.123456789Z one\n2024-01-02T03:04:06Z two\n\
             2024-01-02T03:04:07.5Z three\n2024-01-02T03:04:09Z \n"
        );
    }

    #[test]
    fn partial_lines_join_per_output() {
        let file = "2024-01-02T03:04:05Z stdout P ab\n\
                    2024-01-02T03:04:05Z stderr F err\n\
                    2024-01-02T03:04:06Z stdout F cd\n";
        let opts = LogOptions { timestamps: true, ..Default::default() };
        assert_eq!(render(&opts, file), "2024-01-02T03:04:05Z ab2024-01-02T03:04:05Z err\ncd\n");
    }

    #[test]
    fn since_drops_older_lines() {
        let since = DateTime::parse_from_rfc3339("2024-01-02T03:04:06Z").unwrap().with_timezone(&Utc);
        let opts = LogOptions { since: Some(since), ..Default::default() };
        assert_eq!(render(&opts, FILE), "two\nthree\n\n");
    }

    #[test]
    fn limit_bytes_cuts_the_output() {
        let opts = LogOptions { limit_bytes: Some(6), ..Default::default() };
        assert_eq!(render(&opts, FILE), "one\ntw");
        let opts = LogOptions { limit_bytes: Some(4), ..Default::default() };
        assert_eq!(render(&opts, FILE), "one\n");
    }

    #[test]
    fn tail_counts_whole_lines() {
        let at = |n| {
            let start = tail_start(&mut Cursor::new(FILE.as_bytes()), n).unwrap() as usize;
            render(&LogOptions::default(), &FILE[start..])
        };
        assert_eq!(at(1), "\n");
        assert_eq!(at(2), "three\n\n");
        assert_eq!(at(3), "two\nthree\n\n");
        assert_eq!(at(4), "one\ntwo\nthree\n\n");
        assert_eq!(at(100), "one\ntwo\nthree\n\n");
        assert_eq!(at(0), "");
    }

    #[test]
    fn tail_counts_an_unfinished_line_and_ignores_unterminated_bytes() {
        let file = "2024-01-02T03:04:05Z stdout F a\n\
                    2024-01-02T03:04:05Z stdout F b\n\
                    2024-01-02T03:04:05Z stdout P c\n\
                    2024-01-02T03:04:05Z stdout P";
        let start = tail_start(&mut Cursor::new(file.as_bytes()), 2).unwrap() as usize;
        assert!(file[start..].starts_with("2024-01-02T03:04:05Z stdout F b"));
    }

    #[test]
    fn options_from_query() {
        let now = DateTime::parse_from_rfc3339("2024-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        let opts = LogOptions::from_query(
            [("follow", "true"), ("tailLines", "5"), ("sinceSeconds", "5"), ("limitBytes", "10"), ("timestamps", "1")],
            now,
        )
        .unwrap();
        assert!(opts.follow && opts.timestamps && !opts.previous);
        assert_eq!(opts.tail_lines, Some(5));
        assert_eq!(opts.limit_bytes, Some(10));
        assert_eq!(opts.since.unwrap().to_rfc3339(), "2024-01-02T03:04:00+00:00");
        assert_eq!(LogOptions::from_query([("tailLines", "-1")], now).unwrap().tail_lines, None);
        let both = LogOptions::from_query([("sinceSeconds", "1"), ("sinceTime", "2024-01-02T03:04:05Z")], now);
        assert_eq!(both.unwrap_err().code, 400);
        assert_eq!(LogOptions::from_query([("limitBytes", "0")], now).unwrap_err().code, 400);
        assert_eq!(LogOptions::from_query([("tailLines", "x")], now).unwrap_err().code, 400);
    }

    /// A container whose log file the test writes, and whose `live` it turns off.
    struct OneLog {
        file: LogFile,
        live: Mutex<bool>,
    }

    impl Streams for OneLog {
        fn log(&self, _: &ContainerRef, _: bool) -> Result<LogFile, StreamError> {
            Ok(LogFile { path: self.file.path.clone(), live: *self.live.lock().unwrap() })
        }
        fn exec(
            &self,
            _: &ContainerRef,
            _: SessionRequest,
        ) -> Pin<Box<dyn Future<Output = Result<Session, StreamError>> + Send + '_>> {
            Box::pin(async { Err(StreamError::new(501, "no exec here")) })
        }
        fn attach(
            &self,
            _: &ContainerRef,
            _: SessionRequest,
        ) -> Pin<Box<dyn Future<Output = Result<Session, StreamError>> + Send + '_>> {
            Box::pin(async { Err(StreamError::new(501, "no attach here")) })
        }
    }

    fn target() -> ContainerRef {
        ContainerRef { namespace: "ns".into(), pod: "p".into(), container: "c".into() }
    }

    async fn collect(mut rx: mpsc::Receiver<std::io::Result<Bytes>>) -> String {
        let mut all = Vec::new();
        while let Some(chunk) = rx.recv().await {
            all.extend_from_slice(&chunk.unwrap());
        }
        String::from_utf8(all).unwrap()
    }

    #[tokio::test]
    async fn follow_reads_new_output_and_ends_when_the_container_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"2024-01-02T03:04:05Z stdout F first\n2024-01-02T03:04:05Z stdout F second\n").unwrap();
        let logs = Arc::new(OneLog { file: LogFile { path: path.clone(), live: true }, live: Mutex::new(true) });
        let (_stop, shutdown) = watch::channel(false);
        let opts = LogOptions { follow: true, tail_lines: Some(1), ..Default::default() };
        let mut rx = stream(logs.clone(), target(), logs.file.clone(), opts, Duration::from_millis(20), shutdown);
        assert_eq!(rx.recv().await.unwrap().unwrap(), Bytes::from_static(b"second\n"));
        // Half a line first: nothing may come out of it until its newline.
        f.write_all(b"2024-01-02T03:04:06Z stdout F thi").unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        f.write_all(b"rd\n").unwrap();
        assert_eq!(rx.recv().await.unwrap().unwrap(), Bytes::from_static(b"third\n"));
        // Written just before the container stops: still delivered.
        f.write_all(b"2024-01-02T03:04:07Z stderr F last\n").unwrap();
        *logs.live.lock().unwrap() = false;
        let rest = tokio::time::timeout(Duration::from_secs(5), collect(rx)).await.expect("follow must end");
        assert_eq!(rest, "last\n");
    }

    #[tokio::test]
    async fn follow_ends_at_the_byte_limit_and_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        std::fs::write(&path, "2024-01-02T03:04:05Z stdout F 0123456789\n").unwrap();
        let logs = Arc::new(OneLog { file: LogFile { path: path.clone(), live: true }, live: Mutex::new(true) });
        let (_stop, shutdown) = watch::channel(false);
        let opts = LogOptions { follow: true, limit_bytes: Some(3), ..Default::default() };
        let rx = stream(logs.clone(), target(), logs.file.clone(), opts, Duration::from_millis(20), shutdown);
        assert_eq!(tokio::time::timeout(Duration::from_secs(5), collect(rx)).await.unwrap(), "012");

        let (stop, shutdown) = watch::channel(false);
        let opts = LogOptions { follow: true, ..Default::default() };
        let rx = stream(logs.clone(), target(), logs.file.clone(), opts, Duration::from_millis(20), shutdown);
        let reader = tokio::spawn(collect(rx));
        tokio::time::sleep(Duration::from_millis(60)).await;
        stop.send(true).unwrap();
        let all = tokio::time::timeout(Duration::from_secs(5), reader).await.unwrap().unwrap();
        assert_eq!(all, "0123456789\n");
    }

    #[tokio::test]
    async fn a_missing_file_is_an_empty_log() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Arc::new(OneLog {
            file: LogFile { path: dir.path().join("none.log"), live: false },
            live: Mutex::new(false),
        });
        let (_stop, shutdown) = watch::channel(false);
        let opts = LogOptions { follow: true, ..Default::default() };
        let rx = stream(logs.clone(), target(), logs.file.clone(), opts, Duration::from_millis(20), shutdown);
        assert_eq!(collect(rx).await, "");
    }
}
