//! A fault injector between `host` and a scratch server: a TCP proxy on
//! loopback to the cluster's unix socket that reads the frontend protocol
//! and, at the Nth `COMMIT` (a simple query ending with one), forwards it to the server, then
//! drops the server's answer and cuts every connection, and refuses new
//! ones: the network died after the server got COMMIT, before the host
//! heard back. Nothing in the host knows it is there.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The proxy; it runs until the test ends.
pub struct Proxy {
    pub port: u16,
    state: Arc<State>,
}

struct State {
    socket: PathBuf,
    /// Cut at this COMMIT (1-based); 0 never cuts.
    cut_at: usize,
    /// Cut every connection (the default) or only the one that sent that COMMIT.
    cut_all: bool,
    commits: AtomicUsize,
    cut: AtomicBool,
    open: Mutex<Vec<(TcpStream, UnixStream)>>,
}

impl Proxy {
    /// Proxies 127.0.0.1:`port` to the server whose socket directory is
    /// `dir`; cuts everything at the `cut_at`-th COMMIT.
    pub fn start(dir: &Path, cut_at: usize) -> Proxy {
        Proxy::start_with(dir, cut_at, true)
    }

    /// Like [`Proxy::start`], but only the connection that sent the
    /// `cut_at`-th COMMIT loses its way back to the host: the host's other
    /// connections (the control connection) live on, and the server side of
    /// the cut one stays open, as behind a pooler or a one-way partition.
    pub fn start_one(dir: &Path, cut_at: usize) -> Proxy {
        Proxy::start_with(dir, cut_at, false)
    }

    fn start_with(dir: &Path, cut_at: usize, cut_all: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = Arc::new(State {
            socket: dir.join(".s.PGSQL.5432"),
            cut_at,
            cut_all,
            commits: AtomicUsize::new(0),
            cut: AtomicBool::new(false),
            open: Mutex::new(Vec::new()),
        });
        let s = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if s.cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = UnixStream::connect(&s.socket) else { continue };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
                s.open.lock().unwrap().push((c2, s2));
                let (Ok(c3), Ok(s3)) = (client.try_clone(), server.try_clone()) else { continue };
                let mine = Arc::new(AtomicBool::new(false));
                let (up, m1) = (s.clone(), mine.clone());
                std::thread::spawn(move || frontend(up, m1, client, server));
                let down = s.clone();
                std::thread::spawn(move || backend(down, mine, s3, c3));
            }
        });
        Proxy { port, state }
    }

    /// `host args` on `c`'s `directus` through this proxy: TCP on loopback,
    /// no TLS (the proxy reads the protocol).
    pub fn host_cmd(&self, c: &super::Cluster, args: &[&str]) -> std::process::Command {
        let mut cmd = c.host_cmd(args);
        cmd.env("PGHOST", "127.0.0.1").env("PGPORT", self.port.to_string()).env("PGSSLMODE", "disable");
        cmd
    }

    /// True once the proxy cut the connections.
    pub fn has_cut(&self) -> bool {
        self.state.cut.load(Ordering::SeqCst)
            || (self.state.cut_at > 0 && self.state.commits.load(Ordering::SeqCst) >= self.state.cut_at)
    }
}

/// Server to host: copied until the cut; after it, nothing more arrives.
fn backend(state: Arc<State>, mine: Arc<AtomicBool>, mut server: UnixStream, mut client: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if state.cut.load(Ordering::SeqCst) || mine.load(Ordering::SeqCst) || client.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Host to server, message by message, watching for COMMIT.
fn frontend(state: Arc<State>, mine: Arc<AtomicBool>, mut client: TcpStream, mut server: UnixStream) {
    let mut started = false;
    loop {
        // Start-up packets (SSLRequest, StartupMessage) have no type byte.
        let typed = started;
        let mut kind = [0u8; 1];
        if typed && client.read_exact(&mut kind).is_err() {
            break;
        }
        let mut len = [0u8; 4];
        if client.read_exact(&mut len).is_err() {
            break;
        }
        let n = (u32::from_be_bytes(len) as usize).saturating_sub(4);
        let mut body = vec![0u8; n];
        if client.read_exact(&mut body).is_err() {
            break;
        }
        if !typed {
            let code = body.get(..4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
            // SSLRequest / GSSENCRequest come before the real start-up packet.
            started = !matches!(code, Some(80877103) | Some(80877104));
        }
        let commit = typed && kind[0] == b'Q' && {
            let text = String::from_utf8_lossy(&body);
            // The host's is `CLOSE ALL; COMMIT` (its cursors closed first).
            let last = text.trim_end_matches('\0').trim().trim_end_matches(';').rsplit(';').next().unwrap_or_default();
            last.trim().eq_ignore_ascii_case("COMMIT")
        };
        let cut_now = commit && state.commits.fetch_add(1, Ordering::SeqCst) + 1 == state.cut_at;
        if cut_now {
            // From here the server's answers are dropped.
            if state.cut_all {
                state.cut.store(true, Ordering::SeqCst);
            } else {
                mine.store(true, Ordering::SeqCst);
            }
        }
        let mut out = Vec::with_capacity(5 + n);
        if typed {
            out.push(kind[0]);
        }
        out.extend_from_slice(&len);
        out.extend_from_slice(&body);
        if server.write_all(&out).is_err() {
            break;
        }
        if cut_now && !state.cut_all {
            // Only this connection dies, on the host's side; the server's
            // side stays open (its socket is held in `open`).
            std::thread::sleep(Duration::from_millis(300));
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        if cut_now {
            // Let the server commit, then the network dies, both ways, for every connection.
            std::thread::sleep(Duration::from_millis(300));
            for (c, s) in state.open.lock().unwrap().iter() {
                let _ = c.shutdown(Shutdown::Both);
                let _ = s.shutdown(Shutdown::Both);
            }
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
}
