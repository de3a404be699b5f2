//! A local AWS-compatible server (`moto_server` from the project venv) on a loopback port.
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::net::{free_port, wait_for_port};
use crate::python::venv_bin;

/// A running moto server; killed (by pid) on drop.
pub struct MotoServer {
    child: Option<Child>,
    /// Loopback port.
    pub port: u16,
}

impl MotoServer {
    /// Start `moto_server -H 127.0.0.1 -p PORT`.
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new(venv_bin("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto_server (run `make venv`)");
        let me = MotoServer {
            child: Some(child),
            port,
        };
        assert!(
            wait_for_port(port, Duration::from_secs(30)),
            "moto_server did not start on {port}"
        );
        me
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for AWS clients (dummy credentials, region, endpoint).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
        ]
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
