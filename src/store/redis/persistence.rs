//! Whether the Redis servers keep their data over a restart, read from
//! their own settings: an append-only file (`appendonly yes`) or snapshots
//! (`save` with at least one rule). Without either, a restarted Redis has
//! forgotten every claim and binding.

use redis::{ConnectionInfo, Value};

/// Whether every node persists. A node whose settings cannot be read (a
/// managed service may refuse `CONFIG`) counts as one that does not: the
/// answer only decides whether a warning is logged.
pub(super) async fn all_persist(nodes: &[ConnectionInfo]) -> bool {
    for info in nodes {
        match node_persists(info).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    node = %info.addr(),
                    "tower-otp: this Redis keeps nothing over a restart (no appendonly, no save \
                     rules): after one, every claim and binding is gone"
                );
                return false;
            }
            Err(error) => {
                tracing::warn!(
                    node = %info.addr(),
                    %error,
                    "tower-otp: cannot read this Redis's persistence settings; taking it for one \
                     that keeps nothing over a restart"
                );
                return false;
            }
        }
    }
    true
}

async fn node_persists(info: &ConnectionInfo) -> Result<bool, redis::RedisError> {
    let client = redis::Client::open(info.clone())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let appendonly: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query_async(&mut connection)
        .await?;
    let save: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query_async(&mut connection)
        .await?;
    Ok(
        setting(&appendonly).is_some_and(|v| v.eq_ignore_ascii_case("yes"))
            || setting(&save).is_some_and(|v| !v.trim().is_empty()),
    )
}

/// The value of a `CONFIG GET` reply (a name and value pair, as an array
/// or, over RESP3, a map).
fn setting(reply: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    match reply {
        Value::Array(items) => items.get(1).and_then(text),
        Value::Map(pairs) => pairs.first().and_then(|(_, v)| text(v)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_replies_are_read_in_both_forms() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let array = Value::Array(vec![bulk("save"), bulk("3600 1")]);
        assert_eq!(setting(&array).as_deref(), Some("3600 1"));
        let map = Value::Map(vec![(bulk("appendonly"), bulk("yes"))]);
        assert_eq!(setting(&map).as_deref(), Some("yes"));
        assert_eq!(setting(&Value::Nil), None);
    }
}
