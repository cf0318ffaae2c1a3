//! Local emulators of the Dataverse Web API and the Business Central API v2.0, so syncmap can be
//! tried and tested without a cloud tenant. [`query`] is their OData query layer: it parses the
//! query string of a collection request and evaluates `$filter` over rows the way a real OData
//! v4 service does.

pub mod query;
