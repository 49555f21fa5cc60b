//! Checklist 15.1/15.2: a full flow logs every step, and the logs never hold a
//! code, a device token, a raw ticket id or a full e-mail address.

mod common;

use common::{Harness, Logs};

#[tokio::test]
async fn a_full_flow_logs_no_secrets() {
    let (capture, _guard) = Logs::capture_at(tracing::Level::TRACE);

    const TICKET: &str = "SecretTicket-4242";
    let path = format!("/tickets/{TICKET}");
    let h = Harness::new();
    let mut owner = h.browser();
    owner.open(&path).await;
    let mut b = h.browser();
    b.get(&path).await;
    // An address with a newline cannot forge a log line: it is refused, and not logged raw.
    b.submit(
        &path,
        &[("action", "send"), ("email", "x@evil.test\nFAKE LOG LINE")],
    )
    .await;
    b.submit(
        &path,
        &[("action", "send"), ("email", "Hanako.Yamada@example.jp")],
    )
    .await;
    let code = h.last_code();
    b.submit(&path, &[("action", "verify"), ("code", "000000")])
        .await;
    let reply = b
        .post_form(&path, &[("action", "verify"), ("code", &code)])
        .await;
    let token = reply.device_cookie().expect("verified").value().to_owned();
    let owner_token = owner
        .cookie_header(&path)
        .unwrap_or_default()
        .split("; ")
        .filter_map(|pair| pair.split_once('='))
        .map(|(_, value)| value.to_owned())
        .find(|v| v.len() > 100)
        .expect("owner token");

    let logs = capture.text();
    for (what, secret) in [
        ("the code", code.as_str()),
        ("the device token", token.as_str()),
        ("the first device's token", owner_token.as_str()),
        ("the raw ticket id", TICKET),
        ("the full address", "Hanako.Yamada@example.jp"),
        ("the local part", "Hanako.Yamada"),
    ] {
        assert!(!logs.contains(secret), "the logs contain {what}:\n{logs}");
    }
    assert!(
        !logs.lines().any(|l| l.starts_with("FAKE LOG LINE")),
        "log injection:\n{logs}"
    );
    // Every step was logged.
    for event in [
        "first device claimed",
        "code sent",
        "wrong code",
        "device verified",
    ] {
        assert!(logs.contains(event), "no `{event}` event:\n{logs}");
    }
}
