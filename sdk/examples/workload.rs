//! Runs the SDK's MyPay-sized SOAP workload natively, for profiling (`valgrind --tool=callgrind`).

fn main() {
    let iterations: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(2000);
    let mut sum: u64 = 0;
    for i in 0..iterations {
        sum = sum.wrapping_add(cassa_sdk::soap::workload::mypay_sized_roundtrip(i) as u64);
    }
    println!("{sum}");
}
