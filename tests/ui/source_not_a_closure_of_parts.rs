// A closure that does not return `Option<TicketId>` is no ticket source: the
// error says what a source given to `with_ticket_source` must be.
use tower_otp::{testing::CapturingMailer, Flow, MemoryStore, OtpLayer, Secret};

fn main() {
    let flow = Flow::new(&Secret::random(), MemoryStore::new(), CapturingMailer::new());
    let _otp = OtpLayer::new(flow).with_ticket_source(|_: &http::request::Parts| "abc");
}
