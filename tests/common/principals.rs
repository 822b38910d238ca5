//! The command lines that grant access and add watches, shared by the end-to-end tests and the
//! campaigns (each runs them through its own harness). Each test target uses a part.
#![allow(dead_code)]

/// `access grant NAME --role ROLE --clearance CLEARANCE --json`: its answer carries the grant's
/// id in `grant` and the token, printed once, in `token`.
pub fn grant<'a>(name: &'a str, role: &'a str, clearance: &'a str) -> [&'a str; 8] {
    [
        "access",
        "grant",
        name,
        "--role",
        role,
        "--clearance",
        clearance,
        "--json",
    ]
}

/// `watch add --grant GRANT --url URL --json`: a watch on every question for the grant's
/// principal; its answer carries the watch in `watch` and the signing secret, once, in `secret`.
pub fn watch<'a>(grant: &'a str, url: &'a str) -> [&'a str; 7] {
    ["watch", "add", "--grant", grant, "--url", url, "--json"]
}
