//! An Arrow Flight service on arrow-rs's `arrow-flight` (tonic's generated
//! `FlightServiceServer`, `FlightDataEncoderBuilder` to send,
//! `FlightRecordBatchStream` to receive): a Flight peer nobody here wrote.
//!
//! Included with `#[path]` by tests/tests/arrow_rs_interop.rs (the interop
//! tests) and benches/benches/flight.rs (the throughput bench), so that
//! neither crate's library depends on arrow-flight. What it is not: a
//! complete Flight server (only DoGet and DoPut; the rest is UNIMPLEMENTED).

use std::future::Future;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::{DictionaryHandling, FlightDataEncoderBuilder};
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use tonic::{Request, Response, Status, Streaming};

/// The flights it serves (ticket → batches) and the uploads it received.
#[derive(Clone)]
pub struct ArrowFlightPeer {
    flights: Arc<Vec<(String, Vec<RecordBatch>)>>,
    resend_dictionaries: bool,
    /// Every DoPut's batches, in arrival order.
    pub puts: Arc<Mutex<Vec<Vec<RecordBatch>>>>,
}

impl ArrowFlightPeer {
    /// Serves `flights`; `resend_dictionaries`: dictionary batches as they
    /// are (arrow-flight's `Resend`) rather than hydrated into plain values
    /// (its default).
    pub fn new(flights: Vec<(String, Vec<RecordBatch>)>, resend_dictionaries: bool) -> Self {
        ArrowFlightPeer {
            flights: Arc::new(flights),
            resend_dictionaries,
            puts: Arc::default(),
        }
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tonic::transport::Server::builder()
            .add_service(
                FlightServiceServer::new(self)
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX),
            )
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .expect("arrow-flight server");
    }
}

type Calls<T> = BoxStream<'static, Result<T, Status>>;

#[tonic::async_trait]
impl FlightService for ArrowFlightPeer {
    type HandshakeStream = Calls<HandshakeResponse>;
    type ListFlightsStream = Calls<FlightInfo>;
    type DoGetStream = Calls<FlightData>;
    type DoPutStream = Calls<PutResult>;
    type DoActionStream = Calls<arrow_flight::Result>;
    type ListActionsStream = Calls<ActionType>;
    type DoExchangeStream = Calls<FlightData>;

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        let name = String::from_utf8_lossy(&request.get_ref().ticket).to_string();
        let Some((_, batches)) = self.flights.iter().find(|(n, _)| *n == name) else {
            return Err(Status::not_found(format!("no such ticket: {name}")));
        };
        let dictionaries = if self.resend_dictionaries {
            DictionaryHandling::Resend
        } else {
            DictionaryHandling::Hydrate
        };
        let mut builder = FlightDataEncoderBuilder::new().with_dictionary_handling(dictionaries);
        if let Some(first) = batches.first() {
            builder = builder.with_schema(first.schema());
        }
        let input = futures_util::stream::iter(batches.clone().into_iter().map(Ok));
        let stream = builder
            .build(input)
            .map_err(|e| Status::internal(e.to_string()));
        Ok(Response::new(stream.boxed()))
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let input = request.into_inner().map_err(FlightError::from);
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(input)
            .try_collect()
            .await
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        self.puts.lock().expect("puts").push(batches);
        Ok(Response::new(futures_util::stream::empty().boxed()))
    }

    async fn handshake(
        &self,
        _: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        Err(Status::unimplemented("handshake"))
    }
    async fn list_flights(
        &self,
        _: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        Err(Status::unimplemented("list_flights"))
    }
    async fn get_flight_info(
        &self,
        _: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(Status::unimplemented("get_flight_info"))
    }
    async fn poll_flight_info(
        &self,
        _: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented("poll_flight_info"))
    }
    async fn get_schema(
        &self,
        _: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        Err(Status::unimplemented("get_schema"))
    }
    async fn do_action(
        &self,
        _: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        Err(Status::unimplemented("do_action"))
    }
    async fn list_actions(
        &self,
        _: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        Err(Status::unimplemented("list_actions"))
    }
    async fn do_exchange(
        &self,
        _: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        Err(Status::unimplemented("do_exchange"))
    }
}
