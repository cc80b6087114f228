//! The one place where what the layers below refuse becomes a response: `FileError`s from
//! `files` and access `Refusal`s from `security`. Neither layer knows a status code; each
//! variant's status, one-line reason and the header its status calls for are decided here.
//!
//! A reason may end in advice (`see --allowed-host`): that text comes from `Policy::hints`,
//! which the binary fills in, since only the binary names flags.

use std::borrow::Cow;
use std::io;

use crate::config::Hints;
use crate::files::FileError;
use crate::files::at::FsError;
use crate::http::body::BodyError;
use crate::http::response::{Response, StatusCode};
use crate::http::transfer::is_timeout;
use crate::security::access::Refusal;

/// The answer to a failed file operation. A failure to read the request body is the client's:
/// its framing status, 408 on a stall; only server-side I/O is a 500 (logged with its cause).
pub fn file_error(e: FileError) -> Response {
    if let FileError::Io(io_error) = &e {
        if let Some(body_error) = BodyError::from_io(io_error) {
            return Response::error(body_error.status(), body_error);
        }
        if is_timeout(io_error) {
            return Response::error(StatusCode::REQUEST_TIMEOUT, "timed out reading the body");
        }
        match io_error.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => {
                return Response::error(StatusCode::BAD_REQUEST, "incomplete request body");
            }
            _ => log::error!("file operation failed: {io_error}"),
        }
    }
    let response = Response::error(file_status(&e), &e);
    match e {
        // out of descriptors is momentary (issue #15): a client may retry shortly
        FileError::NoDescriptors => {
            log::warn!("file operation failed: {e}");
            response.header("Retry-After", "1")
        }
        FileError::NoSpace => {
            log::warn!("upload refused: {e}");
            response
        }
        _ => response,
    }
}

/// The answer to a failed upload: as `file_error`, except that a missing served directory is
/// the server's fault (503), where a read of it is simply not found (404).
pub fn write_error(e: FileError) -> Response {
    match e {
        FileError::NoRoot => {
            log::warn!("upload refused: {e}");
            Response::error(StatusCode::SERVICE_UNAVAILABLE, e)
        }
        e => file_error(e),
    }
}

/// The status of a failed file operation whose cause is not the request body.
pub fn file_status(e: &FileError) -> StatusCode {
    match e {
        FileError::BadName | FileError::DigestMismatch => StatusCode::BAD_REQUEST,
        FileError::NotFound | FileError::NoRoot => StatusCode::NOT_FOUND,
        FileError::Outside | FileError::PermissionDenied | FileError::Reserved => {
            StatusCode::FORBIDDEN
        }
        FileError::NoParent | FileError::IsDirectory => StatusCode::CONFLICT,
        FileError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        // RFC 4918 §11.5; WebDAV clients tell the user the disk is full
        FileError::NoSpace => StatusCode::INSUFFICIENT_STORAGE,
        FileError::NoDescriptors => StatusCode::SERVICE_UNAVAILABLE,
        FileError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The status of a failed descriptor-relative operation (`files::at`): RFC 4918 §11.5 for a
/// full disk, 503 while out of descriptors (issue #15), 500 only for the unexpected.
pub fn fs_status(e: &FsError) -> StatusCode {
    match e {
        FsError::InvalidName | FsError::NameTooLong => StatusCode::BAD_REQUEST,
        FsError::Outside | FsError::TooManyLinks | FsError::PermissionDenied => {
            StatusCode::FORBIDDEN
        }
        FsError::ReadOnly | FsError::Unsupported | FsError::TooDeep => StatusCode::FORBIDDEN,
        FsError::NotFound => StatusCode::NOT_FOUND,
        FsError::NotADirectory | FsError::IsADirectory | FsError::NotEmpty => StatusCode::CONFLICT,
        FsError::AlreadyExists => StatusCode::PRECONDITION_FAILED,
        FsError::CrossDevice => StatusCode::BAD_GATEWAY,
        FsError::NoSpace | FsError::TooLarge => StatusCode::INSUFFICIENT_STORAGE,
        FsError::NoDescriptors => StatusCode::SERVICE_UNAVAILABLE,
        FsError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The answer to a failed `files::at` operation; a 500 is logged with its cause.
pub fn fs_error(e: FsError) -> Response {
    let status = fs_status(&e);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        log::error!("file operation failed: {e}");
    }
    let response = Response::error(status, &e);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        return response.header("Retry-After", "1");
    }
    response
}

/// The answer to a refused request: status, a one-line reason (with the binary's advice where
/// `hints` has some), and the header the status calls for.
pub fn refusal(refusal: &Refusal, hints: &Hints) -> Response {
    let response = Response::error(refusal_status(refusal), refusal_reason(refusal, hints));
    match refusal {
        Refusal::ReadOnly => response.header("Allow", "GET, HEAD"),
        // RFC 7617 §2.1: the charset parameter says user names and passwords are UTF-8
        Refusal::Unauthenticated { realm } => response.header(
            "WWW-Authenticate",
            format!("Basic realm=\"{}\", charset=\"UTF-8\"", quote(realm)),
        ),
        Refusal::Throttled(wait) => {
            response.header("Retry-After", Cow::Owned(wait.as_secs().max(1).to_string()))
        }
        Refusal::Overloaded => response.header("Retry-After", "1"),
        _ => response,
    }
}

/// The status of each refusal.
pub fn refusal_status(refusal: &Refusal) -> StatusCode {
    match refusal {
        Refusal::MisdirectedHost => StatusCode::MISDIRECTED_REQUEST,
        Refusal::ReadOnly => StatusCode::METHOD_NOT_ALLOWED,
        Refusal::CrossSite | Refusal::AnonymousWrite => StatusCode::FORBIDDEN,
        Refusal::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
        Refusal::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        Refusal::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn refusal_reason(refusal: &Refusal, hints: &Hints) -> Cow<'static, str> {
    let (reason, hint) = match refusal {
        Refusal::MisdirectedHost => (
            "this server does not answer to that host name",
            hints.unknown_host.as_str(),
        ),
        Refusal::ReadOnly => ("the server is read-only", ""),
        Refusal::CrossSite => ("cross-site write refused", ""),
        Refusal::AnonymousWrite => (
            "anonymous writes are off on a non-loopback address",
            hints.anonymous_write.as_str(),
        ),
        Refusal::Unauthenticated { .. } => ("authentication required", ""),
        Refusal::Throttled(_) => ("too many failed logins from this address", ""),
        Refusal::Overloaded => ("too many logins being checked; try again shortly", ""),
    };
    advised(reason, hint)
}

/// The 404 to `/files/` when the server has no directory to serve.
pub fn no_directory(hints: &Hints) -> Response {
    let reason = advised("no directory is being served", &hints.no_directory);
    Response::error(StatusCode::NOT_FOUND, reason)
}

/// `reason`, followed by `; hint` when there is one.
fn advised(reason: &'static str, hint: &str) -> Cow<'static, str> {
    match hint {
        "" => Cow::Borrowed(reason),
        hint => Cow::Owned(format!("{reason}; {hint}")),
    }
}

/// Escapes `"` and `\` for a quoted-string (RFC 9110 §5.6.4).
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn refusal_headers() {
        let hints = Hints::default();
        let r = refusal(
            &Refusal::Unauthenticated {
                realm: "a \"b\"".into(),
            },
            &hints,
        );
        assert_eq!(
            r.header_value("www-authenticate"),
            Some("Basic realm=\"a \\\"b\\\"\", charset=\"UTF-8\"")
        );
        let r = refusal(&Refusal::Throttled(Duration::from_millis(1500)), &hints);
        assert_eq!(r.header_value("retry-after"), Some("1"));
        let r = refusal(&Refusal::Overloaded, &hints);
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.header_value("retry-after"), Some("1"));
        assert_eq!(
            refusal(&Refusal::ReadOnly, &hints).header_value("allow"),
            Some("GET, HEAD")
        );
    }

    fn text(response: Response) -> String {
        match response.body {
            crate::http::response::Body::Bytes(bytes) => String::from_utf8(bytes).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn advice_is_the_binarys() {
        let reason = |r: &Refusal, hints: &Hints| text(refusal(r, hints));
        let none = Hints::default();
        assert_eq!(
            reason(&Refusal::MisdirectedHost, &none),
            "this server does not answer to that host name\n"
        );
        let hints = Hints {
            unknown_host: "add the name".into(),
            anonymous_write: "add accounts".into(),
            no_directory: "serve one".into(),
        };
        assert_eq!(
            reason(&Refusal::MisdirectedHost, &hints),
            "this server does not answer to that host name; add the name\n"
        );
        assert_eq!(
            reason(&Refusal::AnonymousWrite, &hints),
            "anonymous writes are off on a non-loopback address; add accounts\n"
        );
        assert_eq!(
            reason(&Refusal::CrossSite, &hints),
            "cross-site write refused\n"
        );
        assert_eq!(
            text(no_directory(&hints)),
            "no directory is being served; serve one\n"
        );
        assert_eq!(text(no_directory(&none)), "no directory is being served\n");
    }

    #[test]
    fn file_errors() {
        let cases: Vec<(FileError, u16)> = vec![
            (FileError::BadName, 400),
            (FileError::Reserved, 403),
            (FileError::Outside, 403),
            (FileError::NotFound, 404),
            (FileError::IsDirectory, 409),
            (FileError::PreconditionFailed, 412),
            (FileError::Io(BodyError::TooLarge.into_io()), 413),
            (FileError::Io(io::ErrorKind::WouldBlock.into()), 408),
            (FileError::Io(io::ErrorKind::UnexpectedEof.into()), 400),
            (FileError::Io(io::Error::other("disk on fire")), 500),
            (FileError::NoSpace, 507),
            (
                FileError::from(io::Error::from_raw_os_error(libc::ENOSPC)),
                507,
            ),
            (
                FileError::from(io::Error::from_raw_os_error(libc::EDQUOT)),
                507,
            ),
            (FileError::NoDescriptors, 503),
            (
                FileError::from(io::Error::from_raw_os_error(libc::EMFILE)),
                503,
            ),
            (FileError::NoRoot, 404),
        ];
        for (error, want) in cases {
            let what = error.to_string();
            assert_eq!(file_error(error).status.code(), want, "{what}");
        }
        let busy = file_error(FileError::NoDescriptors);
        assert_eq!(busy.header_value("retry-after"), Some("1"));
        assert_eq!(
            busy.header_value("content-type"),
            Some("text/plain"),
            "{busy:?}"
        );
        assert_eq!(write_error(FileError::NoRoot).status.code(), 503);
        assert_eq!(write_error(FileError::NotFound).status.code(), 404);
    }
}
