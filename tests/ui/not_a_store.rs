// A flow over something that is not a store: the error says so and names
// the stores there are, not the trait the built-in stores share inside the
// crate.
use tower_otp::{testing::CapturingMailer, Flow, Secret};

fn main() {
    let url = "postgres://db.internal/shop";
    let _flow = Flow::new(&Secret::random(), url, CapturingMailer::new());
}
