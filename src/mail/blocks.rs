//! What a message body is made of, between its wording (`catalog`) and its
//! text and HTML forms (`render`): blocks, and the site as it is named.

/// A piece of a message body.
#[derive(Debug)]
pub(super) enum Block {
    /// A paragraph.
    Para(String),
    /// A labelled value on its own line (`Ticket: ...`).
    Field(String, String),
    /// The code, set apart.
    Code(String),
    /// A link (an `http://` or `https://` URL, checked by `render`), on a
    /// line of its own in the text body and a link in the HTML body.
    Link(String),
}

/// The site as the message names it (both values already on one line).
#[derive(Debug)]
pub(super) struct Site {
    pub(super) name: String,
    pub(super) origin: Option<String>,
}
