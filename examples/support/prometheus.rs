//! The demo's metrics, in Prometheus text format, on a port of their own.
//!
//! tower-otp records through the `metrics` facade; this installs the
//! Prometheus recorder (metrics-exporter-prometheus) and serves what it
//! renders at `GET /metrics` on a loopback address, apart from the site so
//! that the site's visitors never see it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the recorder (once per process) and describes tower-otp's metrics.
pub(crate) fn install() -> Result<PrometheusHandle, Box<dyn std::error::Error>> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    tower_otp::metrics::describe();
    Ok(handle)
}

/// The `/metrics` router for `handle`.
pub(crate) fn router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    handle.render(),
                )
            }
        }),
    )
}

/// Serves `/metrics` on `addr` (a loopback address) until the process ends,
/// and keeps the histograms' windows rolling.
pub(crate) async fn serve(
    addr: SocketAddr,
    handle: PrometheusHandle,
) -> Result<(), Box<dyn std::error::Error>> {
    if !addr.ip().is_loopback() {
        return Err(format!(
            "OTP_METRICS_ADDR={addr}: the demo serves metrics on a loopback address only"
        )
        .into());
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    println!("  metrics (Prometheus): http://{addr}/metrics");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router(handle)).await {
            tracing::error!(%error, "the metrics listener stopped");
        }
    });
    Ok(())
}
