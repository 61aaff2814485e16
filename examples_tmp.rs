fn main() {
    let data = std::fs::read("/tmp/popdir/dump.rdb").unwrap();
    let engine = rdbkit::scan::EngineOptions { threads: 2, start: Some((125, 0)), ..Default::default() };
    let mut out = Vec::new();
    rdbkit::sink::json::write_parallel(&data, &rdbkit::sink::json::JsonOptions::default(), &engine, &mut out, None).unwrap();
    println!("lines {}", out.iter().filter(|&&b| b == b'\n').count());
}
