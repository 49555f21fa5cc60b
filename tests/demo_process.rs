//! The demo as a process: SIGTERM or SIGINT drains the request in flight
//! (it gets its answer) and the demo exits 0 within its drain bound; a
//! start-up error names the address or path and the setting involved; the
//! README's two-instance example gives each instance ports of its own.
//!
//! The test builds the demo (`cargo build --example demo`, with this test's
//! features), as `tests/demo_restart.rs` does.

#![cfg(all(feature = "sqlite", feature = "axum", feature = "smtp"))]

mod demo_binary;

use demo_binary::demo_binary;
mod needs;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The demo on a fresh SQLite file in `dir`, with `env` set as well.
fn demo(dir: &Path, port: u16, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(demo_binary());
    command
        .env("OTP_DEMO_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "OTP_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.join("demo.db").display()),
        )
        .env("OTP_SECRET", SECRET)
        .env("OTP_METRICS_ADDR", "off")
        .env("RUST_LOG", "warn")
        .env_remove("OTP_REDIS_URL")
        .env_remove("OTP_SMTP_URL")
        .env_remove("OTP_MAIL_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn wait_until_listening(child: &mut Child, port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the demo exited at start"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the demo did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits up to `bound` for `child` to exit.
fn exit_within(child: &mut Child, bound: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < bound {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn sigterm_drains_the_request_in_flight_and_exits_0() {
    drains_on("-TERM");
}

#[test]
fn sigint_drains_the_request_in_flight_and_exits_0() {
    drains_on("-INT");
}

/// Sends `signal` while a purchase is in flight: it is answered, no new
/// connection is accepted, and the demo exits 0.
fn drains_on(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = demo(dir.path(), port, &[("OTP_DRAIN_TIMEOUT_SECS", "5")])
        .spawn()
        .unwrap();
    wait_until_listening(&mut child, port);

    // A purchase whose body is half sent: in flight when the signal arrives.
    let body = "email=drain%40example.com";
    let (first, rest) = body.split_at(10);
    let mut buying = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        buying,
        "POST /buy HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the demo waits for the request in flight"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no new connection is accepted while draining"
    );

    buying.write_all(rest.as_bytes()).unwrap();
    buying
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = String::new();
    buying.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 303"),
        "the purchase in flight is answered: {response:?}"
    );

    let status = exit_within(&mut child, Duration::from_secs(10)).unwrap_or_else(|| {
        child.kill().unwrap();
        panic!("the demo did not exit within 10 s of {signal}")
    });
    assert!(status.success(), "the demo exits 0 on {signal}: {status:?}");
}

/// What the demo printed on stderr before it exited (within 60 s).
fn start_up_error(mut command: Command) -> String {
    let mut child = command.spawn().unwrap();
    let status = exit_within(&mut child, Duration::from_secs(60)).unwrap_or_else(|| {
        child.kill().unwrap();
        panic!("the demo started")
    });
    assert!(!status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

#[test]
fn start_up_errors_name_the_address_or_path_and_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();

    let stderr = start_up_error(demo(dir.path(), port, &[]));
    assert!(
        stderr.contains(&format!("cannot bind 127.0.0.1:{port} (OTP_DEMO_ADDR)")),
        "{stderr}"
    );

    let metrics = format!("127.0.0.1:{port}");
    let stderr = start_up_error(demo(
        dir.path(),
        free_port(),
        &[("OTP_METRICS_ADDR", &metrics)],
    ));
    assert!(
        stderr.contains(&format!("{metrics} (OTP_METRICS_ADDR)")),
        "{stderr}"
    );

    let missing = dir.path().join("no-such-dir").join("demo.db");
    let url = format!("sqlite://{}?mode=rwc", missing.display());
    let stderr = start_up_error(demo(dir.path(), free_port(), &[("OTP_DATABASE_URL", &url)]));
    assert!(
        stderr.contains(&format!("{url} (OTP_DATABASE_URL)")),
        "{stderr}"
    );
}

/// The `VAR=value` settings of each command in the README's two-instance
/// example (the `sh` block after "Two demo processes sharing").
fn readme_two_instances() -> Vec<Vec<(String, String)>> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = &readme[readme
        .find("Two demo\nprocesses sharing")
        .expect("the example")..];
    let start = section.find("```sh\n").expect("its block") + "```sh\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    block
        .lines()
        .filter(|line| line.contains("cargo run --example demo"))
        .map(|line| {
            line.split_whitespace()
                .take_while(|word| *word != "cargo")
                .filter_map(|word| word.split_once('='))
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect()
        })
        .collect()
}

#[test]
fn the_readme_two_instances_listen_on_ports_of_their_own() {
    let instances = readme_two_instances();
    assert_eq!(instances.len(), 2, "{instances:?}");
    let setting = |instance: &Vec<(String, String)>, name: &str, default: &str| {
        instance
            .iter()
            .find(|(n, _)| n == name)
            .map_or(default.to_owned(), |(_, v)| v.clone())
    };
    for (name, default) in [
        ("OTP_DEMO_ADDR", "127.0.0.1:3000"),
        ("OTP_METRICS_ADDR", "127.0.0.1:9464"),
    ] {
        let [a, b] = [&instances[0], &instances[1]].map(|i| setting(i, name, default));
        assert!(
            a != b || a == "off",
            "both instances of the README's example take {name}={a}"
        );
    }
}

/// Runs the README's two-instance example, as written (its ports), on
/// `OTP_TEST_DATABASE_URL`: both instances start and serve.
#[cfg(feature = "postgres")]
#[test]
fn the_readme_two_instances_both_serve() {
    let Some(url) = std::env::var("OTP_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        needs::missing("PostgreSQL: set OTP_TEST_DATABASE_URL=postgres://…");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut children = Vec::new();
    for instance in readme_two_instances() {
        let mut command = demo(dir.path(), 0, &[("OTP_DATABASE_URL", &url)]);
        command.env_remove("OTP_METRICS_ADDR");
        for (name, value) in &instance {
            command.env(name, value);
        }
        let port: u16 = instance
            .iter()
            .find(|(n, _)| n == "OTP_DEMO_ADDR")
            .and_then(|(_, v)| v.rsplit(':').next()?.parse().ok())
            .expect("an OTP_DEMO_ADDR port");
        let child = command.spawn().unwrap();
        children.push((child, port));
    }
    for (child, port) in &mut children {
        wait_until_listening(child, *port);
    }
    // An instance that fails after binding its port (its metrics port
    // taken) exits within this.
    std::thread::sleep(Duration::from_secs(2));
    for (child, port) in &mut children {
        let mut home = TcpStream::connect(("127.0.0.1", *port)).unwrap();
        write!(
            home,
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        home.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response:?}");
        assert!(child.try_wait().unwrap().is_none(), "both keep serving");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
