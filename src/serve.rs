//! Serving an axum app with the bounds a public service needs (feature
//! `serve`, on by default): HTTP/1.1 and HTTP/2 through hyper-util's server
//! builder, a bound on how long any connection can stay open without a
//! request in progress, an accept queue sized for bursts, and a graceful
//! shutdown that drains the requests in flight. `axum::serve` sets none of
//! these bounds. Each request carries its connection's peer as axum's
//! `ConnectInfo<SocketAddr>`, where the gate reads the client's address
//! ([`ClientAddress::socket`](crate::ClientAddress::socket)).
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tower_otp::serve::{Bounds, bind, serve, shutdown_signal};
//!
//! # async fn run() -> std::io::Result<()> {
//! let app: Router = Router::new().route("/", get(|| async { "hello" }));
//! let listener = bind("127.0.0.1:3000".parse().unwrap())?;
//! serve(listener, app, Bounds::default(), shutdown_signal()?).await
//! # }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::Request;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};
use tower::ServiceExt as _;

/// How long a connection may take over each thing it does.
///
/// The defaults suit a router whose every response comes within 10 seconds
/// (a `TimeoutLayer`); each is written on its field.
///
/// ```
/// use std::time::Duration;
/// use tower_otp::serve::Bounds;
///
/// let bounds = Bounds {
///     drain: Duration::from_secs(30),
///     ..Bounds::default()
/// };
/// assert_eq!(bounds.header_read, Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Reading an HTTP/1 request's headers, the first request's included
    /// (default 5 s).
    pub header_read: Duration,
    /// A new connection's first request: a silent connection, an HTTP/2
    /// client that sends its preface and nothing more, or headers that never
    /// finish are closed after this (default 10 s).
    pub first_request: Duration,
    /// A connection with no request in progress (an HTTP/2 connection with
    /// no stream open) is closed after this. An HTTP/1 connection waiting
    /// for its next request is closed sooner, at `header_read`: hyper's
    /// header deadline runs from the end of the previous response
    /// (default 30 s).
    pub idle: Duration,
    /// HTTP/2: a PING after this much silence; no answer within as long
    /// again closes the connection (a peer that vanished with streams open;
    /// default 20 s).
    pub h2_keep_alive: Duration,
    /// On shutdown, the requests in flight get this long to finish; a
    /// connection still open then is dropped. Also how long a connection
    /// closed for idling gets to say goodbye (HTTP/2 GOAWAY; default 12 s).
    pub drain: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(5),
            first_request: Duration::from_secs(10),
            idle: Duration::from_secs(30),
            h2_keep_alive: Duration::from_secs(20),
            // The router answers every request within 10 s (its TimeoutLayer).
            drain: Duration::from_secs(12),
        }
    }
}

/// Connections the kernel may hold, handshake done, until the server
/// accepts them. `TcpListener::bind` asks for 128 (the standard library's
/// choice): a burst of more (a sale opening, a crowd at the doors) gets its
/// handshakes dropped and retried a second, then 3, 7 and 15 seconds later.
/// Linux caps it at `net.core.somaxconn` (4096 by default).
pub const BACKLOG: u32 = 4096;

/// A listener on `addr` with a [`BACKLOG`] fit for bursts of connections.
///
/// # Errors
/// The socket's: the address is in use, or not this machine's.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let listener = tower_otp::serve::bind("127.0.0.1:0".parse().unwrap())?;
/// assert!(listener.local_addr()?.port() > 0);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting, lets the requests in flight finish (each connection closes
/// after its current request) and returns once every connection is closed,
/// within `bounds.drain`.
///
/// # Errors
/// None so far: a failed accept (out of file descriptors, a connection
/// reset before it was accepted) is logged and the others are served.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    bounds: Bounds,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(bounds.header_read);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(bounds.h2_keep_alive)
        .keep_alive_timeout(bounds.h2_keep_alive);
    let builder = Arc::new(builder);
    let (stop, stopping) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors, or a connection reset before it
                // was accepted: keep serving the others.
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next() => continue,
            () = &mut shutdown => break,
        };
        connections.spawn(connection(
            builder.clone(),
            (stream, peer),
            app.clone(),
            bounds,
            stopping.clone(),
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    // Each connection closes itself within `drain`; this waits for them.
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// One connection, closed when it idles past its bound (no request in
/// progress: none started, or none since the last response was sent) or
/// when `stopping` turns true, after its requests in flight.
async fn connection(
    builder: Arc<Builder<TokioExecutor>>,
    (stream, peer): (tokio::net::TcpStream, SocketAddr),
    app: Router,
    bounds: Bounds,
    mut stopping: watch::Receiver<bool>,
) {
    // Requests in progress: from the call until the response body is sent
    // or dropped.
    let (busy, mut in_progress) = watch::channel(0usize);
    let busy = Arc::new(busy);
    let service =
        TowerToHyperService::new(tower::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let busy = busy.clone();
            busy.send_modify(|n| *n += 1);
            let guard = Busy(busy);
            let app = app.clone();
            async move {
                let response = app.oneshot(request).await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _ = &guard;
                        frame
                    }))
                }))
            }
        }));
    let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let mut idle_until = Some(Instant::now() + bounds.first_request);
    let ended = loop {
        tokio::select! {
            result = conn.as_mut() => break Some(result),
            () = sleep_until(idle_until.unwrap_or_else(Instant::now)), if idle_until.is_some() => {
                tracing::debug!("closing an idle connection");
                break None;
            }
            Ok(()) = in_progress.changed() => {
                idle_until = (*in_progress.borrow_and_update() == 0)
                    .then(|| Instant::now() + bounds.idle);
            }
            Ok(_) = stopping.wait_for(|stop| *stop) => break None,
        }
    };
    let closed = match ended {
        Some(result) => result,
        // Each request in flight is answered, then the connection closes
        // (HTTP/2: GOAWAY); what is still open after `drain` is dropped.
        None => {
            conn.as_mut().graceful_shutdown();
            timeout(bounds.drain, conn.as_mut())
                .await
                .unwrap_or_else(|_| {
                    tracing::debug!("dropped a connection that did not close in time");
                    Ok(())
                })
        }
    };
    if let Err(error) = closed {
        tracing::debug!(%error, "connection closed");
    }
}

/// One request in progress on a connection, until dropped.
struct Busy(Arc<watch::Sender<usize>>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// Completes on SIGTERM (what a service manager or an orchestrator sends)
/// or SIGINT (Ctrl-C): pass it to [`serve`], which then stops accepting and
/// drains the requests in flight.
///
/// # Errors
/// The signal handler could not be installed.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let stop = tower_otp::serve::shutdown_signal()?;
/// stop.await;
/// # Ok(())
/// # }
/// ```
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        let terminate = terminate.recv();
        #[cfg(not(unix))]
        let terminate = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        tracing::info!("shutting down: finishing the requests in flight");
    })
}
