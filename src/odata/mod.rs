//! The OData v4 wire formats, in one place for both ends of the wire.
//!
//! The HTTP connectors (Dataverse and Business Central clients) and the sandbox emulators
//! (their servers) must agree byte for byte on how a `$batch` body is framed, how a value is
//! spelled in a URL and in JSON, and what an error body looks like. Keeping both sides on the
//! same code means a sandbox test exercises the exact bytes a connector sends to a real tenant,
//! and a fix to the framing reaches both at once.
//!
//! - [`batch`]: the multipart/mixed `$batch` format (Dataverse).
//! - [`json_batch`]: the JSON `$batch` format (Business Central).
//! - [`literal`]: values as URL literals, key segments and encoded query options.
//! - [`json`]: runtime values to and from OData JSON, typed by plan column type.
//! - [`error`]: OData error bodies.
//!
//! Nothing here does I/O: everything is bytes and values in, bytes and values out.

pub mod batch;
pub mod error;
pub mod json;
pub mod json_batch;
pub mod literal;
