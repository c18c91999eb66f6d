//! Who may connect: the TLS acceptor, SCRAM-SHA-256 for user `unify`, refusing plain
//! connections from other machines when TLS is required, login errors worded as
//! Postgres words them, and cancel requests matched by (pid, secret key).

use super::{Registry, USER};
use crate::pg::PgError;
use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::{ClientInfo, ErrorHandler};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use std::fmt::Debug;
use std::sync::{Arc, Weak};

/// The TLS acceptor of a PEM certificate chain and key.
pub(super) fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<pgwire::tokio::TlsAcceptor, PgError> {
    use pgwire::tokio::tokio_rustls::rustls;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |message: String| PgError::Tls {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        message,
    };
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no certificate found in the PEM file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| fail(e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| fail(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| fail(e.to_string()))?;
    Ok(pgwire::tokio::TlsAcceptor::from(Arc::new(config)))
}

/// The password of user `unify`, salted once per daemon run.
#[derive(Debug)]
pub(super) struct Passwords {
    pub(super) salt: Vec<u8>,
    pub(super) salted: Vec<u8>,
}

#[async_trait]
impl AuthSource for Passwords {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        if login.user() != Some(USER) {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28P01".into(),
                format!(
                    "password authentication failed for user \"{}\" (the only user is \"{USER}\")",
                    login.user().unwrap_or_default()
                ),
            ))));
        }
        Ok(Password::new(Some(self.salt.clone()), self.salted.clone()))
    }
}

/// Errors as Postgres words them: a failed login names the user it was for.
pub(super) struct Errors;

impl ErrorHandler for Errors {
    fn on_error<C>(&self, client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if let PgWireError::InvalidPassword(_) = error {
            let user = client
                .metadata()
                .get(pgwire::api::METADATA_USER)
                .cloned()
                .unwrap_or_default();
            *error = PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28P01".into(),
                format!("password authentication failed for user \"{user}\""),
            )));
        }
    }
}

/// Startup: SCRAM via pgwire, after refusing plain connections from other machines
/// when TLS is required.
pub struct Startup {
    pub(super) inner: SASLAuthStartupHandler<DefaultServerParameterProvider>,
    pub(super) require_tls: bool,
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.require_tls
            && matches!(message, PgWireFrontendMessage::Startup(_))
            && !client.is_secure()
            && !client.socket_addr().ip().is_loopback()
        {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28000".into(),
                "this server requires TLS for connections from other machines (sslmode=require)"
                    .into(),
            ))));
        }
        self.inner.on_startup(client, message).await
    }
}

/// Cancel requests: find the connection by (pid, secret key) and cancel its statement.
pub(super) struct Canceller(pub(super) Arc<Registry>);

#[async_trait]
impl CancelHandler for Canceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes());
        let conn = self.0.lock().get(&key).and_then(Weak::upgrade);
        if let Some(conn) = conn {
            conn.cancel();
        }
    }
}
