//! Classification of AWS SDK errors: which failures a retry may cure.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// What we need to know about one failed SDK call.
#[derive(Debug, Clone)]
pub(crate) struct SdkFailure {
    /// The service error code (`NoSuchKey`, `ConditionalCheckFailedException`, ...), if any.
    pub code: Option<String>,
    /// The HTTP status of the response, if one arrived.
    pub status: Option<u16>,
    /// Whether a retry of the same call may succeed.
    pub transient: bool,
    /// A one-line description with the full error chain.
    pub message: String,
}

/// Error codes that AWS services use for throttling and temporary unavailability.
const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "TransactionInProgressException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "LimitExceededException",
    "PriorRequestNotComplete",
];

/// Classify an SDK error: construction failures are permanent; timeouts, dispatch (network)
/// failures and unparseable responses are transient; service errors are transient when they
/// are throttling, 429 or 5xx.
pub(crate) fn classify<E>(err: &SdkError<E, HttpResponse>) -> SdkFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    let status = err.raw_response().map(|r| r.status().as_u16());
    let transient = match err {
        SdkError::ConstructionFailure(_) => false,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ResponseError(_) => true,
        SdkError::ServiceError(_) => {
            code.as_deref()
                .is_some_and(|c| TRANSIENT_CODES.contains(&c))
                || status.is_some_and(|s| s == 429 || s >= 500)
        }
        _ => false,
    };
    let mut message = DisplayErrorContext(err).to_string();
    if let Some(s) = status {
        message = format!("{message} (HTTP {s})");
    }
    SdkFailure {
        code,
        status,
        transient,
        message,
    }
}
