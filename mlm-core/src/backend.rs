//! Helpers for backend implementors: what `mlm-local` and `mlm-aws` share so every backend
//! pages, buckets and validates the same way. Callers of the traits do not need them.
//!
//! - Page tokens: [`encode_cursor`] / [`decode_cursor`] (opaque lowercase hex; a forged token
//!   is `InvalidArgument`), [`paginate_sorted`] for backends that list from memory.
//! - Metrics: [`bucket_samples`] turns raw samples into a series' points for a query.
//! - Validation the request types already run, for backends that build values themselves:
//!   [`validate_name`], [`validate_tags`], [`validate_variants`].
//! - Errors: [`endpoint_not_found`].

pub use crate::endpoint::validate_variants;
pub use crate::ext::endpoint_not_found;
pub use crate::model::validate_tags;
pub use crate::names::validate_name;
pub use crate::observability::bucket_samples;
pub use crate::page::{decode_cursor, encode_cursor, paginate_sorted};
