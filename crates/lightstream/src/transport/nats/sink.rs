//! The publisher: a writer's messages as NATS messages on the feed's
//! subjects, cut into parts where the server's `max_payload` requires
//! (`wire.rs` says how).
//!
//! Core NATS: each part is handed to the client (whose bounded channel is
//! the backpressure); `finish` flushes. JetStream: each part is published
//! with a `Nats-Msg-Id` of its own, at most `max_unacked` wait for their
//! acknowledgements; when one fails (a server restart), every unacknowledged
//! part is sent again in order with the same id, and the server's
//! de-duplication drops those it had stored already.
//!
//! What it is not: the restate of the schema and dictionaries for late
//! joiners (a JetStream joiner reads from the stream's last schema instead).

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishAckFuture;
use bytes::Bytes;
use lightstream_core::EncodedMessage;

use super::wire::{self, LsHeaders};
use super::{Feed, feed_stream, jetstream};
use crate::error::{Error, NatsProblem, Result};
use crate::writer::{Limit, MessageSink, SendError, SinkFuture};

/// The end-of-stream marker as our writers send it.
const END_MARKER: [u8; 8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];

/// How long a JetStream writer keeps re-sending unacknowledged messages
/// (a server restart) when the writer has no write timeout.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// A part published to JetStream and not acknowledged yet: kept to be sent
/// again.
struct InFlight {
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
    ack: Option<PublishAckFuture>,
}

pub(crate) struct NatsSink {
    client: async_nats::Client,
    js: Option<async_nats::jetstream::Context>,
    feed: Feed,
    /// The IPC stream being published, its next message number and (in
    /// JetStream) its schema's stream sequence; `None` before the first
    /// message and after an end marker.
    stream: Option<(u64, u64, Option<u64>)>,
    in_flight: VecDeque<InFlight>,
}

/// A random id for a new IPC stream (std's per-process random keys, the
/// clock and a counter: distinct across restarts and streams).
fn new_stream_id() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.finish()
}

impl NatsSink {
    /// A publisher on `feed` (JetStream: its stream exists or is created).
    pub(crate) async fn open(client: async_nats::Client, feed: Feed) -> Result<NatsSink> {
        let js = if jetstream(&feed) {
            let js = async_nats::jetstream::new(client.clone());
            feed_stream(&js, &feed, feed.options.create_stream).await?;
            Some(js)
        } else {
            None
        };
        Ok(NatsSink {
            client,
            js,
            feed,
            stream: None,
            in_flight: VecDeque::new(),
        })
    }

    fn publish_error(&self, detail: impl ToString) -> SendError {
        SendError::Failed(self.feed.error(NatsProblem::Publish {
            detail: detail.to_string(),
        }))
    }

    /// Publishes one whole IPC message (or an abort: empty, with `abort`).
    async fn publish(&mut self, message: Bytes, abort: Option<&str>) -> Result<(), SendError> {
        let (sid, seq, base) = *self
            .stream
            .get_or_insert_with(|| (new_stream_id(), 0, None));
        let schema = seq == 0 && abort.is_none();
        if schema && self.js.is_some() {
            // The schema's own acknowledgement gives its stream sequence.
            self.settle_all(RETRY_FOR).await?;
        }
        let subject = if schema {
            self.feed.schema_subject()
        } else {
            self.feed.msg_subject()
        };
        let whole = LsHeaders {
            stream: sid,
            seq,
            base,
            abort: abort.map(str::to_string),
            ..LsHeaders::default()
        };
        let js = self.js.is_some();
        let id = |part: Option<usize>| match part {
            Some(k) => format!("{}.{seq}.{k}", wire::stream_id(sid)),
            None => format!("{}.{seq}", wire::stream_id(sid)),
        };
        let wire_len = |h: &LsHeaders, part: Option<usize>| {
            let pairs = h.pairs();
            let msg_id = id(part);
            let extra = js.then_some((wire::MSG_ID, msg_id.as_str()));
            wire::header_wire_len(pairs.iter().map(|(k, v)| (*k, v.as_str())).chain(extra))
        };
        let len = message.len();
        let with_part = |k: usize, n: usize| LsHeaders {
            part: Some((k as u32, n as u32, len as u64)),
            ..whole.clone()
        };
        let parts = wire::plan_parts(
            len,
            self.client.max_payload(),
            wire_len(&whole, None),
            |n| wire_len(&with_part(n, n), Some(n)),
        )
        .map_err(|e| self.publish_error(e))?;
        let n = parts.len();
        for (i, range) in parts.into_iter().enumerate() {
            let (h, part) = if n == 1 {
                (whole.clone(), None)
            } else {
                (with_part(i + 1, n), Some(i + 1))
            };
            let mut headers = HeaderMap::new();
            for (k, v) in h.pairs() {
                headers.insert(k, v.as_str());
            }
            if js {
                headers.insert(wire::MSG_ID, id(part).as_str());
            }
            self.send_part(subject.clone(), headers, message.slice(range))
                .await?;
        }
        let base = match (schema, self.js.is_some()) {
            (true, true) => self.settle_oldest(RETRY_FOR).await?,
            _ => base,
        };
        self.stream = match abort.is_some() || message[..] == END_MARKER {
            true => None,
            false => Some((sid, seq + 1, base)),
        };
        Ok(())
    }

    /// Hands one NATS message to the client; JetStream: waits for the
    /// oldest acknowledgements once `max_unacked` are in flight.
    async fn send_part(
        &mut self,
        subject: String,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<(), SendError> {
        let Some(js) = &self.js else {
            return self
                .client
                .publish_with_headers(subject, headers, payload)
                .await
                .map_err(|e| self.publish_error(e));
        };
        let ack = js
            .publish_with_headers(subject.clone(), headers.clone(), payload.clone())
            .await
            .map_err(|e| self.publish_error(e))?;
        self.in_flight.push_back(InFlight {
            subject,
            headers,
            payload,
            ack: Some(ack),
        });
        while self.in_flight.len() > self.feed.options.max_unacked.max(1) {
            self.settle_oldest(RETRY_FOR).await?;
        }
        Ok(())
    }

    /// Waits for the oldest acknowledgement (its stream sequence); when it
    /// fails, sends every unacknowledged message again (same ids: a
    /// duplicate is acknowledged with its first sequence) for at most
    /// `retry_for`.
    async fn settle_oldest(&mut self, retry_for: Duration) -> Result<Option<u64>, SendError> {
        let started = Instant::now();
        loop {
            let Some(front) = self.in_flight.front_mut() else {
                return Ok(None);
            };
            let failure = match front.ack.take() {
                Some(ack) => match ack.await {
                    Ok(ack) => {
                        self.in_flight.pop_front();
                        return Ok(Some(ack.sequence));
                    }
                    Err(e) => e.to_string(),
                },
                None => "not sent".to_string(),
            };
            if started.elapsed() > retry_for {
                return Err(self.publish_error(format!(
                    "no acknowledgement for {:?} ({failure})",
                    started.elapsed()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let Some(js) = &self.js else {
                return Ok(None);
            };
            // Lost ones are a suffix (one connection, in order): send them
            // all again; the server drops the duplicates by Nats-Msg-Id.
            for f in self.in_flight.iter_mut() {
                f.ack = js
                    .publish_with_headers(f.subject.clone(), f.headers.clone(), f.payload.clone())
                    .await
                    .ok();
            }
        }
    }

    /// Everything in flight acknowledged (JetStream) or flushed (core).
    async fn settle_all(&mut self, retry_for: Duration) -> Result<(), SendError> {
        if self.js.is_none() {
            return self.client.flush().await.map_err(|e| self.publish_error(e));
        }
        while !self.in_flight.is_empty() {
            self.settle_oldest(retry_for).await?;
        }
        Ok(())
    }
}

/// `f` within `limit` (none: unbounded); past it, [`SendError::Stalled`].
async fn bounded<T>(
    limit: Option<Duration>,
    f: impl Future<Output = Result<T, SendError>>,
) -> Result<T, SendError> {
    crate::writer::bounded(limit, f)
        .await
        .unwrap_or_else(|after| Err(SendError::Stalled(after, 0)))
}

impl MessageSink for NatsSink {
    /// The message assembled once into shared bytes (the copy a WebSocket
    /// makes too), then published.
    fn send<'a>(
        &'a mut self,
        message: &'a EncodedMessage<'_>,
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let mut bytes = Vec::with_capacity(message.len());
            for slice in message.io_slices() {
                bytes.extend_from_slice(&slice);
            }
            bounded(
                limit.map(|l| l.allowed(0)),
                self.publish(bytes.into(), None),
            )
            .await
        })
    }

    /// Each message published as it is (parts slice it): no copy.
    fn send_shared<'a>(
        &'a mut self,
        messages: &'a [Bytes],
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            bounded(limit.map(|l| l.allowed(0)), async {
                for m in messages {
                    self.publish(m.clone(), None).await?;
                }
                Ok(())
            })
            .await
        })
    }

    /// An empty message with `Ls-Abort`: subscribers end the stream without
    /// its end marker (their readers report it cut short).
    fn abort<'a>(&'a mut self, _: &'a str, reason: &'a str) -> SinkFuture<'a, ()> {
        Box::pin(async move {
            let wait = Some(Duration::from_secs(1));
            let _ = bounded(wait, self.publish(Bytes::new(), Some(reason))).await;
            let _ = bounded(wait, self.settle_all(Duration::from_secs(1))).await;
        })
    }

    fn finish<'a>(
        &'a mut self,
        peer: &'a str,
        limit: Option<Duration>,
    ) -> SinkFuture<'a, Result<()>> {
        Box::pin(async move {
            let retry_for = limit.unwrap_or(RETRY_FOR);
            match bounded(limit, self.settle_all(retry_for)).await {
                Ok(()) => Ok(()),
                Err(SendError::Failed(e)) => Err(e),
                Err(SendError::Io(e)) => Err(Error::io(format!("finishing {peer}"), e)),
                Err(SendError::Stalled(after, _)) => Err(Error::Timeout {
                    stalled: format!("{peer} took no data"),
                    after,
                    context: "waiting for the server's acknowledgements".to_string(),
                }),
            }
        })
    }
}
