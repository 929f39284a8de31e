//! Reads what is left of a request's body once its answer is ready, so that the connection
//! stays open and the client reads the answer.
//!
//! A handler often answers before reading the body: an unknown key (401), a client system on a
//! person's route (403), a body over the limit (413). hyper then drains only what has already
//! arrived and otherwise closes the connection as soon as the answer is written, without a word
//! to the client: one still sending its body, or already sending its next request on the same
//! connection, meets a connection closed under it ("EOF occurred in violation of protocol")
//! instead of the answer. So the rest is read and dropped here, up to [`DRAIN_LIMIT`] bytes and
//! for at most [`DRAIN_TIME`]; a body larger or slower than that gets the answer with
//! `Connection: close`, which a client reads before it would reuse the connection.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// The most of a body left unread that is read to keep the connection.
pub const DRAIN_LIMIT: u64 = 1024 * 1024;
/// The longest a body left unread is read to keep the connection.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Middleware: runs the request, then drains its body if the handler left some of it unread.
pub async fn drain_unread_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let left = Arc::new(Mutex::new(None));
    let body = Body::new(Returned { inner: Some(body), left: Arc::clone(&left) });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    // The handler's body is dropped by now, unless it still streams it elsewhere.
    let unread = left.lock().map(|mut slot| slot.take()).unwrap_or(None);
    if let Some(unread) = unread
        && !drain(unread).await
    {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads `body` to its end within the limits; whether it got there.
async fn drain(mut body: Body) -> bool {
    if body.is_end_stream() {
        return true;
    }
    if body.size_hint().lower() > DRAIN_LIMIT {
        return false;
    }
    let read = async {
        let mut total = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            total += frame.data_ref().map_or(0, |d| d.len() as u64);
            if total > DRAIN_LIMIT {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, read).await.unwrap_or(false)
}

/// The body a handler sees: the request's, handed back to the middleware when dropped.
struct Returned {
    inner: Option<Body>,
    left: Arc<Mutex<Option<Body>>>,
}

impl HttpBody for Returned {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        if let (Some(inner), Ok(mut slot)) = (self.inner.take(), self.left.lock()) {
            *slot = Some(inner);
        }
    }
}
