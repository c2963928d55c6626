//! Runs the SDK's MyPay-sized SOAP workload inside the sandbox, for the Wasm/native benchmark.

wit_bindgen::generate!({
    inline: r#"
        package cassa:bench;

        world soap-bench {
            /// Runs the workload `iterations` times and returns a checksum.
            export run: func(iterations: u32) -> u64;
        }
    "#,
});

struct Bench;

impl Guest for Bench {
    fn run(iterations: u32) -> u64 {
        let mut sum: u64 = 0;
        for i in 0..iterations {
            sum = sum.wrapping_add(cassa_sdk::soap::workload::mypay_sized_roundtrip(i) as u64);
        }
        sum
    }
}

export!(Bench);
