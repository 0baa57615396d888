//! One exec or attach over an upgraded WebSocket: copies the client's stdin
//! and resizes to the process, its stdout and stderr back as they come, then
//! the exit status on the error channel, then a normal close (client-go reads
//! anything else as a broken stream).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::channel::{self, Protocol};
use crate::streams::{Session, StreamError};

/// How long output may keep coming after the process ended without any
/// arriving (a background child holding the pipe would otherwise hold the session).
const DRAIN_IDLE: Duration = Duration::from_secs(1);
/// How long the client has to answer our close.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

type Start = Pin<Box<dyn Future<Output = Result<Session, StreamError>> + Send>>;

pub(crate) async fn run(
    socket: WebSocket,
    protocol: Protocol,
    command: Vec<String>,
    start: Start,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut sink, mut incoming) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(32);
    // The only writer of the socket: every pump hands it messages.
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
    });

    let session = tokio::select! {
        s = start => s,
        _ = shutdown.wait_for(|stop| *stop) => Err(shutting_down()),
    };
    let mut session = match session {
        Ok(s) => s,
        Err(e) => {
            finish(&out_tx, protocol, &command, Err(e)).await;
            drop(out_tx);
            let _ = tokio::time::timeout(CLOSE_WAIT, closing_handshake(&mut incoming)).await;
            let _ = writer.await;
            return;
        }
    };

    // stdin gets its own task: a process that does not read it must not stop its output from being read.
    let (stdin_tx, stdin_rx) = mpsc::channel::<Bytes>(16);
    let stdin_task = session.stdin.take().map(|stdin| tokio::spawn(copy_stdin(stdin, stdin_rx)));
    let resize = session.resize.take();
    let (gone_tx, mut gone_rx) = watch::channel(false);
    let reader = tokio::spawn(async move {
        let mut stdin_tx = Some(stdin_tx);
        while let Some(Ok(message)) = incoming.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
            let Some((ch, data)) = protocol.decode(&message) else { continue };
            match ch {
                channel::STDIN => {
                    if let Some(tx) = &stdin_tx {
                        if tx.send(Bytes::from(data)).await.is_err() {
                            stdin_tx = None;
                        }
                    }
                }
                channel::RESIZE => {
                    if let (Some(resize), Some((cols, rows))) = (&resize, channel::parse_resize(&data)) {
                        resize(cols, rows);
                    }
                }
                channel::CLOSE if protocol.version >= 5 && data.first() == Some(&channel::STDIN) => {
                    stdin_tx = None;
                }
                _ => {}
            }
        }
        let _ = gone_tx.send(true);
        incoming
    });

    let sent = Arc::new(AtomicU64::new(0));
    let mut pumps = Vec::new();
    for (ch, output) in [(channel::STDOUT, session.stdout.take()), (channel::STDERR, session.stderr.take())] {
        if let Some(output) = output {
            pumps.push(tokio::spawn(copy_output(output, ch, protocol, out_tx.clone(), sent.clone())));
        }
    }

    let exit = tokio::select! {
        exit = &mut session.exit => Some(exit),
        _ = gone_rx.wait_for(|gone| *gone) => None,
        _ = shutdown.wait_for(|stop| *stop) => Some(Err(shutting_down())),
    };
    let Some(exit) = exit else {
        // The client went away: nobody is left to tell. Dropping the session lets its owner end the process.
        for pump in pumps {
            pump.abort();
        }
        if let Some(task) = stdin_task {
            task.abort();
        }
        drop(out_tx);
        let _ = writer.await;
        return;
    };
    // Output still in the pipes belongs before the status.
    for mut pump in pumps {
        loop {
            let before = sent.load(Ordering::Relaxed);
            match tokio::time::timeout(DRAIN_IDLE, &mut pump).await {
                Ok(_) => break,
                Err(_) if sent.load(Ordering::Relaxed) != before => continue,
                Err(_) => {
                    pump.abort();
                    break;
                }
            }
        }
    }
    if let Some(task) = stdin_task {
        task.abort();
    }
    finish(&out_tx, protocol, &command, exit).await;
    drop(out_tx);
    let _ = writer.await;
    // The client answers our close; after that (or a while) the connection may go.
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        if let Ok(mut incoming) = reader.await {
            closing_handshake(&mut incoming).await;
        }
    })
    .await;
}

fn shutting_down() -> StreamError {
    StreamError::new(503, "the node agent is shutting down")
}

/// Sends the exit status (or the failure to start) and the normal close.
async fn finish(out: &mpsc::Sender<Message>, protocol: Protocol, command: &[String], exit: Result<i32, StreamError>) {
    if let Some(message) = protocol.exit_message(command, &exit) {
        let _ = out.send(protocol.encode(channel::ERROR, &message)).await;
    }
    let close = CloseFrame { code: 1000, reason: "".into() };
    let _ = out.send(Message::Close(Some(close))).await;
}

async fn closing_handshake(incoming: &mut futures::stream::SplitStream<WebSocket>) {
    while let Some(Ok(message)) = incoming.next().await {
        if matches!(message, Message::Close(_)) {
            break;
        }
    }
}

async fn copy_stdin(mut stdin: Pin<Box<dyn AsyncWrite + Send>>, mut rx: mpsc::Receiver<Bytes>) {
    while let Some(data) = rx.recv().await {
        if stdin.write_all(&data).await.is_err() || stdin.flush().await.is_err() {
            return;
        }
    }
    // The client closed stdin (v5) or left: the process sees end of input.
    let _ = stdin.shutdown().await;
}

async fn copy_output(
    mut output: Pin<Box<dyn AsyncRead + Send>>,
    ch: u8,
    protocol: Protocol,
    out: mpsc::Sender<Message>,
    sent: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // A terminal's master answers EIO once the process side is closed: that is its end of output.
        let n = match output.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if out.send(protocol.encode(ch, &buf[..n])).await.is_err() {
            return;
        }
        sent.fetch_add(n as u64, Ordering::Relaxed);
    }
}
