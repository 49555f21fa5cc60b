//! The form and JSON action parsers: never a panic; a parsed form written
//! back parses to the same action; JSON never carries a CSRF field, and its
//! code is only ever a string.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_otp::__fuzz;

fuzz_target!(|data: &[u8]| {
    if let Some(form) = __fuzz::from_form(data) {
        let mut out = Vec::new();
        out.push(format!("action={}", form.action));
        for (name, value) in [
            ("email", &form.email),
            ("code", &form.code),
            ("csrf_token", &form.csrf),
        ] {
            if let Some(value) = value {
                let value: String = percent_encoding::utf8_percent_encode(
                    value,
                    percent_encoding::NON_ALPHANUMERIC,
                )
                .collect();
                out.push(format!("{name}={value}"));
            }
        }
        let again = __fuzz::from_form(out.join("&").as_bytes());
        assert_eq!(again.as_ref(), Some(&form), "form round trip");
    }
    if let Some(json) = __fuzz::from_json(data) {
        assert!(json.csrf.is_none());
        let value: serde_json::Value = serde_json::from_slice(data).expect("accepted JSON parses");
        let object = value.as_object().expect("only an object is an action");
        assert_eq!(object["action"].as_str(), Some(json.action));
        let mut again = serde_json::json!({ "action": json.action });
        if let Some(email) = &json.email {
            again["email"] = email.as_str().into();
        }
        if let Some(code) = &json.code {
            again["code"] = code.as_str().into();
        }
        let again = __fuzz::from_json(again.to_string().as_bytes());
        assert_eq!(again.as_ref(), Some(&json), "JSON round trip");
    }
});
