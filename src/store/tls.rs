//! The network layer shared by the IMAP and POP3 stores: a TCP connection
//! with timeouts, optionally wrapped in TLS that is always verified: against
//! the system roots plus an optional CA file and the host name, or, when the
//! config pins the certificate (`tls_fingerprint`), by its SHA-256 alone.
//!
//! A pin replaces the CA and host name checks rather than adding to them:
//! that is what a pin is for (a self-signed server, reached by any name), and
//! it is stricter than both, as it accepts one certificate and no other.
//! `tls_min_version` sets native-tls's minimum protocol (1.2 by default;
//! 1.3 works with the OpenSSL backend used on Linux, not on macOS).
//!
//! The IMAP client ([`super::imap::client`]) and POP3 take the stream
//! built here.

use crate::config::{CertFingerprint, TlsVersion};
use anyhow::{anyhow, bail, Context, Result};
use native_tls::{Certificate, HandshakeError, Protocol, TlsConnector, TlsStream};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use super::tunnel::Tunnel;

/// A connection to a server, plain or encrypted.
#[derive(Debug)]
pub enum NetStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<SignalSafeTcp>>),
    /// A command's standard input and output (`tunnel:`).
    Tunnel(Box<Tunnel>),
}

/// The TCP stream under TLS, its reads and writes tried again when a
/// signal interrupts them. A socket with a read timeout (all of ours) is
/// not restarted by `SA_RESTART` (see signal(7)), and OpenSSL takes the
/// EINTR for a failure of the handshake or of the connection, where our
/// plain-text readers simply read again.
#[derive(Debug)]
pub struct SignalSafeTcp(TcpStream);

impl std::ops::Deref for SignalSafeTcp {
    type Target = TcpStream;

    fn deref(&self) -> &TcpStream {
        &self.0
    }
}

impl Read for SignalSafeTcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                done => return done,
            }
        }
    }
}

impl Write for SignalSafeTcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match self.0.write(buf) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                done => return done,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl NetStream {
    pub(crate) fn set_read_timeout_now(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            NetStream::Plain(tcp) => tcp.set_read_timeout(timeout),
            NetStream::Tls(tls) => tls.get_ref().set_read_timeout(timeout),
            NetStream::Tunnel(tunnel) => tunnel.set_timeout(timeout),
        }
    }
}

impl Read for NetStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            NetStream::Plain(tcp) => tcp.read(buf),
            NetStream::Tls(tls) => tls.read(buf),
            NetStream::Tunnel(tunnel) => tunnel.read(buf),
        }
    }
}

impl Write for NetStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            NetStream::Plain(tcp) => tcp.write(buf),
            NetStream::Tls(tls) => tls.write(buf),
            NetStream::Tunnel(tunnel) => tunnel.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            NetStream::Plain(tcp) => tcp.flush(),
            NetStream::Tls(tls) => tls.flush(),
            NetStream::Tunnel(tunnel) => tunnel.flush(),
        }
    }
}

/// Opens a TCP connection to `host:port`, trying each address the name
/// resolves to, and sets read and write timeouts on it.
pub fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
    let addresses: Vec<_> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot connect to {host}:{port}: cannot resolve the name"))?
        .collect();
    let mut last_error = None;
    for address in &addresses {
        match TcpStream::connect_timeout(address, timeout) {
            Ok(tcp) => {
                // Commands are pipelined: with Nagle's algorithm a command
                // written while the one before is unacknowledged would wait
                // for that acknowledgement, a round trip each. Every write
                // is a whole command (or literal), so nothing is gained by
                // holding it.
                tcp.set_read_timeout(Some(timeout))
                    .and_then(|()| tcp.set_write_timeout(Some(timeout)))
                    .and_then(|()| tcp.set_nodelay(true))
                    .with_context(|| format!("cannot set up the connection to {host}:{port}"))?;
                return Ok(tcp);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(match last_error {
        Some(e) => anyhow!("cannot connect to {host}:{port}: {}", describe_io_error(&e)),
        None => anyhow!("cannot connect to {host}:{port}: the name has no address"),
    })
}

/// A short lower-case reason for a socket error, as users know them.
pub fn describe_io_error(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset by the server".to_string(),
        io::ErrorKind::UnexpectedEof => "the server closed the connection".to_string(),
        _ => error.to_string(),
    }
}

/// What a server's certificate and protocol must satisfy.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsPolicy<'a> {
    /// Extra trust roots (PEM files).
    pub ca_file: &'a [PathBuf],
    /// When set, the certificate must have exactly this SHA-256, and roots
    /// and host name are not consulted.
    pub fingerprint: Option<&'a CertFingerprint>,
    pub min_version: TlsVersion,
}

/// Runs the TLS handshake on `tcp` and checks the certificate as `policy`
/// says. Each way to fail says which check failed.
pub fn secure(policy: &TlsPolicy<'_>, host: &str, port: u16, tcp: TcpStream) -> Result<NetStream> {
    let mut builder = TlsConnector::builder();
    builder.min_protocol_version(Some(match policy.min_version {
        TlsVersion::V1_2 => Protocol::Tlsv12,
        TlsVersion::V1_3 => Protocol::Tlsv13,
    }));
    for path in policy.ca_file {
        for certificate in read_pem_certificates(path)? {
            builder.add_root_certificate(certificate);
        }
    }
    if policy.fingerprint.is_some() {
        // The pin below is the whole check; see the module documentation.
        builder.danger_accept_invalid_certs(true);
        builder.danger_accept_invalid_hostnames(true);
    }
    let connector = builder
        .build()
        .context("cannot set up TLS (is the system's OpenSSL usable?)")?;
    let stream = wrap_tls(&connector, host, port, tcp)?;
    if let Some(pinned) = policy.fingerprint {
        check_pin(&stream, pinned, host, port)?;
    }
    Ok(stream)
}

/// Compares the server's leaf certificate with the pin, before a single
/// byte of ours (a password) is sent over the connection.
fn check_pin(stream: &NetStream, pinned: &CertFingerprint, host: &str, port: u16) -> Result<()> {
    let NetStream::Tls(tls) = stream else {
        bail!("{host}:{port}: tls_fingerprint is set but the connection is not encrypted");
    };
    let certificate = tls
        .peer_certificate()
        .with_context(|| format!("cannot read the TLS certificate of {host}:{port}"))?
        .ok_or_else(|| {
            anyhow!("{host}:{port} sent no TLS certificate to compare with tls_fingerprint")
        })?;
    let der = certificate
        .to_der()
        .with_context(|| format!("cannot read the TLS certificate of {host}:{port}"))?;
    let actual = certificate_fingerprint(&der);
    if actual != *pinned {
        bail!(
            "TLS certificate of {host}:{port} does not match tls_fingerprint: the server's is \
             {actual}, the config pins {pinned}"
        );
    }
    Ok(())
}

/// The SHA-256 of a certificate's DER bytes, as `tls_fingerprint` pins it.
pub fn certificate_fingerprint(der: &[u8]) -> CertFingerprint {
    use sha2::{Digest, Sha256};
    CertFingerprint(Sha256::digest(der).into())
}

/// Reads all certificates of a PEM file (a bundle may hold several).
fn read_pem_certificates(path: &Path) -> Result<Vec<Certificate>> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read ca_file {}", path.display()))?;
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut certificates = Vec::new();
    let mut rest = &pem[..];
    while let Some(start) = find(rest, BEGIN) {
        let Some(end) = find(&rest[start..], END) else {
            break;
        };
        let block = &rest[start..start + end + END.len()];
        let certificate = Certificate::from_pem(block).with_context(|| {
            format!(
                "ca_file {}: certificate number {} is not valid PEM",
                path.display(),
                certificates.len() + 1
            )
        })?;
        certificates.push(certificate);
        rest = &rest[start + end + END.len()..];
    }
    if certificates.is_empty() {
        anyhow::bail!(
            "ca_file {} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")",
            path.display()
        );
    }
    Ok(certificates)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Runs the TLS handshake on `tcp`, verifying the certificate for `host`.
fn wrap_tls(connector: &TlsConnector, host: &str, port: u16, tcp: TcpStream) -> Result<NetStream> {
    match connector.connect(host, SignalSafeTcp(tcp)) {
        Ok(tls) => Ok(NetStream::Tls(Box::new(tls))),
        Err(HandshakeError::Failure(e)) => Err(describe_tls_error(host, port, &e)),
        // Only non-blocking sockets can be interrupted mid-handshake; ours
        // block, but a timeout surfaces this way.
        Err(HandshakeError::WouldBlock(_)) => {
            Err(anyhow!("TLS handshake with {host}:{port} timed out"))
        }
    }
}

fn describe_tls_error(host: &str, port: u16, error: &native_tls::Error) -> anyhow::Error {
    let reason = error.to_string();
    let lower = reason.to_lowercase();
    if lower.contains("hostname mismatch") {
        anyhow!(
            "TLS certificate of {host}:{port} is not valid for the name {host}: {reason}; \
             use the name the certificate was issued for"
        )
    } else if lower.contains("unsupported protocol") || lower.contains("protocol version") {
        anyhow!(
            "TLS handshake with {host}:{port} failed: the server does not offer the TLS version \
             tls_min_version asks for: {reason}"
        )
    } else if lower.contains("certificate") || lower.contains("verify") {
        anyhow!(
            "TLS certificate of {host}:{port} does not verify: {reason}; \
             if the server uses a private CA set ca_file, or pin it with tls_fingerprint"
        )
    } else {
        anyhow!("TLS handshake with {host}:{port} failed: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_send_each_command_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let tcp = connect_tcp("127.0.0.1", port, Duration::from_secs(5)).unwrap();
        assert!(
            tcp.nodelay().unwrap(),
            "Nagle's algorithm would hold pipelined commands"
        );
    }

    /// Whether the thread `tid` of this process is asleep in a system call.
    fn asleep(tid: libc::pid_t) -> bool {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
            .ok()
            .and_then(|stat| {
                let (_, after_name) = stat.rsplit_once(") ")?;
                after_name.chars().next()
            })
            == Some('S')
    }

    #[test]
    fn a_signal_during_a_read_with_a_timeout_is_not_a_failure() {
        let _ = signal_hook::flag::register(
            libc::SIGUSR1,
            std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        // With a timeout the read is not restarted after the handler.
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let (started, reader) = std::sync::mpsc::channel();
        let reading = std::thread::spawn(move || {
            // SAFETY: pthread_self and gettid have no preconditions.
            started
                .send(unsafe { (libc::pthread_self(), libc::gettid()) })
                .unwrap();
            let mut stream = SignalSafeTcp(tcp);
            let mut buf = [0u8; 5];
            stream.read(&mut buf).map(|n| buf[..n].to_vec())
        });
        let (thread, tid) = reader.recv().unwrap();
        while !asleep(tid) {
            std::thread::yield_now();
        }
        // SAFETY: the thread is alive until it has read, which needs the
        // bytes written below.
        assert_eq!(unsafe { libc::pthread_kill(thread, libc::SIGUSR1) }, 0);
        server.write_all(b"hello").unwrap();
        assert_eq!(reading.join().unwrap().unwrap(), b"hello");
    }

    /// A port on 127.0.0.1 bound but never listened on, for as long as the
    /// returned socket lives: connecting to it is refused, and no other
    /// test can take it meanwhile (a listener bound and dropped frees its
    /// port for the next test that asks for any).
    fn refusing_port() -> (std::os::fd::OwnedFd, u16) {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket calls on a descriptor this function owns;
        // `address` and `length` outlive the calls that write them.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
            let socket = std::os::fd::OwnedFd::from_raw_fd(fd);
            let mut address: libc::sockaddr_in = std::mem::zeroed();
            address.sin_family = libc::AF_INET as libc::sa_family_t;
            address.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let mut length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let bound = libc::bind(fd, (&raw const address).cast(), length);
            assert_eq!(bound, 0, "bind: {}", io::Error::last_os_error());
            let named = libc::getsockname(fd, (&raw mut address).cast(), &mut length);
            assert_eq!(named, 0, "getsockname: {}", io::Error::last_os_error());
            (socket, u16::from_be(address.sin_port))
        }
    }

    #[test]
    fn refused_connection_names_server_and_reason() {
        let (_held, port) = refusing_port();
        let error = connect_tcp("127.0.0.1", port, Duration::from_secs(5)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("cannot connect to 127.0.0.1:{port}: connection refused")
        );
    }

    #[test]
    fn ca_file_without_certificates_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let error = read_pem_certificates(&path).err().unwrap();
        assert!(error.to_string().contains("ca.pem"), "{error}");
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
    }

    #[test]
    fn missing_ca_file_is_an_error_naming_it() {
        let error = read_pem_certificates(Path::new("/nonexistent/ca.pem"))
            .err()
            .unwrap();
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
    }
}
