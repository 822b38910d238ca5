//! Network partitions between the nodes of a [`NatsCluster`](crate::NatsCluster): every route
//! connection goes through a TCP proxy of its own (one per ordered pair of nodes), which can be
//! cut — its connections closed, new ones refused — and healed.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::{Error, Result};

/// A TCP forwarder from a loopback port to a target port that can be cut and healed.
#[derive(Debug)]
pub struct RouteProxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    cut: AtomicBool,
    stop: AtomicBool,
    /// Both ends of every connection forwarded, to close them on a cut.
    open: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn close_all(&self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for s in open.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl RouteProxy {
    /// Listens on a free loopback port and forwards every connection to `127.0.0.1:target`.
    ///
    /// # Errors
    /// If no port can be bound or the thread cannot be started.
    pub fn start(target: u16) -> Result<RouteProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| Error::io("binding a route proxy".to_owned(), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("reading a route proxy's port".to_owned(), e))?
            .port();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name(format!("route-proxy-{port}"))
            .spawn(move || accept_loop(&listener, target, &s))
            .map_err(|e| Error::io("starting a route proxy".to_owned(), e))?;
        Ok(RouteProxy {
            port,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every forwarded connection and refuses new ones until [`RouteProxy::heal`].
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shared.close_all();
    }

    /// Forwards new connections again.
    pub fn heal(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for RouteProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.close_all();
        // Wake the acceptor up.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, target: u16, shared: &Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = incoming else { continue };
        if shared.cut.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        {
            let mut open = shared
                .open
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for s in [&client, &server] {
                if let Ok(s) = s.try_clone() {
                    open.push(s);
                }
            }
        }
        for (mut from, mut to) in [(client, s2), (server, c2)] {
            let _ = std::thread::Builder::new()
                .name("route-proxy-copy".into())
                .spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                });
        }
    }
}
