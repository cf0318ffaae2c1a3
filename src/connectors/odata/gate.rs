//! The write gate asked once more at the last moment. A request that writes is let go only
//! while the run may still hold its lease, and asked again when its connection takes its body
//! to send it: between the two it may wait in this very process (for a connection to open, or
//! for the runtime to get to it), and a process frozen there (a paused virtual machine, a
//! stopped process) would otherwise send it when it wakes — long after the worker that took
//! its unit over looked for that write and found nothing. Shut by then, the service gets at
//! most a head without its body, which no server carries out.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::connectors::WriteGate;

/// A write's body, handed over only while its gate is open.
pub(super) struct GatedBody {
    data: Option<Bytes>,
    gate: WriteGate,
}

impl GatedBody {
    pub(super) fn new(data: Vec<u8>, gate: WriteGate) -> GatedBody {
        GatedBody {
            data: Some(Bytes::from(data)),
            gate,
        }
    }
}

impl http_body::Body for GatedBody {
    type Data = Bytes;
    type Error = GateShut;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, GateShut>>> {
        let Some(data) = self.data.take() else {
            return Poll::Ready(None);
        };
        if !(self.gate)() {
            return Poll::Ready(Some(Err(GateShut)));
        }
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    // Exact, so the request says its `Content-Length` as an unwrapped body would.
    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

/// The gate shut before the body left.
#[derive(Debug, thiserror::Error)]
#[error("the write gate shut before the request's body was sent")]
pub(super) struct GateShut;

/// Whether a request failed because its gate shut before its body left.
pub(super) fn shut(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<GateShut>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn gated(open: &Arc<AtomicBool>) -> GatedBody {
        let open = open.clone();
        GatedBody::new(
            b"{}".to_vec(),
            Arc::new(move || open.load(Ordering::SeqCst)),
        )
    }

    #[tokio::test]
    async fn a_body_leaves_while_the_gate_is_open_and_not_once_it_shut() {
        let open = Arc::new(AtomicBool::new(true));
        let body = gated(&open);
        assert_eq!(body.size_hint().exact(), Some(2));
        let sent = body.collect().await.expect("open").to_bytes();
        assert_eq!(&sent[..], b"{}");
        // Shut between the request's start and its body's turn: nothing of it leaves.
        let body = gated(&open);
        open.store(false, Ordering::SeqCst);
        assert!(body.collect().await.is_err());
    }
}
