// A layer that was never told where the ticket is cannot wrap a route: the
// error names `with_ticket_param` and `with_ticket_path`.
use axum::{Router, routing::get};
use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};

fn main() {
    let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    let _app: Router = Router::new()
        .route("/orders/{id}", get(|| async { "order" }))
        .route_layer(OtpLayer::new(flow));
}
