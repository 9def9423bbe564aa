//! The Flight server half of `grpc://` (engineer B2): a tower router whose
//! unary RPCs go through tonic's server codec and whose data RPCs (DoGet,
//! DoPut) are raw HTTP/2 bodies translated by the core's Flight codec; a
//! `Listener` whose connections are those calls.
