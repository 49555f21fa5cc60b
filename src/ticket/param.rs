//! One named path parameter of the route axum matched, read through axum's
//! own [`Path`] extractor (for [`PathParam`](super::PathParam)).
//!
//! `RawPathParams`, the other public way to the parameters, hands back a
//! copy of the whole list: an allocation, a `memcpy` and four atomic
//! operations per request, on every verified request. `Path<T>` deserializes
//! `T` from the router's list in place, so a `T` that keeps only the one
//! value (copied into a [`TicketId`], inline for ids of up to 46 bytes)
//! costs none of them. And the value is, by construction, the one a
//! handler's `Path` extractor sees.
//!
//! serde builds `T` with no state of its own, so the name to look for
//! reaches the visitor through a thread-local slot, set just before the
//! extraction on the same thread and read synchronously inside it.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use futures_util::FutureExt as _;
use http::request::Parts;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::TicketId;
use super::id::valid_id;

/// What the matched route's parameters hold under one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Param {
    /// A valid ticket id.
    Id(TicketId),
    /// A value that is not a ticket id (empty, too long, control characters).
    Invalid,
    /// A parameter of the route was not UTF-8 once percent-decoded.
    InvalidUtf8,
    /// The route has no parameter of that name.
    Missing,
    /// The request carries no parameters: it was not routed by axum.
    OutsideRouting,
    /// axum refused in a way this version does not know (fails closed). Its
    /// text is not kept: a rejection may quote a value, a ticket id.
    Unreadable,
}

thread_local! {
    /// The name [`read`] is looking for, for the [`Wanted`] visitor.
    static NAME: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// The parameter `name` of the route that matched `parts`.
pub(super) fn read(parts: &mut Parts, name: &Arc<str>) -> Param {
    NAME.with_borrow_mut(|wanted| {
        // The same layer asks again and again: keep its `Arc` (no atomics).
        if !wanted.as_ref().is_some_and(|w| Arc::ptr_eq(w, name)) {
            *wanted = Some(Arc::clone(name));
        }
    });
    // `Path` only reads extensions: its future is ready at once.
    match Path::<Wanted>::from_request_parts(parts, &()).now_or_never() {
        Some(Ok(Path(Wanted(param)))) => param,
        Some(Err(PathRejection::MissingPathParams(_))) => Param::OutsideRouting,
        Some(Err(PathRejection::FailedToDeserializePathParams(error))) => {
            if matches!(error.kind(), ErrorKind::InvalidUtf8InPathParam { .. }) {
                Param::InvalidUtf8
            } else {
                Param::Unreadable
            }
        }
        Some(Err(_)) | None => Param::Unreadable,
    }
}

/// The deserialization target: the one value under the wanted name.
struct Wanted(Param);

impl<'de> de::Deserialize<'de> for Wanted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(WantedVisitor)
    }
}

struct WantedVisitor;

impl<'de> Visitor<'de> for WantedVisitor {
    type Value = Wanted;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the path parameters")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Wanted, A::Error> {
        NAME.with_borrow(|name| {
            let name = name.as_deref().unwrap_or_default();
            let mut found = Param::Missing;
            // The first parameter of that name counts, as it did when the
            // copied list was searched.
            while let Some(is_it) = map.next_key_seed(KeyIs(name))? {
                if is_it && found == Param::Missing {
                    found = map.next_value_seed(Value)?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Wanted(found))
        })
    }
}

/// A key, compared with the wanted name.
struct KeyIs<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a parameter name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// The wanted value, percent-decoded by axum.
struct Value;

impl<'de> DeserializeSeed<'de> for Value {
    type Value = Param;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Param, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Value {
    type Value = Param;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a ticket id")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Param, E> {
        Ok(if valid_id(value) {
            Param::Id(TicketId::new(value))
        } else {
            Param::Invalid
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// What `read` finds for `name` on `route` at `path`, from inside the
    /// route (as `Router::route_layer` sees the request).
    async fn read_at(route: &str, path: &str, name: &str) -> Param {
        let name: Arc<str> = Arc::from(name);
        let (tx, rx) = std::sync::mpsc::channel();
        let app = Router::new().route(
            route,
            get(move |request: axum::extract::Request| {
                let (mut parts, _) = request.into_parts();
                tx.send(read(&mut parts, &name)).unwrap();
                async {}
            }),
        );
        let request = http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let status = app.oneshot(request).await.unwrap().status();
        assert_eq!(status, http::StatusCode::OK, "{route} {path}");
        rx.try_recv().unwrap()
    }

    fn id(id: &str) -> Param {
        Param::Id(TicketId::new(id))
    }

    #[tokio::test]
    async fn reads_the_named_parameter_as_path_decodes_it() {
        let long = "a".repeat(300);
        let long_path = format!("/t/{long}");
        let cases = [
            ("/t/{ticket}", "/t/abc", "ticket", id("abc")),
            ("/t/{ticket}", "/t/%61bc", "ticket", id("abc")),
            ("/t/{ticket}", "/t/a%2Fb", "ticket", id("a/b")),
            ("/t/{ticket}", "/t/%E3%83%81", "ticket", id("チ")),
            ("/{a}/{ticket}/{b}", "/x/abc/y", "ticket", id("abc")),
            ("/{ticket}/{b}", "/abc/y", "b", id("y")),
            ("/t/{ticket}/{*rest}", "/t/abc/x/y", "ticket", id("abc")),
            ("/t/{ticket}", "/t/abc", "tick", Param::Missing),
            ("/t/{ticket}", "/t/abc", "", Param::Missing),
            ("/t/{ticket}", "/t/a%0Ab", "ticket", Param::Invalid),
            ("/t/{ticket}", long_path.as_str(), "ticket", Param::Invalid),
            ("/t/{ticket}", "/t/%FF", "ticket", Param::InvalidUtf8),
            // Another parameter's bad UTF-8 fails the whole list, as in `Path`.
            ("/{a}/{ticket}", "/%FF/abc", "ticket", Param::InvalidUtf8),
            ("/t", "/t", "ticket", Param::Missing),
        ];
        for (route, path, name, want) in cases {
            assert_eq!(
                read_at(route, path, name).await,
                want,
                "{route} {path} {name}"
            );
        }
    }

    #[test]
    fn outside_routing_there_are_no_parameters() {
        let (mut parts, ()) = http::Request::get("/t/abc").body(()).unwrap().into_parts();
        assert_eq!(
            read(&mut parts, &Arc::from("ticket")),
            Param::OutsideRouting
        );
    }

    /// Two layers with different names on one thread never see each other's.
    #[tokio::test]
    async fn the_name_follows_each_call() {
        for _ in 0..3 {
            assert_eq!(read_at("/{a}/{b}", "/x/y", "a").await, id("x"));
            assert_eq!(read_at("/{a}/{b}", "/x/y", "b").await, id("y"));
        }
    }
}
