//! AFL++ target: bytes as one event through `lifecycle::domain::decode`, its verdict compared
//! with std's UTF-8 check and serde_json's ([`lifecycle_fuzz::checks::check_decode`]).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        lifecycle_fuzz::checks::check_decode(data);
    });
}
