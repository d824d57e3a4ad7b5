fn main() {
    let t = std::time::Instant::now();
    score_sde::book::figures::guidance::write(std::path::Path::new("/tmp/cfg-assets/guidance")).unwrap();
    eprintln!("guidance assets in {:?}", t.elapsed());
}
