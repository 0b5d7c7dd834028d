//! Responses in Polygon's shapes (envelopes, pages, errors).

use super::*;

#[derive(Serialize)]
pub(super) struct Status<'a> {
    pub(super) status: &'static str,
    pub(super) request_id: &'static str,
    pub(super) message: &'a str,
}

#[derive(Serialize)]
pub(super) struct ErrorBody {
    pub(super) status: &'static str,
    pub(super) request_id: &'static str,
    pub(super) error: String,
}

#[derive(Serialize)]
pub(super) struct One<'a, T> {
    pub(super) status: &'static str,
    pub(super) request_id: &'static str,
    pub(super) results: &'a T,
}

/// The envelope of a page of models; pages are written from JSON text
/// ([`raw_page_reply`]), and tests check that the two agree.
#[cfg(test)]
#[derive(Serialize)]
pub(super) struct Page<'a, T> {
    pub(super) status: &'static str,
    pub(super) request_id: &'static str,
    pub(super) results: Vec<&'a T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next_url: Option<String>,
}

#[cfg(test)]
pub(super) fn page_reply<T: Serialize>(results: Vec<&T>, next_url: Option<String>) -> Response {
    reply(200, &Page { status: "OK", request_id: REQUEST_ID, results, next_url })
}

pub(super) const OK_PREFIX: &str = concat!(r#"{"status":"OK","request_id":""#, "replay", r#"","results":"#);

pub(super) fn json_response(status: u16, body: Vec<u8>) -> Response {
    Response { status, headers: vec![("content-type".to_string(), "application/json".to_string())], body }
}

/// A page whose items are JSON text already (a chain's contracts as on the
/// tape, trades as written when they arrived): the envelope serde writes
/// for a page of models (`status`, `request_id`, `results`, then
/// `next_url` if any), with the items copied in.
pub(super) fn raw_page_reply<'a>(items: impl Iterator<Item = &'a str>, next_url: Option<String>) -> Response {
    let mut body = Vec::with_capacity(1 << 16);
    body.extend_from_slice(OK_PREFIX.as_bytes());
    body.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item.as_bytes());
    }
    body.push(b']');
    if let Some(url) = next_url {
        body.extend_from_slice(br#","next_url":"#);
        // A String always serialises.
        let _ = serde_json::to_writer(&mut body, &url);
    }
    body.push(b'}');
    json_response(200, body)
}

/// [`One`] around a contract that is JSON text already.
pub(super) fn raw_one_reply(item: &str) -> Response {
    let mut body = Vec::with_capacity(OK_PREFIX.len() + item.len() + 1);
    body.extend_from_slice(OK_PREFIX.as_bytes());
    body.extend_from_slice(item.as_bytes());
    body.push(b'}');
    json_response(200, body)
}

pub(super) fn reply<T: Serialize>(status: u16, body: &T) -> Response {
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    match serde_json::to_vec(body) {
        Ok(body) => Response { status, headers, body },
        Err(e) => Response {
            status: 500,
            headers,
            body: format!(r#"{{"status":"ERROR","request_id":"{REQUEST_ID}","error":"cannot encode: {e}"}}"#)
                .into_bytes(),
        },
    }
}
