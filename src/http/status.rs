//! `StatusCode`: the codes this server sends, each with its reason phrase (RFC 9110; 104 from
//! the resumable-upload draft, 207/423/424/507 from RFC 4918) in the one table below, and the
//! two framing facts a code decides (may it carry a length, a body).

/// An HTTP status code with its RFC 9110 reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode(u16);

macro_rules! status_codes {
    ($($name:ident = $code:literal $reason:literal;)*) => {
        impl StatusCode {
            $(pub const $name: StatusCode = StatusCode($code);)*

            /// The reason phrase from RFC 9110 §15.
            pub fn reason(self) -> &'static str {
                match self.0 {
                    $($code => $reason,)*
                    _ => "Unknown",
                }
            }
        }
    };
}

status_codes! {
    CONTINUE = 100 "Continue";
    UPLOAD_RESUMPTION_SUPPORTED = 104 "Upload Resumption Supported";
    OK = 200 "OK";
    CREATED = 201 "Created";
    NO_CONTENT = 204 "No Content";
    PARTIAL_CONTENT = 206 "Partial Content";
    MULTI_STATUS = 207 "Multi-Status";
    NOT_MODIFIED = 304 "Not Modified";
    BAD_REQUEST = 400 "Bad Request";
    UNAUTHORIZED = 401 "Unauthorized";
    FORBIDDEN = 403 "Forbidden";
    NOT_FOUND = 404 "Not Found";
    METHOD_NOT_ALLOWED = 405 "Method Not Allowed";
    REQUEST_TIMEOUT = 408 "Request Timeout";
    CONFLICT = 409 "Conflict";
    GONE = 410 "Gone";
    LENGTH_REQUIRED = 411 "Length Required";
    PRECONDITION_FAILED = 412 "Precondition Failed";
    CONTENT_TOO_LARGE = 413 "Content Too Large";
    URI_TOO_LONG = 414 "URI Too Long";
    UNSUPPORTED_MEDIA_TYPE = 415 "Unsupported Media Type";
    RANGE_NOT_SATISFIABLE = 416 "Range Not Satisfiable";
    EXPECTATION_FAILED = 417 "Expectation Failed";
    MISDIRECTED_REQUEST = 421 "Misdirected Request";
    LOCKED = 423 "Locked";
    FAILED_DEPENDENCY = 424 "Failed Dependency";
    TOO_MANY_REQUESTS = 429 "Too Many Requests";
    REQUEST_HEADER_FIELDS_TOO_LARGE = 431 "Request Header Fields Too Large";
    INTERNAL_SERVER_ERROR = 500 "Internal Server Error";
    NOT_IMPLEMENTED = 501 "Not Implemented";
    BAD_GATEWAY = 502 "Bad Gateway";
    SERVICE_UNAVAILABLE = 503 "Service Unavailable";
    HTTP_VERSION_NOT_SUPPORTED = 505 "HTTP Version Not Supported";
    INSUFFICIENT_STORAGE = 507 "Insufficient Storage";
}

impl StatusCode {
    /// The three-digit code.
    pub fn code(self) -> u16 {
        self.0
    }

    /// RFC 9110 §8.6: no `Content-Length` and no content on 1xx and 204.
    pub(super) fn forbids_length(self) -> bool {
        self.0 < 200 || self.0 == 204
    }

    /// RFC 9110 §6.4.1: 1xx, 204 and 304 never carry content.
    pub(super) fn forbids_body(self) -> bool {
        self.forbids_length() || self.0 == 304
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons() {
        assert_eq!(StatusCode::CONTENT_TOO_LARGE.reason(), "Content Too Large");
        assert_eq!(
            StatusCode::HTTP_VERSION_NOT_SUPPORTED.reason(),
            "HTTP Version Not Supported"
        );
        assert_eq!(StatusCode::NOT_FOUND.code(), 404);
        assert!(StatusCode::NO_CONTENT.forbids_length() && StatusCode::CONTINUE.forbids_body());
        assert!(
            StatusCode::NOT_MODIFIED.forbids_body() && !StatusCode::NOT_MODIFIED.forbids_length()
        );
        assert!(!StatusCode::OK.forbids_body());
    }
}
