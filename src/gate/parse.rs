//! Gate actions parsed from form or JSON bodies.

use serde::Deserialize;

/// What a POST to the gate asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Send,
    Resend,
    Verify,
    Restart,
    Confirm,
}

impl Action {
    fn parse(name: &str) -> Option<Action> {
        Some(match name {
            "send" => Action::Send,
            "resend" => Action::Resend,
            "verify" => Action::Verify,
            "restart" => Action::Restart,
            "confirm" => Action::Confirm,
            _ => return None,
        })
    }
}

/// A parsed gate request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActionRequest {
    pub(crate) action: Action,
    pub(crate) email: Option<String>,
    pub(crate) code: Option<String>,
    pub(crate) csrf: Option<String>,
}

/// A body that is not a gate action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Parses `application/x-www-form-urlencoded`. Repeated fields are malformed.
pub(crate) fn from_form(body: &[u8]) -> Result<ActionRequest, Malformed> {
    let (mut action, mut email, mut code, mut csrf) = (None, None, None, None);
    for (name, value) in form_urlencoded::parse(body) {
        let slot = match &*name {
            "action" => &mut action,
            "email" => &mut email,
            "code" => &mut code,
            "csrf_token" => &mut csrf,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(Malformed);
        }
    }
    let action = action.as_deref().and_then(Action::parse).ok_or(Malformed)?;
    Ok(ActionRequest {
        action,
        email,
        code,
        csrf,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonBody {
    action: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// Parses the JSON API's body: unknown fields and a numeric code are malformed.
pub(crate) fn from_json(body: &[u8]) -> Result<ActionRequest, Malformed> {
    // Only an object: serde's derived struct would also take an array of the
    // fields in order (`["verify", "123456"]`), found by the fuzzer.
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(Malformed);
    }
    let parsed: JsonBody = serde_json::from_slice(body).map_err(|_| Malformed)?;
    let action = Action::parse(&parsed.action).ok_or(Malformed)?;
    Ok(ActionRequest {
        action,
        email: parsed.email,
        code: parsed.code,
        csrf: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_table() {
        let ok = from_form(b"action=verify&code=123+456&csrf_token=t").unwrap();
        assert_eq!(
            (ok.action, ok.code.as_deref(), ok.csrf.as_deref()),
            (Action::Verify, Some("123 456"), Some("t"))
        );
        let send = from_form(b"action=send&email=a%40b.jp&other=x").unwrap();
        assert_eq!(send.email.as_deref(), Some("a@b.jp"));
        for bad in [
            &b""[..],
            b"action=",
            b"action=launch",
            b"code=1",
            b"action=send&action=verify",
        ] {
            assert_eq!(
                from_form(bad),
                Err(Malformed),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn json_table() {
        assert_eq!(
            from_json(br#"{"action":"resend"}"#).unwrap().action,
            Action::Resend
        );
        assert_eq!(
            from_json(br#"{"action":"verify","code":"012345"}"#)
                .unwrap()
                .code
                .as_deref(),
            Some("012345")
        );
        for bad in [
            &br#"{"action":"verify","code":123456}"#[..],
            br#"{"action":"verify","extra":1}"#,
            br#"{"action":"nope"}"#,
            br#"[]"#,
            br#"["resend"]"#,
            br#"["verify", "123456"]"#,
            br#" ["send", "a@b.jp", null]"#,
            b"not json",
        ] {
            assert_eq!(
                from_json(bad),
                Err(Malformed),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
