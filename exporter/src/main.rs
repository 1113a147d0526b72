fn main() {
    println!("exporter: not yet implemented");
}
