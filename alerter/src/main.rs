fn main() {
    println!("alerter: not yet implemented");
}
