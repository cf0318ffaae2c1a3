//! Import of OData CSDL `$metadata` documents into schema snapshots.
