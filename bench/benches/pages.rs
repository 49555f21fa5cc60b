//! The challenge page's render time, per language, beside a baseline in the
//! same run.
//!
//! `cargo bench -p tower-otp-bench --bench pages -- --warm-up-time 1 --measurement-time 3`
//!
//! - `render/<lang>`: `DefaultPages::render` of the challenge page with a
//!   code sent (the state most pages are seen in), the language switch and a
//!   ticket hint, as the gate renders it;
//! - `render/confirm_en`: the smallest page (no challenge);
//! - `baseline/format_1kb`: `format!` of a 1 KiB string, for scale.

// `criterion_group!` defines an undocumented `pub fn`.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tower_otp::pages::{DefaultPages, PageContext, PageKind, Pages};
use tower_otp::{
    Flow, Locale, MemoryStore, Secret, TicketId, flow::Challenge, flow::SendRequest,
    testing::CapturingMailer,
};

/// A challenge with a code sent, as the page after Send shows it.
fn code_sent() -> Challenge {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let flow = Flow::new(
            &Secret::random(),
            MemoryStore::new(),
            CapturingMailer::new(),
        );
        let ticket = flow.ticket_key(&TicketId::new("A7x9Qz-2026-LIVE"));
        flow.send(
            &ticket,
            SendRequest::new(Locale::Ja).with_email("hanako@example.jp"),
        )
        .await
        .unwrap();
        flow.challenge(&ticket).await.unwrap()
    })
}

fn bench(c: &mut Criterion) {
    let pages = DefaultPages::new().with_site_name("Demo Tickets");
    let challenge = code_sent();
    let links: Vec<(Locale, String)> = Locale::ALL
        .iter()
        .map(|l| {
            (
                *l,
                format!("/tickets/A7x9Qz-2026-LIVE?otp_lang={}", l.tag()),
            )
        })
        .collect();
    let links: Vec<(Locale, &str)> = links.iter().map(|(l, u)| (*l, u.as_str())).collect();
    let mut group = c.benchmark_group("render");
    for locale in Locale::ALL {
        let page = PageContext::new(
            PageKind::Challenge,
            locale,
            "/tickets/A7x9Qz-2026-LIVE",
            "POjIV7UGhMycxpPkTSOgUg",
            "EmeZz0HVcq7WDmjbXXc5cg",
        )
        .with_challenge(&challenge)
        .with_language_links(&links)
        .with_ticket_hint(Some("Tokyo Dome — Winter Live"));
        group.bench_function(locale.tag(), |b| b.iter(|| pages.render(black_box(&page))));
    }
    let confirm = PageContext::new(
        PageKind::Confirm,
        Locale::En,
        "/tickets/A7x9Qz-2026-LIVE",
        "POjIV7UGhMycxpPkTSOgUg",
        "EmeZz0HVcq7WDmjbXXc5cg",
    );
    group.bench_function("confirm_en", |b| {
        b.iter(|| pages.render(black_box(&confirm)))
    });
    group.finish();
    let filler = "x".repeat(1024);
    c.bench_function("baseline/format_1kb", |b| {
        b.iter(|| format!("<p>{}</p>", black_box(&filler)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
