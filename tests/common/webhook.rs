//! A webhook receiver for the tests that drive the binary: an HTTP/1.1 server on a free
//! loopback port (a thread per connection) that answers every request 204 and keeps what it
//! received, and the check of a Standard Webhooks signature as a receiver makes it.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request the receiver got: its path, `webhook-id`, `webhook-timestamp`,
/// `webhook-signature` and body.
#[derive(Clone, Debug)]
pub struct Got {
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
}

/// A webhook receiver on a free loopback port, answering every request 204: the URL of `path`
/// on it, and what it received (on any path).
pub fn receiver(path: &str) -> (String, Arc<Mutex<Vec<Got>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let keep = Arc::clone(&keep);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                // Several requests may come over one connection.
                loop {
                    let mut headers = BTreeMap::new();
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                        }
                    }
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let h = |k: &str| headers.get(k).cloned().unwrap_or_default();
                    keep.lock().unwrap().push(Got {
                        path,
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        body,
                    });
                    let answer = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
                    if reader.get_mut().write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, got)
}

/// Whether `g` is signed with `secret`, checked as the Standard Webhooks specification says
/// a receiver checks it (not with the notifier's own code).
pub fn signed(secret: &str, g: &Got) -> bool {
    signature_matches(secret, &g.id, &g.timestamp, &g.signature, &g.body)
}

/// The Standard Webhooks check a receiver makes, from the secret shown at the watch's
/// creation: strip `whsec_`, base64-decode the key, HMAC-SHA256 over
/// `{webhook-id}.{webhook-timestamp}.{body}`, base64, and compare with each space-separated
/// `v1,` signature of the `webhook-signature` header.
pub fn signature_matches(
    secret: &str,
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
) -> bool {
    use base64::Engine as _;
    use hmac::Mac as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|k| b64.decode(k).ok())
    else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    signature.split(' ').any(|s| s == expected)
}
