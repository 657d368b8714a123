//! Fuzz target: the `GenesysAdherence` parser must never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut options = kudos_wfm::ParseOptions::default().with_format(kudos_wfm::Format::GenesysAdherence);
    if let Some(mapping) = kudos_wfm::Mapping::preset("genesys-agent-performance") {
        options = options.with_mapping(mapping);
    }
    if let Ok(records) = kudos_wfm::Records::from_reader("fuzz", std::io::Cursor::new(data.to_vec()), &options) {
        for item in records {
            let _ = item;
        }
    }
});
