//! Locking a bound ticket out through the real layer.

use std::time::Duration;

/// Twenty wrong codes in four rounds (a send every 301 s of the gate's
/// clock) lock new devices out of a bound ticket.
pub(crate) async fn lock_out(gate: &crate::common::Harness, id: &str) {
    let path = crate::common::ticket_path(id);
    let mut guesser = gate.browser();
    guesser.get(&path).await;
    for round in 0..4 {
        gate.advance(Duration::from_secs(301));
        let reply = guesser.post_form(&path, &[("action", "send")]).await;
        assert_eq!(reply.status.as_u16(), 303, "send {round}: {}", reply.body);
        for _ in 0..5 {
            guesser.get(&path).await;
            guesser
                .post_form(&path, &[("action", "verify"), ("code", "000000")])
                .await;
        }
    }
}
