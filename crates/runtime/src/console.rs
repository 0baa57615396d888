//! Terminals made inside the container's own devpts, as runc's console
//! socket does, so a program there sees a terminal of its own (`tty` names
//! it, job control works): the container's process opens the pair after
//! entering its root and hands the master to the shim over a socket.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

type Result<T> = std::result::Result<T, String>;

/// The socket pair a master travels over: (shim's end, container's end).
pub fn pair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| format!("socketpair: {e}"))
}

/// Opens a new terminal in the current mount namespace's /dev/ptmx: (master, slave).
pub fn open() -> Result<(OwnedFd, OwnedFd)> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| format!("opening /dev/ptmx: {e}"))?;
    grantpt(&master).map_err(|e| format!("grantpt: {e}"))?;
    unlockpt(&master).map_err(|e| format!("unlockpt: {e}"))?;
    let name = ptsname_r(&master).map_err(|e| format!("ptsname: {e}"))?;
    let slave =
        std::fs::OpenOptions::new().read(true).write(true).open(&name).map_err(|e| format!("opening {name}: {e}"))?;
    // SAFETY: the master's descriptor is ours; PtyMaster gives it up here.
    let master = unsafe { OwnedFd::from_raw_fd(libc::dup(master.as_raw_fd())) };
    Ok((master, slave.into()))
}

/// Makes `slave` the calling process's stdin, stdout, stderr and controlling terminal.
pub fn adopt(slave: &OwnedFd) -> Result<()> {
    for to in 0..3 {
        // SAFETY: dup2 on descriptors this process owns.
        if unsafe { libc::dup2(slave.as_raw_fd(), to) } < 0 {
            return Err(format!("dup2: {}", std::io::Error::last_os_error()));
        }
    }
    // SAFETY: ioctl on our own stdin, the terminal just installed.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } != 0 {
        return Err(format!("setting the controlling terminal: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

pub fn send(socket: &OwnedFd, master: &OwnedFd) -> Result<()> {
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(b"m")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(|_| ())
    .map_err(|e| format!("sending the terminal: {e}"))
}

/// The master the container's process sent; None if it ended without one.
pub fn receive(socket: &OwnedFd) -> Option<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC).ok()?;
    for c in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just installed this descriptor for us.
            return fds.first().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) });
        }
    }
    None
}

/// Sets a terminal to pass bytes through untouched (no echo, no line editing).
pub fn raw(fd: RawFd) {
    // SAFETY: termios calls on a descriptor we hold; a non-terminal just fails.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) == 0 {
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
        }
    }
}

/// Copies the window size of terminal `from` to terminal `to`.
pub fn copy_size(from: RawFd, to: RawFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from, libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(to, libc::TIOCSWINSZ, &size);
        }
    }
}
