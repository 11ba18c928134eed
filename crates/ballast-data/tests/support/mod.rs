//! Shared helpers of the integration tests: an independent MAT v5 writer and a loopback
//! HTTP server.
pub mod http_server;
pub mod mat_writer;
