//! AFL++ target: bytes as a changelog record (key, value, epoch header) through
//! `lifecycle::kafka::codec::decode_changelog`, every decoded state re-encoded and decoded
//! again ([`lifecycle_fuzz::checks::check_changelog`]).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        lifecycle_fuzz::checks::check_changelog(data);
    });
}
