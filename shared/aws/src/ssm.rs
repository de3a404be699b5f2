//! SSM Parameter Store: reading one parameter (the pipeline configuration can live there).

use aws_config::SdkConfig;
use aws_sdk_ssm::Client;

use crate::sdk_error::classify;

/// Reading a parameter failed.
#[derive(Debug, thiserror::Error)]
#[error("SSM parameter {name}: {message}")]
pub struct SsmError {
    /// The parameter name.
    pub name: String,
    /// What went wrong (with the SDK's error chain).
    pub message: String,
    /// Whether a retry may succeed (throttling, 5xx, network).
    pub transient: bool,
    /// The parameter does not exist.
    pub not_found: bool,
}

/// An SSM client for `config` (honours `AWS_ENDPOINT_URL` through the shared configuration).
pub fn ssm_client(config: &SdkConfig) -> Client {
    Client::new(config)
}

/// The value of parameter `name` (a `SecureString` is decrypted).
pub async fn get_parameter(client: &Client, name: &str) -> Result<String, SsmError> {
    let out = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            let f = classify(&e);
            SsmError {
                name: name.to_string(),
                not_found: f.code.as_deref() == Some("ParameterNotFound"),
                transient: f.transient,
                message: f.message,
            }
        })?;
    out.parameter.and_then(|p| p.value).ok_or_else(|| SsmError {
        name: name.to_string(),
        message: "the response holds no value".into(),
        transient: false,
        not_found: false,
    })
}
