//! A TCP proxy on loopback that injects faults between mailferry and a
//! server: `FaultProxy::start(target_port, Fault::CutAfter(n))` forwards
//! connections to 127.0.0.1:target_port and cuts the first one after the
//! server has sent `n` bytes, as a dropped network connection would. Later
//! connections pass untouched, so a client that reconnects gets through.
//! Stopped (and every connection closed) on drop.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: a plain forwarder.
    None,
    /// Close the first connection once this many bytes came from the server.
    CutAfter(usize),
}

pub struct FaultProxy {
    port: u16,
    stopping: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    cuts: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    pub fn start(target_port: u16, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stopping = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let cuts = Arc::new(AtomicUsize::new(0));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stopping, connections, cuts, open) = (
                stopping.clone(),
                connections.clone(),
                cuts.clone(),
                open.clone(),
            );
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, target_port)) else {
                        continue;
                    };
                    let number = connections.fetch_add(1, Ordering::SeqCst);
                    let limit = match fault {
                        Fault::CutAfter(bytes) if number == 0 => Some(bytes),
                        _ => None,
                    };
                    {
                        let mut open = open.lock().unwrap();
                        open.push(client.try_clone().unwrap());
                        open.push(server.try_clone().unwrap());
                    }
                    let (client_in, server_out) =
                        (client.try_clone().unwrap(), server.try_clone().unwrap());
                    std::thread::spawn(move || pump(client_in, server_out, None));
                    let cuts = cuts.clone();
                    std::thread::spawn(move || {
                        if pump(server, client, limit) {
                            cuts.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                }
            })
        };
        FaultProxy {
            port,
            stopping,
            connections,
            cuts,
            open,
            acceptor: Some(acceptor),
        }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections were made through the proxy.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// How many connections the fault cut.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to` until either side closes or `limit` bytes went
/// through; then closes both. Returns whether the limit cut it.
fn pump(mut from: TcpStream, mut to: TcpStream, limit: Option<usize>) -> bool {
    let mut buffer = [0u8; 16 * 1024];
    let mut total = 0usize;
    let mut cut = false;
    loop {
        let want = match limit {
            Some(limit) if total >= limit => {
                cut = true;
                break;
            }
            Some(limit) => buffer.len().min(limit - total),
            None => buffer.len(),
        };
        match from.read(&mut buffer[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
                total += n;
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    cut
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wake the acceptor so it sees `stopping`.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}
