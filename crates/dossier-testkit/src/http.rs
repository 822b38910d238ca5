//! A minimal HTTP/1.0 GET and POST over a std `TcpStream`, enough for the monitoring endpoints
//! and a witness's `add-checkpoint`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::{Error, Result};

/// `GET http://127.0.0.1:<port><path>`; returns the status code and the body.
pub fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    http_request(port, "GET", path, None)
}

/// `POST http://127.0.0.1:<port><path>` with `body`; returns the status code and the body.
pub fn http_post(port: u16, path: &str, body: &[u8]) -> Result<(u16, String)> {
    http_request(port, "POST", path, Some(body))
}

fn http_request(port: u16, method: &str, path: &str, body: Option<&[u8]>) -> Result<(u16, String)> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let fail = |reason: String| Error::Http {
        url: url.clone(),
        reason,
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map_err(|e| fail(e.to_string()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| fail(e.to_string()))?;
    let mut request =
        format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n")
            .into_bytes();
    if let Some(body) = body {
        request.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body);
    } else {
        request.extend_from_slice(b"\r\n");
    }
    stream
        .write_all(&request)
        .map_err(|e| fail(e.to_string()))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| fail(e.to_string()))?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail(format!("malformed response: {response:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| fail(format!("no status in {head:?}")))?;
    Ok((status, body.to_owned()))
}
